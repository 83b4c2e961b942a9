import Foundation
import Postgres
import Queue
import TestSupport
import XCTest

/// `--metrics-listen` and `--log-format json` of the real worker and coordinator.
final class ProcessTelemetryTests: XCTestCase {
    func get(_ url: String) throws -> CommandResult {
        try CommandResult.run(["curl", "-sS", "--max-time", "5", url], environment: ProcessInfo.processInfo.environment)
    }

    func sample(_ exposition: String, _ name: String, _ labels: [String: String]) -> Double? {
        prometheusSample(exposition, name, labels)
    }

    /// The label set is read as the exposition format writes it (swift-prometheus escapes `\\`, `\"`
    /// and a line feed in label values): a value with a comma, `=`, `}` or an escape is found, and
    /// only the sample with exactly the labels asked for.
    func testSamplesAreFoundByTheirExactLabels() {
        let exposition = #"""
            # TYPE ucp_device_calls_total counter
            ucp_device_calls_total{protocol="cupi",operation="GET /vmrest/users?query=(alias is a,b)",outcome="ok"} 3
            ucp_device_calls_total{protocol="cupi",operation="GET /vmrest/users?query=(alias is a",outcome="ok"} 5
            ucp_device_calls_total{operation="say \"hi\", C:\\dir\nnext}",protocol="axl",} 7 1700000000000
            ucp_device_calls_total{protocol="axl"} 11
            ucp_alerts_pending 2
            ucp_alerts_pending_total 13
            """#
        XCTAssertEqual(sample(exposition, "ucp_device_calls_total",
                              ["protocol": "cupi", "operation": "GET /vmrest/users?query=(alias is a,b)", "outcome": "ok"]), 3)
        XCTAssertEqual(sample(exposition, "ucp_device_calls_total",
                              ["protocol": "cupi", "operation": "GET /vmrest/users?query=(alias is a", "outcome": "ok"]), 5)
        XCTAssertEqual(sample(exposition, "ucp_device_calls_total", ["protocol": "axl", "operation": "say \"hi\", C:\\dir\nnext}"]), 7)
        XCTAssertEqual(sample(exposition, "ucp_device_calls_total", ["protocol": "axl"]), 11)
        XCTAssertNil(sample(exposition, "ucp_device_calls_total", ["protocol": "cupi"]), "a subset of the labels is another sample")
        XCTAssertNil(sample(exposition, "ucp_device_calls_total", [:]))
        XCTAssertEqual(sample(exposition, "ucp_alerts_pending", [:]), 2)
        XCTAssertNil(sample(exposition, "ucp_alerts", [:]), "a name's prefix is another metric")
    }

    func waitForListener(_ port: Int, _ processes: UCPProcesses, _ name: String) async throws {
        let up = try await eventually(timeout: 60) { loopbackPortAcceptsConnections(port) }
        XCTAssertTrue(up, "\(name) serves on 127.0.0.1:\(port): \(processes.log(name))")
    }

    func testWorkerServesMetricsAndWritesJSONLines() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let port = try freeLoopbackPort()
        try processes.start("worker", ["worker", "--stand-in-jobs", "--name", "w-json", "--concurrency", "4",
                                       "--log-format", "json", "--metrics-listen", "127.0.0.1:\(port)"])
        try await waitForListener(port, processes, "worker")

        let store = database.store()
        for _ in 0..<20 { _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "test")) }
        let failing = try await store.jobEnqueue(.init(kind: .order, type: "noop", payload: #"{"fail":"boom"}"#,
                                                       maxAttempts: 1, actor: "test")).id
        let drained = try await eventually(timeout: 60) { try await store.jobCountUnfinished() == 0 }
        XCTAssertTrue(drained, "the worker drains the queue")

        let health = try get("http://127.0.0.1:\(port)/healthz")
        XCTAssertEqual(health.stdout, "ok\n")
        // Successes are written in batches: the counter follows once the batch is recorded.
        var exposition = ""
        let counted = try await eventually(timeout: 30) {
            exposition = try self.get("http://127.0.0.1:\(port)/metrics").stdout
            return self.sample(exposition, "ucp_jobs_finished_total", ["type": "noop", "outcome": "succeeded"]) == 20
        }
        XCTAssertTrue(counted, "20 noop jobs counted as succeeded: \(exposition)")
        XCTAssertEqual(sample(exposition, "ucp_jobs_finished_total", ["type": "noop", "outcome": "failed"]), 1)
        XCTAssertEqual(sample(exposition, "ucp_job_duration_seconds_count", ["type": "noop"]), 21)
        XCTAssertEqual(sample(exposition, "ucp_job_claim_latency_seconds_count", ["kind": "order"]), 21)
        XCTAssertFalse(exposition.contains("job_id"), "no label holds a job id")

        processes.kill("worker", signal: SIGTERM)
        XCTAssertEqual(processes.waitForExit("worker"), 0)
        let lines = processes.log("worker").split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object, "every line is a JSON object: \(line)")
            if let object { objects.append(object) }
        }
        for object in objects {
            for key in ["time", "level", "message", "process"] { XCTAssertNotNil(object[key], "\(key) in \(object)") }
            XCTAssertEqual(object["process"] as? String, "w-json")
            XCTAssertNotNil((object["time"] as? String).flatMap { try? Date($0, strategy: .iso8601) }, "time is ISO 8601: \(object)")
        }
        let failure = objects.first { ($0["job_id"] as? Int).map(Int64.init) == failing }
        XCTAssertNotNil(failure, "the failed job's line names it")
        XCTAssertEqual(failure?["attempt"] as? Int, 1)
        XCTAssertEqual(failure?["type"] as? String, "noop")
        XCTAssertTrue(objects.contains { $0["message"] as? String == "worker stopped" })
    }

    func testCoordinatorServesQueueDepth() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let store = database.store()
        for _ in 0..<3 { _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "test")) }
        _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", runAt: Date().addingTimeInterval(3600), actor: "test"))
        let port = try freeLoopbackPort()
        try processes.start("coordinator", ["coordinator", "--name", "c-metrics", "--gauge-interval", "1s",
                                            "--metrics-listen", "\(port)"])
        try await waitForListener(port, processes, "coordinator")
        var exposition = ""
        let read = try await eventually(timeout: 30) {
            exposition = try self.get("http://127.0.0.1:\(port)/metrics").stdout
            return self.sample(exposition, "ucp_queue_jobs", ["kind": "order", "state": "queued"]) == 4
        }
        XCTAssertTrue(read, "4 queued orders: \(exposition)")
        XCTAssertEqual(sample(exposition, "ucp_queue_jobs_due", ["kind": "order"]), 3, "the one due in an hour is not due")
        XCTAssertEqual(sample(exposition, "ucp_queue_jobs", ["kind": "device_sync", "state": "running"]), 0, "every kind and state is set")
        XCTAssertEqual(sample(exposition, "ucp_change_notification_backlog", [:]), 0)
        XCTAssertEqual(try get("http://127.0.0.1:\(port)/healthz").stdout, "ok\n")
    }
}
