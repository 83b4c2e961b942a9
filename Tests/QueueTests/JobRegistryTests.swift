import JobCatalog
import Queue
import XCTest

/// The registry refuses a second registration of one type (a start-up error, not a silent
/// replacement); `intercept` is the one explicit way to wrap a registered handler.
final class JobRegistryTests: XCTestCase {
    struct Probe: JobParameters {
        static let jobType = "test.probe"
        static let kind = JobKind.task
        static let maxAttempts = 1
    }

    func testRegisteringATypeTwiceThrows() throws {
        var registry = JobRegistry()
        try registry.register(Probe.self) { _, _ in }
        XCTAssertThrowsError(try registry.register(Probe.self) { _, _ in }) { error in
            XCTAssertTrue(error is JobRegistryError, "\(error)")
            XCTAssertTrue("\(error)".contains("'test.probe' is registered twice"), "\(error)")
        }
        XCTAssertEqual(registry.definitions.count, 1)
    }

    func testInterceptIsRefusedForATypeNobodyRegistered() throws {
        var registry = JobRegistry()
        XCTAssertThrowsError(try registry.intercept(Probe.jobType) { context, handler in try await handler(context) }) { error in
            XCTAssertTrue("\(error)".contains("cannot be intercepted: it is not registered"), "\(error)")
        }
        try registry.register(Probe.self) { _, _ in }
        try registry.intercept(Probe.jobType) { context, handler in try await handler(context) }
        XCTAssertEqual(try registry.definition(for: Probe.jobType).kind, .task)
    }
}
