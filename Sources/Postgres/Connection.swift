import CLibPQ
import Foundation
import Runtime

/// A statement the code base defines once, under a name; each connection prepares it on first use.
/// Statements are constants: values always travel as parameters, never inside the SQL.
public struct Statement: Sendable, Hashable {
    public let name: String
    public let sql: String
    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// A notification received on a channel the session listens to.
public struct Notification: Sendable {
    public let channel: String
    public let payload: String
}

/// One PostgreSQL connection.
///
/// libpq blocks, so every call runs on the connection's own serial `BlockingExecutor`, never on
/// Swift's cooperative pool. A lost
/// connection is dropped and made again on next use; callers decide how long to back off.
public final class Connection: @unchecked Sendable {
    public let configuration: ConnectionConfiguration
    private let executor: BlockingExecutor
    // Touched only on `executor`.
    private var handle: OpaquePointer?
    /// Set by the handle's notice receiver when the server says FATAL while we are idle: it is
    /// closing the session, though its end-of-file may not have arrived yet.
    private var closingSignal: UnsafeMutablePointer<Bool>?
    private var preparedStatements: Set<String> = []
    /// Counts the server sessions this connection has opened. Session state (LISTEN, SET) lives and
    /// dies with one server session, and a session closed while idle is replaced without an error.
    private var sessionNumber = 0

    public init(_ configuration: ConnectionConfiguration) {
        self.configuration = configuration
        self.executor = BlockingExecutor(label: "ucp.postgres.connection")
    }

    deinit {
        if let handle { PQfinish(handle) }
        closingSignal?.deallocate()
    }

    /// Runs `body` with the session, on the connection's thread, connecting first if needed.
    public func withSession<T: Sendable>(_ body: @escaping (Session) throws -> T) async throws -> T {
        try await executor.run { try self.runOnExecutor(body) }
    }

    /// Runs `body` inside BEGIN … COMMIT; rolls back if it throws.
    public func transaction<T: Sendable>(_ body: @escaping (Session) throws -> T) async throws -> T {
        try await withSession { session in try session.transaction(body) }
    }

    /// One prepared statement, outside an explicit transaction.
    @discardableResult
    public func query(_ statement: Statement, _ parameters: [any PostgresEncodable] = []) async throws -> Rows {
        try await withSession { try $0.query(statement, parameters) }
    }

    /// Closes the connection; the next use opens a new one.
    public func close() async {
        await executor.run { self.disconnect() }
    }

    /// Synchronous form of `withSession`, for code that already runs on a thread of its own.
    public func withSessionBlocking<T>(_ body: (Session) throws -> T) throws -> T {
        try executor.runBlocking { try runOnExecutor(body) }
    }

    private func runOnExecutor<T>(_ body: (Session) throws -> T) throws -> T {
        let handle = try connectedHandle()
        do {
            return try body(Session(connection: self, handle: handle))
        } catch let error as PostgresError where error.kind == .connectionLost {
            disconnect()
            throw error
        }
    }

    private func connectedHandle() throws -> OpaquePointer {
        // Reading what the server sent while we were idle tells whether it closed the session
        // (a restart, an administrator's terminate): then connect again before sending anything.
        if let handle, Self.isAlive(handle), closingSignal?.pointee != true {
            return handle
        }
        disconnect()
        let closingSignal = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        closingSignal.initialize(to: false)
        let handle: OpaquePointer
        do {
            handle = try Self.connect(configuration, closingSignal: closingSignal)
        } catch {
            closingSignal.deallocate()
            throw error
        }
        self.handle = handle
        self.closingSignal = closingSignal
        sessionNumber += 1
        return handle
    }

