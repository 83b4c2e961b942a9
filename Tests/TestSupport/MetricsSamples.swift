import Telemetry

/// The value of the sample `name{labels}` in a Prometheus text exposition (labels in any order, none
/// for an unlabeled metric); nil when there is no such sample.
public func prometheusSample(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        // The value is the last field: a label's value may hold spaces (`operation="DELETE /vmrest/users/{id}"`).
        guard let space = line.lastIndex(of: " ") else { continue }
        let head = line[..<space], value = line[line.index(after: space)...]
        var found: [String: String] = [:]
        if let open = head.firstIndex(of: "{"), let close = head.lastIndex(of: "}") {
            guard head[..<open] == name else { continue }
            for pair in head[head.index(after: open)..<close].split(separator: ",") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                guard keyValue.count == 2 else { continue }
                found[String(keyValue[0])] = String(keyValue[1].dropFirst().dropLast())
            }
        } else if head != name {
            continue
        }
        if found == labels { return Double(value) }
    }
    return nil
}

/// What this test process recorded so far for `name{labels}` (swift-metrics bootstrapped to the
/// Prometheus registry, as `ucp` does; once per process, so tests compare before and after), 0 when
/// nothing was.
public func recordedSample(_ name: String, _ labels: [String: String] = [:]) -> Double {
    Telemetry.bootstrapMetrics()
    return prometheusSample(Telemetry.exposition(), name, labels) ?? 0
}
