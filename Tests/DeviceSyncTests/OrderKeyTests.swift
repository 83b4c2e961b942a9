import Foundation
import Orders
import Postgres
import TestSupport
import XCTest

/// `order submit --key K` and `order batch --key K`: the key given again with the same order gives
/// back the first order (compared as stored, not byte for byte); with another order it is refused,
/// naming the key and the order that has it, and nothing is written.
final class OrderKeyTests: OrderTestCase {
    func count(_ text: String) async throws -> Int64 {
        try await sql(text)[0].decode("n", as: Int64.self)
    }

    func testAKeyGivenAgainReturnsItsOrderForTheSameRequestAndIsRefusedForAnother() async throws {
        try await prepare()
        try ucp(["maintenance", "on"])  // the orders stay queued: only what submit does is looked at
        let file = try orderFile()
        let id = try orderID(try ucp(["order", "submit", "-f", file, "--key", "hire-jdoe"]))
        let again = try ucp(["order", "submit", "-f", file, "--key", "hire-jdoe"])
        XCTAssertTrue(again.stdout.hasPrefix("order \(id) already submitted with this key"), again.stdout)
        // The same order written otherwise (another file name, another field order, a comment): the same request.
        let rewritten = folder + "/rewritten.yaml"
        try """
            user: jdoe
            voicemail: yes
            phone: {model: Cisco 8845, name: SEP00AA00BB0001}
            # the domain last
            service_area: \(Self.area)
            domain: \(Self.domain)
            """.write(toFile: rewritten, atomically: true, encoding: .utf8)
        let same = try ucp(["order", "submit", "-f", rewritten, "--key", "hire-jdoe"])
        XCTAssertTrue(same.stdout.hasPrefix("order \(id) already submitted with this key"), same.stdout)

        let audited = try await count("SELECT count(*)::bigint AS n FROM audit_log")
        let jobs = try await count("SELECT count(*)::bigint AS n FROM jobs")
        for (name, other) in [("phone.yaml", try orderFile("phone.yaml", phone: "SEP00AA00BB0002")),
                              ("user.yaml", try orderFile("user.yaml", user: "user000001", phone: "SEP00AA00BB0003")),
                              ("line.yaml", try orderFile("line.yaml", line: "4005"))] {
            let refused = try harness.ucp(["order", "submit", "-f", other, "--key", "hire-jdoe"])
            XCTAssertEqual(refused.status, 64, "\(name): \(refused.stdout)\(refused.stderr)")
            XCTAssertEqual(refused.stderr, "ucp: key: 'hire-jdoe' was already used by order \(id) for another request (one key, one request)\n", name)
            XCTAssertEqual(refused.stdout, "", name)
        }
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 1, "nothing written")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM audit_log"), audited, "nothing audited")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM jobs"), jobs, "nothing queued")
        await assertEqual(try await order(id).submitKey, "hire-jdoe")
    }

    /// A batch sent again with its key skips the rows submitted before; a row changed since is bad
    /// (the batch refused whole without --skip-bad-rows), the others still skipped.
    func testABatchSentAgainSkipsItsRowsAndRefusesARowChangedSince() async throws {
        try await prepare()
        try ucp(["maintenance", "on"])
        let header = "domain,service_area,user,phone_name,phone_model,voicemail,line"
        func batch(_ name: String, secondPhone: String) throws -> String {
            let path = folder + "/" + name
            try ([header, "\(Self.domain),\(Self.area),user000000,SEP00BB00000001,Cisco 8845,no,",
                  "\(Self.domain),\(Self.area),user000001,\(secondPhone),Cisco 8845,no,"].joined(separator: "\r\n") + "\r\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let file = try batch("batch.csv", secondPhone: "SEP00BB00000002")
        let first = try ucp(["order", "batch", "-f", file, "--key", "K1"])
        XCTAssertTrue(first.stdout.contains("2 rows, 2 orders submitted"), first.stdout)
        let again = try ucp(["order", "batch", "-f", file, "--key", "K1"])
        XCTAssertTrue(again.stdout.contains("2 rows, 0 orders submitted, 2 already submitted with this key"), again.stdout)

        let second: Int64 = try await sql("SELECT id FROM orders WHERE submit_key = 'K1:user000001'")[0].decode("id")
        let changed = try harness.ucp(["order", "batch", "-f", try batch("changed.csv", secondPhone: "SEP00BB00000009"), "--key", "K1"])
        XCTAssertEqual(changed.status, 64, changed.stdout + changed.stderr)
        XCTAssertEqual(changed.stderr.split(separator: "\n").filter { $0.hasPrefix("ucp: row ") }, [
            "ucp: row 2, column 1: key: 'K1:user000001' was already used by order \(second) for another request (one key, one request)",
        ], changed.stderr)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 2, "nothing written")
    }
}