    /// True unless the idle session was closed by the server. A closing server first sends a
    /// FATAL error (seen by the notice receiver), then end-of-file; both are read here without
    /// blocking.
    private static func isAlive(_ handle: OpaquePointer) -> Bool {
        for _ in 0..<3 {
            guard PQstatus(handle) == CONNECTION_OK else { return false }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return true }
            guard PQconsumeInput(handle) == 1 else { return false }
            // Consuming only buffers; parsing is what hands an idle-time error to the receiver.
            _ = PQisBusy(handle)
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    private func disconnect() {
        if let handle { PQfinish(handle) }
        handle = nil
        closingSignal?.deallocate()
        closingSignal = nil
        preparedStatements.removeAll()
    }

    private static func connect(
        _ configuration: ConnectionConfiguration, closingSignal: UnsafeMutablePointer<Bool>
    ) throws -> OpaquePointer {
        // Earlier pairs are defaults; the expanded connection string overrides them, and the
        // overrides come last. Keepalives make a vanished server show up as a lost connection.
        var pairs: [(String, String)] = [
            ("connect_timeout", "5"),
            ("keepalives_idle", "10"),
            ("keepalives_interval", "5"),
            ("keepalives_count", "3"),
            ("fallback_application_name", configuration.applicationName),
            ("dbname", configuration.conninfo),
        ]
        for (key, value) in configuration.overrides.sorted(by: { $0.key < $1.key }) { pairs.append((key, value)) }
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordPointers: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let handle = PQconnectdbParams(&keywordPointers, &valuePointers, 1) else {
            throw PostgresError(kind: .connectionLost, message: "out of memory while connecting")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = PostgresError.oneLine(String(cString: PQerrorMessage(handle)))
            PQfinish(handle)
            throw PostgresError(kind: .connectionLost, message: "cannot connect to \(configuration): \(message)")
        }
        // Server notices (NOTICE, WARNING) are not for the terminal. An error that arrives while
        // idle comes here too: FATAL or PANIC means the server is closing this session.
        PQsetNoticeReceiver(handle, { signal, result in
            guard let signal, let result,
                  let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V")))  // PG_DIAG_SEVERITY_NONLOCALIZED
            else { return }
            let text = String(cString: severity)
            if text == "FATAL" || text == "PANIC" { signal.assumingMemoryBound(to: Bool.self).pointee = true }
        }, UnsafeMutableRawPointer(closingSignal))
        let session = Session(connection: nil, handle: handle)
        do {
            try session.execute("SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO'")
            if let role = configuration.role {
                try session.query(Statement("", "SELECT set_config('role', $1, false)"), [role])
            }
        } catch {
            PQfinish(handle)
            throw error
        }
        return handle
    }

    fileprivate var currentSessionNumber: Int { sessionNumber }
    fileprivate func isPrepared(_ name: String) -> Bool { preparedStatements.contains(name) }
    fileprivate func markPrepared(_ name: String) { preparedStatements.insert(name) }
}

/// The connection as seen inside `withSession`: synchronous calls on the connection's thread.
public struct Session {
    fileprivate let connection: Connection?
    fileprivate let handle: OpaquePointer

    /// Which server session of its connection this is (1, 2, … as the connection reconnects): state
    /// such as LISTEN must be set again when it changes.
    public var serverSessionNumber: Int { connection?.currentSessionNumber ?? 0 }

