import CCurl
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

private enum CurlLibrary {
    // Swift runs a global's initializer once, thread-safely: curl_global_init must run once, before any
    // handle, and is itself not thread-safe.
    static let initialized: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}

/// One libcurl easy handle with typed option setters. Not thread-safe: use it on one thread.
final class CurlEasy {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    /// Lists that one request sets and the next replaces (request headers on a reused handle).
    private var replaceableLists: [UInt32: UnsafeMutablePointer<curl_slist>] = [:]
    private var upload: UploadSource?
    private var replies: ReplyRecorder?

    init() throws {
        guard CurlLibrary.initialized == CURLE_OK, let handle = curl_easy_init() else {
            throw TransportError(curlCode: CURLE_FAILED_INIT, message: "libcurl: cannot start a transfer")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        try set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        // Timeouts without SIGALRM: transfers run on several threads at once.
        try set(CURLOPT_NOSIGNAL, true)
    }

    deinit {
        curl_easy_cleanup(handle)
        lists.forEach { curl_slist_free_all($0) }
        replaceableLists.values.forEach { curl_slist_free_all($0) }
        errorBuffer.deallocate()
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(ucp_curl_setopt_long(handle, option, value), option)
    }

    func set(_ option: CURLoption, _ value: Bool) throws {
        try set(option, value ? 1 : 0)
    }

    /// libcurl copies string options, so the Swift string may go away after the call.
    func set(_ option: CURLoption, _ value: String) throws {
        try value.withCString { try set(option, pointer: $0) }
    }

    /// A list option (curl_slist), kept alive until the handle is cleaned up.
    func set(_ option: CURLoption, _ values: [String]) throws {
        let list = try Self.list(values)
        if let list { lists.append(list) }
        try set(option, pointer: list)
    }

    /// A curl_slist of `values`; nil for none. The caller frees it (or hands it to the handle's lists).
    private static func list(_ values: [String]) throws -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values {
            guard let longer = curl_slist_append(list, value) else {
                curl_slist_free_all(list)
                throw TransportError(curlCode: CURLE_OUT_OF_MEMORY, message: "libcurl: out of memory")
            }
            list = longer
        }
        return list
    }

    /// A list option that replaces the one the previous request on this handle set (freeing it),
    /// so a handle reused for many requests does not accumulate lists.
    func replace(_ option: CURLoption, _ values: [String]) throws {
        let list = try Self.list(values)
        try set(option, pointer: list)
        if let previous = replaceableLists.removeValue(forKey: option.rawValue) { curl_slist_free_all(previous) }
        if let list { replaceableLists[option.rawValue] = list }
    }

