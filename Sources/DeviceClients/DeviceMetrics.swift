import CoreMetrics

/// Device requests as metrics: `ucp_device_calls_total{protocol,operation,outcome}` and
/// `ucp_device_call_duration_seconds{protocol,operation}`. The operation is the AXL operation or
/// the CUPI resource of the catalog (a bounded set, never an object's id); the outcome is `ok`,
/// `throttled` (HTTP 503 or AXL's overload fault: each such try counts, retried or not), `canceled`
/// or `error`.
enum DeviceMetrics {
    enum Outcome: String {
        case ok, throttled, canceled, error
    }

    static func call(_ protocolName: String, _ operation: String, _ outcome: Outcome, since started: ContinuousClock.Instant) {
        Counter(label: "ucp_device_calls_total",
                dimensions: [("protocol", protocolName), ("operation", operation), ("outcome", outcome.rawValue)]).increment()
        let elapsed = started.duration(to: .now).components
        Timer(label: "ucp_device_call_duration_seconds", dimensions: [("protocol", protocolName), ("operation", operation)])
            .recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }

    static func outcome(of error: any Error) -> Outcome {
        if let error = error as? DeviceClientError {
            if error.kind == .canceled { return .canceled }
            if error.httpStatus == 503 { return .throttled }
        }
        return .error
    }
}