    /// Runs a prepared statement (preparing it first on this connection if needed).
    @discardableResult
    public func query(_ statement: Statement, _ parameters: [any PostgresEncodable] = []) throws -> Rows {
        if !statement.name.isEmpty, let connection, !connection.isPrepared(statement.name) {
            let result = PQprepare(handle, statement.name, statement.sql, Int32(parameters.count), nil)
            _ = try consume(result)
            connection.markPrepared(statement.name)
        }
        let texts = parameters.map { $0.postgresText }
        let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
        defer { cStrings.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
        let result: OpaquePointer? = pointers.withUnsafeMutableBufferPointer { buffer in
            if statement.name.isEmpty {
                return PQexecParams(handle, statement.sql, Int32(texts.count), nil, buffer.baseAddress, nil, nil, 0)
            }
            return PQexecPrepared(handle, statement.name, Int32(texts.count), buffer.baseAddress, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs SQL text without parameters, possibly several statements (migrations, BEGIN, COMMIT).
    public func execute(_ sql: String) throws {
        _ = try consume(PQexec(handle, sql))
    }

    /// Runs `body` in a transaction on this session.
    public func transaction<T>(_ body: (Session) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if PQstatus(handle) == CONNECTION_OK { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Loads rows with `COPY … FROM STDIN` (text format). `sql` is a constant COPY statement.
    /// Returns the number of rows copied.
    @discardableResult
    public func copyIn<S: Sequence>(_ statement: Statement, rows: S) throws -> Int where S.Element == [String?] {
        let start = PQexec(handle, statement.sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try consume(start)
            throw PostgresError(kind: .other, message: "COPY did not start")
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        func flush() throws {
            guard !buffer.isEmpty else { return }
            let sent = buffer.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            buffer.removeAll(keepingCapacity: true)
            if sent != 1 { throw lastError() }
        }
        for row in rows {
            for (index, field) in row.enumerated() {
                if index > 0 { buffer.append(9) }
                guard var field else { buffer.append(contentsOf: [92, 78]); continue } // \N
                field.withUTF8 { bytes in
                    // Most fields need no escape: copied in one go.
                    guard bytes.contains(where: { $0 == 92 || $0 == 9 || $0 == 10 || $0 == 13 }) else {
                        buffer.append(contentsOf: bytes)
                        return
                    }
                    for byte in bytes {
                        switch byte {
                        case 92: buffer.append(contentsOf: [92, 92])
                        case 9: buffer.append(contentsOf: [92, 116])
                        case 10: buffer.append(contentsOf: [92, 110])
                        case 13: buffer.append(contentsOf: [92, 114])
                        default: buffer.append(byte)
                        }
                    }
                }
            }
            buffer.append(10)
            if buffer.count >= 1 << 16 { try flush() }
        }
        try flush()
        guard PQputCopyEnd(handle, nil) == 1 else { throw lastError() }
        var copied = 0
        var failure: Error?
        while let result = PQgetResult(handle) {
            if failure == nil {
                do { copied = try consume(result).affectedRows } catch { failure = error }
            } else {
                PQclear(result)
            }
        }
        if let failure { throw failure }
        return copied
    }

    /// False when the server no longer lets this session write: a standby, or a server made read-only
    /// (fenced off by a failover). A session that only listens never writes, so only asking tells it
    /// that a failover left it behind.
    public func serverTakesWrites() throws -> Bool {
        let readOnly: String = try query(Statement("", "SELECT current_setting('transaction_read_only') AS read_only"))
            .first?.decode("read_only") ?? "on"
        return readOnly == "off"
    }

    /// Starts listening on a channel. The name is a constant of the code base.
    public func listen(_ channel: String) throws {
        precondition(channel.allSatisfy { $0.isLetter || $0 == "_" }, "channel names are identifiers")
        try execute("LISTEN \(channel)")
    }

    /// Waits up to `timeout` seconds for notifications; returns those received (maybe none).
    public func waitForNotifications(timeout: Double) throws -> [Notification] {
        var received = try drainNotifications()
        if !received.isEmpty { return received }
        var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(timeout * 1000))
        if ready < 0 && errno != EINTR { throw lastError() }
        received = try drainNotifications()
        return received
    }

    private func drainNotifications() throws -> [Notification] {
        guard PQconsumeInput(handle) == 1 else { throw lastError() }
        var received: [Notification] = []
        while let note = PQnotifies(handle) {
            received.append(Notification(channel: String(cString: note.pointee.relname),
                                         payload: String(cString: note.pointee.extra)))
            PQfreemem(note)
        }
        return received
    }

    private func lastError() -> PostgresError {
        let message = PostgresError.oneLine(String(cString: PQerrorMessage(handle)))
        let lost = PQstatus(handle) != CONNECTION_OK
        return PostgresError(kind: lost ? .connectionLost : .other,
                             message: message.isEmpty ? "connection failed" : message)
    }

    /// Turns a result into rows or an error, and frees it.
    private func consume(_ result: OpaquePointer?) throws -> Rows {
        guard let result else { throw lastError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(column)))) }
            var values: [[String?]] = []
            values.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var fields: [String?] = []
                fields.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        fields.append(nil)
                    } else {
                        fields.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                values.append(fields)
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return Rows(columns: columns, values: values, affectedRows: affected)
        default:
            func field(_ code: Int32) -> String? {
                guard let value = PQresultErrorField(result, code) else { return nil }
                return String(cString: value)
            }
            let sqlState = field(Int32(UInt8(ascii: "C")))
            let message = field(Int32(UInt8(ascii: "M")))
                ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let lost = PQstatus(handle) != CONNECTION_OK
            throw PostgresError(
                kind: lost ? .connectionLost : PostgresError.kind(forSQLState: sqlState ?? "XX000"),
                sqlState: sqlState,
                message: message.isEmpty ? "statement failed" : message,
                detail: field(Int32(UInt8(ascii: "D"))),
                hint: field(Int32(UInt8(ascii: "H"))),
                constraint: field(Int32(UInt8(ascii: "n"))))  // PG_DIAG_CONSTRAINT_NAME
        }
    }
}
