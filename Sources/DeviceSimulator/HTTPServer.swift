import COpenSSL
import Foundation
import Synchronization

/// One HTTP/1.1 request as the simulator sees it (bodies come with Content-Length).
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path without the query (`/vmrest/users/abc`).
    public let path: String
    /// The decoded query parameters.
    public let query: [String: String]
    /// Header names lower-cased.
    public let headers: [String: String]
    public let body: [UInt8]

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Where an answer goes: a whole body with Content-Length, or a chunked stream written piece by piece
/// (a 50,000-row list never sits in memory whole).
public final class HTTPResponder {
    private let connection: HTTPConnection
    /// Headers every answer carries (the session cookie).
    var extraHeaders: [(String, String)] = []
    var keepAlive = true
    /// The request is carried out but its answer is never sent (fault injection): sending throws.
    var dropAnswer = false
    /// Seconds the answer waits before it is sent (fault injection).
    var holdAnswer = 0.0
    /// An add is answered with an empty `<return/>`, without the new uuid (fault injection).
    var emptyReturn = false
    /// Runs once, as the answer starts (before any byte of it can reach the client): where a write
    /// counted in flight ends (OrderFaults.write).
    var beforeAnswer: (() -> Void)?

    /// Runs `beforeAnswer`, once.
    func answering() {
        let hook = beforeAnswer
        beforeAnswer = nil
        hook?()
    }

    init(connection: HTTPConnection) {
        self.connection = connection
    }

    public func send(status: Int, reason: String, contentType: String?, body: [UInt8], headers: [(String, String)] = []) throws {
        answering()
        if dropAnswer { throw DroppedAnswer() }
        if holdAnswer > 0 { usleep(UInt32(holdAnswer * 1_000_000)) }
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        for (name, value) in extraHeaders + headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: body)
        try connection.write(bytes)
    }

    public func send(status: Int, reason: String, contentType: String?, text: String) throws {
        try send(status: status, reason: reason, contentType: contentType, body: Array(text.utf8))
    }

    /// Starts a chunked answer; `write` each piece, then `finish`.
    public func beginStream(status: Int, reason: String, contentType: String) throws -> HTTPStream {
        answering()
        if dropAnswer { throw DroppedAnswer() }
        if holdAnswer > 0 { usleep(UInt32(holdAnswer * 1_000_000)) }
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nTransfer-Encoding: chunked\r\n"
        for (name, value) in extraHeaders { head += "\(name): \(value)\r\n" }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        try connection.write(Array(head.utf8))
        return HTTPStream(connection: connection)
    }
}

public struct HTTPStream {
    let connection: HTTPConnection

    public func write(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        var chunk = Array(String(bytes.count, radix: 16).utf8)
        chunk.append(contentsOf: [13, 10])
        chunk.append(contentsOf: bytes)
        chunk.append(contentsOf: [13, 10])
        try connection.write(chunk)
    }

    public func finish() throws {
        try connection.write(Array("0\r\n\r\n".utf8))
    }
}

struct HTTPError: Error, CustomStringConvertible {
    let description: String
}

/// A client connection: a socket, with TLS over it when the server has a TLS context.
final class HTTPConnection {
    let fd: Int32
    private var ssl: OpaquePointer?
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private var pending: [UInt8] = []

    init(fd: Int32, tls: OpaquePointer?) throws {
        self.fd = fd
        if let tls {
            guard let ssl = SSL_new(tls) else { throw HTTPError(description: "SSL_new failed") }
            self.ssl = ssl
            SSL_set_fd(ssl, fd)
            guard SSL_accept(ssl) == 1 else { throw HTTPError(description: "TLS handshake failed") }
        }
    }

    deinit {
        if let ssl {
            SSL_shutdown(ssl)
            SSL_free(ssl)
        }
        close(fd)
    }

