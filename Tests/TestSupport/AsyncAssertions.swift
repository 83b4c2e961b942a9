import XCTest

// XCTest's assertions take synchronous autoclosures; these take asynchronous ones.

public func assertEqual<T: Equatable>(_ actual: @autoclosure () async throws -> T, _ expected: @autoclosure () async throws -> T,
                                      _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    do {
        let (a, b) = (try await actual(), try await expected())
        XCTAssertEqual(a, b, message, file: file, line: line)
    } catch { XCTFail("threw \(error) \(message)", file: file, line: line) }
}

public func assertTrue(_ value: @autoclosure () async throws -> Bool, _ message: String = "",
                       file: StaticString = #filePath, line: UInt = #line) async {
    do { let v = try await value(); XCTAssertTrue(v, message, file: file, line: line) } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

public func assertFalse(_ value: @autoclosure () async throws -> Bool, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) async {
    do { let v = try await value(); XCTAssertFalse(v, message, file: file, line: line) } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

public func assertNil<T>(_ value: @autoclosure () async throws -> T?, _ message: String = "",
                         file: StaticString = #filePath, line: UInt = #line) async {
    do { let v = try await value(); XCTAssertNil(v, message, file: file, line: line) } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

public func assertGreaterThan<T: Comparable>(_ a: @autoclosure () async throws -> T, _ b: @autoclosure () async throws -> T,
                                             _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    do { let (x, y) = (try await a(), try await b()); XCTAssertGreaterThan(x, y, message, file: file, line: line) } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}
