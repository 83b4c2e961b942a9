import Telemetry

/// The value of the sample `name{labels}` in a Prometheus text exposition (labels in any order, none
/// for an unlabeled metric); nil when there is no such sample.
public func prometheusSample(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
    for line in exposition.split(separator: "\n") {
        guard let sample = ExpositionSample(line), sample.name == name, sample.labels == labels else { continue }
        return sample.value
    }
    return nil
}

/// One sample line of the text exposition format: `name{label="value",…} value [timestamp]`. A label
/// value is in double quotes with `\\`, `\"` and `\n` escaped, and may hold anything else — commas,
/// `=`, `}`, spaces (`operation="DELETE /vmrest/users/{id}"`) — so the label set is read a character
/// at a time, not split.
struct ExpositionSample {
    var name: String
    var labels: [String: String] = [:]
    var value: Double

    /// Nil for a comment, a blank line or a line that is not a sample.
    init?(_ line: Substring) {
        func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }
        var rest = line.drop(while: isBlank)
        let name = rest.prefix { $0 != "{" && !isBlank($0) }
        guard !name.isEmpty, !name.hasPrefix("#") else { return nil }
        self.name = String(name)
        rest = rest[name.endIndex...].drop(while: isBlank)
        if rest.first == "{" {
            rest.removeFirst()
            while true {
                rest = rest.drop(while: isBlank)
                if rest.first == "}" { rest.removeFirst(); break }  // also after a trailing comma
                let key = rest.prefix { $0 != "=" && !isBlank($0) }
                rest = rest[key.endIndex...].drop(while: isBlank)
                guard !key.isEmpty, rest.popFirst() == "=" else { return nil }
                rest = rest.drop(while: isBlank)
                guard rest.popFirst() == "\"" else { return nil }
                var value = ""
                while true {
                    guard let character = rest.popFirst() else { return nil }
                    if character == "\"" { break }
                    if character == "\\" {
                        guard let escaped = rest.popFirst() else { return nil }
                        value.append(escaped == "n" ? "\n" : escaped)  // `\\` and `\"` stand for themselves
                    } else {
                        value.append(character)
                    }
                }
                guard labels.updateValue(value, forKey: String(key)) == nil else { return nil }
                rest = rest.drop(while: isBlank)
                if rest.first == "," { rest.removeFirst() } else if rest.first != "}" { return nil }
            }
        }
        // The value, then an optional timestamp.
        let fields = rest.split(whereSeparator: isBlank)
        guard (1...2).contains(fields.count), let value = Double(fields[0]) else { return nil }
        self.value = value
    }
}

/// What this test process recorded so far for `name{labels}` (swift-metrics bootstrapped to the
/// Prometheus registry, as `ucp` does; once per process, so tests compare before and after), 0 when
/// nothing was.
public func recordedSample(_ name: String, _ labels: [String: String] = [:]) -> Double {
    Telemetry.bootstrapMetrics()
    return prometheusSample(Telemetry.exposition(), name, labels) ?? 0
}