    private func readSome() throws -> Int {
        let count: Int = buffer.withUnsafeMutableBytes { raw in
            if let ssl {
                return Int(SSL_read(ssl, raw.baseAddress, Int32(raw.count)))
            }
            return recv(fd, raw.baseAddress, raw.count, 0)
        }
        guard count > 0 else { throw HTTPError(description: "connection closed") }
        pending.append(contentsOf: buffer[0..<count])
        return count
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let written: Int
                if let ssl {
                    written = Int(SSL_write(ssl, raw.baseAddress! + offset, Int32(raw.count - offset)))
                } else {
                    written = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                }
                guard written > 0 else { throw HTTPError(description: "write failed") }
                offset += written
            }
        }
    }

    /// The next request on this connection, or nil when the client closed it.
    func readRequest() throws -> HTTPRequest? {
        var headerEnd: Int?
        while headerEnd == nil {
            headerEnd = HTTPConnection.find(pending, [13, 10, 13, 10])
            if headerEnd == nil {
                if pending.count > 1 << 20 { throw HTTPError(description: "header too large") }
                do { _ = try readSome() } catch { if pending.isEmpty { return nil } else { throw error } }
            }
        }
        // Parsed on bytes: Foundation's string searching costs more than the rest of a request.
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = 0
        for index in 0..<headerEnd! where pending[index] == 13 && pending[index + 1] == 10 {
            lines.append(pending[lineStart..<index])
            lineStart = index + 2
        }
        lines.append(pending[lineStart..<headerEnd!])
        let requestLine = lines.removeFirst().split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard requestLine.count >= 2 else { throw HTTPError(description: "bad request line") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            var value = line[(colon + 1)...]
            while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
            while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
            headers[name] = String(decoding: value, as: UTF8.self)
        }
        pending.removeFirst(headerEnd! + 4)
        let length = Int(headers["content-length"] ?? "0") ?? 0
        if headers["expect"]?.lowercased() == "100-continue", length > pending.count {
            try write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let body: [UInt8]
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try readChunkedBody()
        } else {
            while pending.count < length { _ = try readSome() }
            body = Array(pending[0..<length])
            pending.removeFirst(length)
        }
        let target = String(requestLine[1])
        let path: String
        var query: [String: String] = [:]
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
                let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
                query[key] = value
            }
        } else {
            path = target
        }
        return HTTPRequest(method: String(requestLine[0]), path: path, query: query, headers: headers, body: body)
    }

    /// A chunked request body (what libcurl sends when it streams a body of unknown size).
    private func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            var lineEnd = HTTPConnection.find(pending, [13, 10])
            while lineEnd == nil {
                _ = try readSome()
                lineEnd = HTTPConnection.find(pending, [13, 10])
            }
            let sizeText = String(decoding: pending[0..<lineEnd!], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw HTTPError(description: "bad chunk size")
            }
            pending.removeFirst(lineEnd! + 2)
            // The chunk and its CRLF; the last (empty) chunk is followed by an empty trailer line.
            while pending.count < size + 2 { _ = try readSome() }
            body.append(contentsOf: pending[0..<size])
            pending.removeFirst(size + 2)
            if size == 0 { return body }
        }
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }
}

/// A small HTTP/1.1 server over POSIX sockets: a thread per connection, keep-alive, optional TLS.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest, HTTPResponder) throws -> Void

    public let port: Int
    private let listener: Int32
    private let tls: OpaquePointer?
    private let handler: Handler

    /// Binds `address:port` (0 picks a free port). `tls` is an SSL_CTX, or nil for plain HTTP.
    public init(address: String, port: Int, tls: OpaquePointer?, handler: @escaping Handler) throws {
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPError(description: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
            close(fd)
            throw HTTPError(description: "--listen: not an IPv4 address: \(address)")
        }
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPError(description: "bind \(address):\(port): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listener = fd
        self.tls = tls
        self.handler = handler
    }

    /// Accepts connections until the process ends; each gets a thread of its own.
    public func run() -> Never {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var yes: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            let thread = Thread { [self] in serve(client) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        // A failed handshake closes the socket when the connection is released.
        guard let connection = try? HTTPConnection(fd: fd, tls: tls) else { return }
        while true {
            guard let request = try? connection.readRequest() else { return }
            let responder = HTTPResponder(connection: connection)
            responder.keepAlive = request.header("connection")?.lowercased() != "close"
            do {
                try handler(request, responder)
            } catch {
                return
            }
            if !responder.keepAlive { return }
        }
    }
}
