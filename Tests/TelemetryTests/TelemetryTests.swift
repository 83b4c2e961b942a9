import CoreMetrics
import Foundation
import Logging
import Runtime
import Telemetry
import XCTest

final class TelemetryTests: XCTestCase {
    func testJSONLinesCarryTheFieldsAndNoSecret() throws {
        let path = NSTemporaryDirectory() + "telemetry-\(UUID().uuidString).log"
        let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        defer { unlink(path) }
        var logger = Logger(label: "test") { _ in JSONLogHandler(process: "w1", level: .info, output: LineOutput(descriptor: descriptor)) }
        logger[metadataKey: "job.id"] = "42"
        logger[metadataKey: "job.attempt"] = "2"
        logger[metadataKey: "job.type"] = "noop"
        logger.info("job ended \"quoted\"\nsecond line", metadata: ["outcome": "failed", "smtp.password": "hunter2", "api_token": "t0k"])
        logger.debug("below the level")
        close(descriptor)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line per event, the message's newline escaped")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["process"] as? String, "w1")
        XCTAssertEqual(object["level"] as? String, "info")
        XCTAssertEqual(object["message"] as? String, "job ended \"quoted\"\nsecond line")
        XCTAssertEqual(object["job_id"] as? Int, 42)
        XCTAssertEqual(object["attempt"] as? Int, 2)
        XCTAssertEqual(object["type"] as? String, "noop")
        let metadata = try XCTUnwrap(object["metadata"] as? [String: Any])
        XCTAssertEqual(metadata["outcome"] as? String, "failed")
        XCTAssertEqual(metadata["smtp.password"] as? String, "[redacted]")
        XCTAssertEqual(metadata["api_token"] as? String, "[redacted]")
        XCTAssertFalse(lines[0].contains("hunter2") || lines[0].contains("t0k"))
        XCTAssertNotNil(try? Date(try XCTUnwrap(object["time"] as? String), strategy: .iso8601))
    }

    /// Text lines redact what JSON lines redact, one rule for both: a secret-named key's value in
    /// the logger's metadata, an event's, or nested in a dictionary never reaches the log.
    func testTextAndJSONLinesRedactTheSameSecrets() throws {
        for format in LogFormat.allCases {
            let path = NSTemporaryDirectory() + "telemetry-\(UUID().uuidString).log"
            let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            XCTAssertGreaterThanOrEqual(descriptor, 0)
            defer { unlink(path) }
            let output = LineOutput(descriptor: descriptor)
            var logger = Logger(label: "test") { label -> any LogHandler in
                switch format {
                case .json: JSONLogHandler(process: "w1", level: .info, output: output)
                case .text: TextLogHandler(label: label, level: .info, output: output)
                }
            }
            logger[metadataKey: "device.password"] = "hunter2"
            logger[metadataKey: "device"] = "cucm-pub"
            logger.info("signed in", metadata: ["API_Token": "t0k", "outcome": "ok",
                                                "mail": ["url": "smtp://relay", "secret": "s3cr3t"]])
            logger.debug("below the level")
            close(descriptor)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertEqual(text.split(separator: "\n").count, 1, "\(format): one line per event: \(text)")
            for secret in ["hunter2", "t0k", "s3cr3t"] { XCTAssertFalse(text.contains(secret), "\(format) logged \(secret): \(text)") }
            for kept in ["cucm-pub", "ok", "smtp://relay", "signed in"] { XCTAssertTrue(text.contains(kept), "\(format): \(text)") }
            XCTAssertEqual(text.components(separatedBy: "[redacted]").count - 1, 3, "\(format): \(text)")
        }
    }

    func testExpositionHasWhatWasRecorded() {
        Telemetry.bootstrapMetrics()
        Counter(label: "ucp_test_things_total", dimensions: [("type", "a")]).increment(by: 3)
        Timer(label: "ucp_test_duration_seconds").recordSeconds(2.0)
        Gauge(label: "ucp_test_depth", dimensions: [("state", "queued")]).record(7)
        let text = Telemetry.exposition()
        XCTAssertTrue(text.contains(#"ucp_test_things_total{type="a"} 3"#), text)
        XCTAssertTrue(text.contains(#"ucp_test_depth{state="queued"} 7"#), text)
        XCTAssertTrue(text.contains(#"ucp_test_duration_seconds_bucket{le="2.5"} 1"#), text)
        XCTAssertTrue(text.contains(#"ucp_test_duration_seconds_bucket{le="1.0"} 0"#), text)
        XCTAssertIdentical(Telemetry.bootstrapMetrics(), Telemetry.bootstrapMetrics(), "bootstrapped once")
    }

    func testListenAddresses() throws {
        XCTAssertEqual(try ListenAddress(parsing: "9100", field: "f"), ListenAddress(host: "127.0.0.1", port: 9100))
        XCTAssertEqual(try ListenAddress(parsing: ":9100", field: "f"), ListenAddress(host: "127.0.0.1", port: 9100))
        XCTAssertEqual(try ListenAddress(parsing: "0.0.0.0:80", field: "f"), ListenAddress(host: "0.0.0.0", port: 80))
        XCTAssertEqual(try ListenAddress(parsing: "[::1]:9100", field: "f"), ListenAddress(host: "::1", port: 9100))
        XCTAssertEqual(try ListenAddress(parsing: "metrics.local:65535", field: "f").description, "metrics.local:65535")
        XCTAssertEqual(try ListenAddress(parsing: "127.0.0.1:0", field: "f").port, 0, "any free port")
        XCTAssertTrue(try ListenAddress(parsing: "localhost:1", field: "f").isLoopback)
        XCTAssertFalse(try ListenAddress(parsing: "0.0.0.0:1", field: "f").isLoopback)
        for bad in ["", "x", "host:", "host:65536", "::1:80", "[::1]80", "[]:80", "a b:80", "-x:80", "h:+80", "h:٣"] {
            XCTAssertThrowsError(try ListenAddress(parsing: bad, field: "metrics-listen"), bad) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("metrics-listen: use HOST:PORT"), text)
                XCTAssertFalse(text.contains("\n"))
            }
        }
    }
}
