import Foundation
import Postgres
import Queue
import TestSupport
import XCTest

/// `ucp schedule …` as operators type it: granular text on standard input, JSON out, bad input as one
/// line on stderr (one per bad granular line) and exit status 64, with nothing stored.
final class ScheduleCommandTests: XCTestCase {
    func testAddListShowPreviewEditDeleteThroughUCP() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        try await SchedulingFixtures.addDevices(Connection(database.app))
        // `$0 "$@"` with the text piped in, as `ucp schedule add --granular -` is meant to be used.
        let piped = ["/bin/sh", "-c", "printf '%s' \"$TEXT\" | \"$0\" \"$@\"", PackagePaths.ucp]
        func withStdin(_ text: String, _ arguments: [String]) throws -> CommandResult {
            try CommandResult.run(piped + arguments, environment: processes.environment.merging(["TEXT": text]) { $1 })
        }
        func counts() async throws -> Int {
            try await Connection(database.owner).query(Statement("", """
                SELECT (SELECT count(*) FROM schedules) + (SELECT count(*) FROM audit_log) AS n
                """)).first!.decode("n")
        }

        // Foundation may name the zone typed as UTC "GMT"; the schedule keeps the name Foundation gives.
        let utc = TimeZone(identifier: "UTC")!.identifier
        let initial = try await counts()
        let addArguments = ["schedule", "add", "--name", "Nightly mixed", "--every", "1d", "--start", "2026-12-01 02:00",
                            "--time-zone", "UTC", "--granular", "-", "--parallel", "--actor", "alice"]
        // --preview stores nothing and prints the plan.
        let previewed = try withStdin(SchedulingFixtures.mixedText, addArguments + ["--preview"])
        XCTAssertEqual(previewed.status, 0, previewed.stderr)
        XCTAssertEqual(previewed.stdout.split(separator: "\n").dropFirst().map(String.init), SchedulingFixtures.mixedPreview)
        await assertEqual(try await counts(), initial, "--preview stored nothing")

        // Lines naming objects that do not exist are refused, each with its number, nothing stored...
        let refused = try withStdin(SchedulingFixtures.mixedText, addArguments)
        XCTAssertEqual(refused.status, 64, refused.stderr)
        let allowHint = "(add it first, or give --allow-unknown to store the line anyway)"
        XCTAssertEqual(refused.stderr, """
            ucp: granular: line 2: no domain named 'Test-Dom' \(allowHint)
            ucp: granular: line 8: no call processor named 'Ghost' \(allowHint)
            ucp: granular: line 9: no call processor named 'cucm-a' (did you mean 'CUCM-A'?) \(allowHint)

            """)
        XCTAssertEqual(refused.stdout, "")
        await assertEqual(try await counts(), initial, "a refused add stored nothing")
        // ...unless --allow-unknown: stored, with the preview's warnings.
        let added = try withStdin(SchedulingFixtures.mixedText, addArguments + ["--allow-unknown"])
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertEqual(added.stderr, """
            ucp: warning: granular: line 2: no domain named 'Test-Dom'
            ucp: warning: granular: line 8: no call processor named 'Ghost'
            ucp: warning: granular: line 9: no call processor named 'cucm-a' (did you mean 'CUCM-A'?)

            """)
        XCTAssertEqual(added.stdout, "schedule 'Nightly mixed' added (every day from 2026-12-01T02:00:00Z (\(utc)))\n")