    /// Hands each chunk of the response body to `sink`, and lets it abort a transfer in progress
    /// (libcurl calls the progress function at least once a second, even while nothing arrives).
    func setReceiver(_ sink: TransferSink) throws {
        let write: curl_write_callback = { buffer, size, count, userdata in
            guard let userdata else { return 0 }
            let sink = Unmanaged<TransferSink>.fromOpaque(userdata).takeUnretainedValue()
            let length = size * count
            guard let buffer, length > 0 else { return length }
            return sink.receive(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
        }
        let progress: curl_xferinfo_callback = { userdata, _, _, _, _ in
            guard let userdata else { return 0 }
            return Unmanaged<TransferSink>.fromOpaque(userdata).takeUnretainedValue().shouldAbort() ? 1 : 0
        }
        let pointer = Unmanaged.passUnretained(sink).toOpaque()
        try check(ucp_curl_setopt_write_function(handle, write), CURLOPT_WRITEFUNCTION)
        try set(CURLOPT_WRITEDATA, pointer: pointer)
        try check(ucp_curl_setopt_xferinfo_function(handle, progress), CURLOPT_XFERINFOFUNCTION)
        try set(CURLOPT_XFERINFODATA, pointer: pointer)
        try set(CURLOPT_NOPROGRESS, false)
    }

    /// Makes the transfer an upload of `bytes`, fed to libcurl by its read callback.
    func setUpload(_ bytes: [UInt8]) throws {
        let source = UploadSource(bytes)
        upload = source
        let read: curl_read_callback = { buffer, size, count, userdata in
            guard let buffer, let userdata else { return Int(CURL_READFUNC_ABORT) }
            return Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue().read(into: buffer, capacity: size * count)
        }
        try check(ucp_curl_setopt_read_function(handle, read), CURLOPT_READFUNCTION)
        try set(CURLOPT_READDATA, pointer: Unmanaged.passUnretained(source).toOpaque())
        try set(CURLOPT_UPLOAD, true)
    }

    /// Keeps the server's reply lines: libcurl hands those of an SMTP (or FTP) server to the header
    /// function, while its own message for a refusal names only the code ("RCPT failed: 550").
    func recordReplies() throws {
        let recorder = ReplyRecorder()
        replies = recorder
        let header: curl_write_callback = { buffer, size, count, userdata in
            let length = size * count
            guard let buffer, let userdata, length > 0 else { return length }
            Unmanaged<ReplyRecorder>.fromOpaque(userdata).takeUnretainedValue()
                .append(UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }
        try check(ucp_curl_setopt_header_function(handle, header), CURLOPT_HEADERFUNCTION)
        try set(CURLOPT_HEADERDATA, pointer: Unmanaged.passUnretained(recorder).toOpaque())
    }

    /// The text of the server's last reply with `code` (after the code; the lines of a multi-line
    /// reply joined by spaces), nil when none was recorded.
    func replyText(code: Int) -> String? {
        replies?.lastReply(code: code)
    }

    /// Runs the transfer; blocks the calling thread until it ends or times out.
    func perform() -> CURLcode {
        errorBuffer[0] = 0
        return curl_easy_perform(handle)
    }

    /// The last reply code of the server (SMTP or HTTP), 0 when there was none.
    var responseCode: Int {
        var code = 0
        return ucp_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK ? code : 0
    }

    /// libcurl's detailed message for a failed transfer, or the generic text for its code.
    func failureDetail(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    func set(_ option: CURLoption, pointer: UnsafeRawPointer?) throws {
        try check(ucp_curl_setopt_pointer(handle, option, UnsafeMutableRawPointer(mutating: pointer)), option)
    }

    private func check(_ code: CURLcode, _ option: CURLoption) throws {
        guard code != CURLE_OK else { return }
        throw TransportError(curlCode: code,
                             message: "libcurl: cannot set option \(option.rawValue): \(String(cString: curl_easy_strerror(code)))")
    }
}

private final class UploadSource {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

/// The reply lines a server sent, as libcurl passes them (a line per call), the latest kept.
private final class ReplyRecorder {
    private var lines: [String] = []
    /// Bounds on what a talkative server can make us keep.
    private static let keptLines = 64, lineLength = 512

    func append(_ bytes: UnsafeRawBufferPointer) {
        var line = bytes[...]
        while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line = line.dropLast() }
        lines.append(String(decoding: line.prefix(Self.lineLength), as: UTF8.self))
        if lines.count > Self.keptLines { lines.removeFirst(lines.count - Self.keptLines) }
    }

    func lastReply(code: Int) -> String? {
        // The last line of a reply is `550 text`, the ones before it `550-text`.
        guard let last = lines.lastIndex(where: { $0.hasPrefix("\(code) ") || $0 == "\(code)" }) else { return nil }
        var first = last
        while first > lines.startIndex, lines[first - 1].hasPrefix("\(code)-") { first -= 1 }
        let text = lines[first...last].map { $0.dropFirst(4).drop(while: { $0 == " " }) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        return text.isEmpty ? nil : text
    }
}

/// Where a transfer's response body goes: set per request on a reused handle.
final class TransferSink {
    var onData: (UnsafeRawBufferPointer) -> Bool = { _ in true }
    var abort: () -> Bool = { false }
    /// Whether `onData` refused a chunk (so a write error is the receiver's doing, not the network's).
    private(set) var refused = false

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let accepted = onData(bytes)
        if !accepted { refused = true }
        return accepted
    }

    func shouldAbort() -> Bool { abort() }

    func reset() { refused = false }
}