        let listed = try processes.run(["schedule", "list", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let schedules = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(schedules.count, 1)
        let schedule = try XCTUnwrap(schedules.first)
        XCTAssertEqual(schedule["name"] as? String, "Nightly mixed")
        XCTAssertEqual(schedule["every"] as? String, "1d")
        XCTAssertEqual(schedule["start"] as? String, "2026-12-01T02:00:00Z")
        XCTAssertEqual(schedule["time_zone"] as? String, utc)
        XCTAssertEqual(schedule["selection"] as? String, "granular")
        XCTAssertEqual(schedule["granular"] as? String, SchedulingFixtures.mixedText, "stdin stored as typed")
        XCTAssertEqual(schedule["builder"] as? [String], [])
        XCTAssertEqual(schedule["parallel"] as? Bool, true)
        XCTAssertEqual(schedule["force_domain"] as? Bool, false)
        XCTAssertEqual(schedule["abort_on_failure"] as? Bool, false)
        XCTAssertEqual(schedule["updated_by"] as? String, "alice")
        XCTAssertTrue(schedule["last_fired_at"] is NSNull)

        let shown = try processes.run(["schedule", "show", "Nightly mixed"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("every            1d (every day)\n"), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("parallel         on\n"), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("  cp.Ghost: infra\n"), shown.stdout)
        let shownJSON = try processes.run(["schedule", "show", "Nightly mixed", "--json"])
        XCTAssertEqual(shownJSON.status, 0, shownJSON.stderr)
        let one = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shownJSON.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(one["name"] as? String, "Nightly mixed")

        let preview = try processes.run(["schedule", "preview", "Nightly mixed"])
        XCTAssertEqual(preview.status, 0, preview.stderr)
        let previewLines = preview.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(previewLines.first, "preview of schedule 'Nightly mixed': every day from 2026-12-01T02:00:00Z (\(utc)), granular (8 lines)")
        XCTAssertEqual(Array(previewLines.dropFirst()), SchedulingFixtures.mixedPreview)

        // Bad input: one line naming the field (or one per bad granular line), exit 64, nothing stored.
        let before = try await counts()
        let bad: [([String], String)] = [
            (["schedule", "add", "--name", "Bad#1", "--builder", "all"],
             "ucp: name: 'Bad#1' may hold only letters A–Z, a–z, digits, space, '_' and '-'\n"),
            (["schedule", "add", "--name", "x", "--every", "5x", "--builder", "all"],
             "ucp: every: unknown unit 'x' in '5x' (use h, d or w, or once)\n"),
            (["schedule", "add", "--name", "x", "--every", "0d", "--builder", "all"],
             "ucp: every: '0d' — the interval must be a whole number of at least 1\n"),
            (["schedule", "add", "--name", "x", "--start", "tomorrow", "--builder", "all"],
             "ucp: start: 'tomorrow' is not a date and time (use 2026-11-23T10:00:00Z or 2026-11-23 10:00)\n"),
            (["schedule", "add", "--name", "x", "--start", "0000-01-01T00:00:00Z", "--builder", "all"],
             "ucp: start: '0000-01-01T00:00:00Z' is outside the years 1 to 9999 (UTC)\n"),
            (["schedule", "add", "--name", "x"],
             "ucp: builder: give --builder all|cp|mp|pp|ldap|domain or --granular FILE (one of them)\n"),
            (["schedule", "add", "--name", "x", "--builder", "all", "--granular", "/nonexistent"],
             "ucp: builder: give --builder or --granular, not both\n"),
            (["schedule", "add", "--name", "Nightly mixed", "--builder", "cp"],
             "ucp: name: a schedule named 'Nightly mixed' already exists\n"),
            (["schedule", "edit", "Nightly mixed", "--every", "1y"],
             "ucp: every: unknown unit 'y' in '1y' (use h, d or w, or once)\n"),
            (["schedule", "show", "ghost"], "ucp: schedule 'ghost': no such schedule\n"),
            (["schedule", "delete", "ghost"], "ucp: schedule 'ghost': no such schedule\n"),
            (["schedule", "delete", "Nightly mixed", "ghost"], "ucp: schedule 'ghost': no such schedule\n"),
            (["schedule", "run-now", "Nightly mixed", "ghost"], "ucp: schedule 'ghost': no such schedule\n"),
            (["schedule", "add", "--name", "x", "--builder", "all", "--preview", "--run-now"],
             "ucp: run-now: not with --preview (a preview stores and runs nothing)\n"),
        ]
        for (arguments, expected) in bad {
            let result = try processes.run(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments)")
            XCTAssertEqual(result.stderr, expected, "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
        let malformed = try withStdin("cp.all: both\ncp.CUCM-A infra\nzz.all: sub\n",
                                      ["schedule", "add", "--name", "Broken", "--granular", "-"])
        XCTAssertEqual(malformed.status, 64)
        XCTAssertEqual(malformed.stderr, """
            ucp: granular: line 2: missing ':' after the object
            ucp: granular: line 3: unknown class 'zz' (use cp, mp, pp, ad or domain)

            """)
        let malformedPreview = try withStdin("cp.all: infra\ncp.CUCM-A: full\n",
                                             ["schedule", "add", "--name", "Broken", "--granular", "-", "--preview"])
        XCTAssertEqual(malformedPreview.status, 64)
        XCTAssertEqual(malformedPreview.stderr, "ucp: granular: line 2: sync type 'full' is not one of infra, sub, both\n")
        XCTAssertTrue(malformedPreview.stdout.contains("1. infrastructure synchronization of call processor 'CUCM-A'\n"),
                      malformedPreview.stdout)
        let unknownEdit = try withStdin("cp.CUCM-A: infra\ncp.NoSuchDevice: infra\n",
                                        ["schedule", "edit", "Nightly mixed", "--granular", "-"])
        XCTAssertEqual(unknownEdit.status, 64)
        XCTAssertEqual(unknownEdit.stderr,
                       "ucp: granular: line 2: no call processor named 'NoSuchDevice' (add it first, or give --allow-unknown to store the line anyway)\n")
        XCTAssertEqual(unknownEdit.stdout, "")
        await assertEqual(try await counts(), before, "bad input stored nothing")

        // Edit: only the options given change; --preview shows the edited plan and stores nothing.
        let editPreview = try processes.run(["schedule", "edit", "Nightly mixed", "--builder", "mp", "--preview"])
        XCTAssertEqual(editPreview.status, 0, editPreview.stderr)
        XCTAssertEqual(Array(editPreview.stdout.split(separator: "\n").dropFirst()), [
            "1. infrastructure synchronization of message processor 'Unity-1'",
            "2. user synchronization of message processor 'Unity-1'",
        ])
        await assertEqual(try await counts(), before, "edit --preview stored nothing")
        let edited = try processes.run(["schedule", "edit", "Nightly mixed", "--every", "12h", "--no-parallel",
                                        "--force-domain", "--builder", "cp,mp", "--actor", "bob"])
        XCTAssertEqual(edited.status, 0, edited.stderr)
        XCTAssertEqual(edited.stdout, "schedule 'Nightly mixed' changed\n")
        let after = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(try processes.run(["schedule", "show", "Nightly mixed", "--json"]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual(after["every"] as? String, "12h")
        XCTAssertEqual(after["start"] as? String, "2026-12-01T02:00:00Z", "not given, kept")
        XCTAssertEqual(after["parallel"] as? Bool, false)
        XCTAssertEqual(after["force_domain"] as? Bool, true)
        XCTAssertEqual(after["selection"] as? String, "builder")
        XCTAssertEqual(after["builder"] as? [String], ["cp", "mp"])
        XCTAssertTrue(after["granular"] is NSNull)

        // "Save and Run Now": the run is queued with the save (no worker runs here, so it stays queued).
        let savedAndRun = try processes.run(["schedule", "add", "--name", "Now too", "--builder", "cp", "--run-now"])
        XCTAssertEqual(savedAndRun.status, 0, savedAndRun.stderr)
        XCTAssertTrue(savedAndRun.stdout.hasSuffix("schedule 'Now too': run 1 queued (job 1)\n"), savedAndRun.stdout)
        let listedRuns = try processes.run(["schedule", "list"])
        XCTAssertTrue(listedRuns.stdout.contains("1 queued"), listedRuns.stdout)
        XCTAssertTrue(listedRuns.stdout.contains("never"), listedRuns.stdout)

        // Several schedules are deleted together.
        let deleted = try processes.run(["schedule", "delete", "Nightly mixed", "Now too"])
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        XCTAssertEqual(deleted.stdout, "schedule 'Nightly mixed' deleted\nschedule 'Now too' deleted\n")
        let empty = try processes.run(["schedule", "list", "--json"])
        XCTAssertEqual(empty.status, 0, empty.stderr)
        XCTAssertTrue(try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(empty.stdout.utf8)) as? [Any]).isEmpty)

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.target == "Nightly mixed" }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["schedule.added", "schedule.changed", "schedule.deleted"])
        XCTAssertEqual(audit.dropLast().map(\.actor), ["alice", "bob"])
    }
}
