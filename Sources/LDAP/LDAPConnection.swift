import CLDAP
import Foundation
import Runtime

/// One bound connection to a directory server.
///
/// libldap blocks, so every call on the handle runs on the connection's own serial
/// `BlockingExecutor`, never on Swift's cooperative pool. A search streams page by page (`pages(_:)`): the next page is
/// asked for while the caller works on the current one, and no more than those two are held.
public final class LDAPConnection: @unchecked Sendable {
    /// The server this connection reached: the primary, or the backup when the primary did not answer.
    public let endpoint: LDAPEndpoint
    public let configuration: LDAPConfiguration
    private let executor: BlockingExecutor
    // Touched only on `executor` (and in deinit, when nothing else holds the connection).
    private var handle: OpaquePointer?
    /// The paged search the server still holds for this connection, if any. A directory keeps one
    /// paged search per connection: a new search first drops one its reader left behind.
    private var openSearch: OpenSearch?

    struct OpenSearch {
        /// Which `LDAPPages` reader it belongs to.
        let reader: Int
        let search: LDAPSearch
        let cookie: [UInt8]?
        let pending: Int32?
    }

    private init(endpoint: LDAPEndpoint, configuration: LDAPConfiguration, executor: BlockingExecutor,
                 handle: OpaquePointer) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.executor = executor
        self.handle = handle
    }

    deinit {
        if let handle { ldap_unbind_ext_s(handle, nil, nil) }
    }

    /// Connects (TLS as configured) and binds, trying the backup server when the primary does not answer.
    public static func connect(_ configuration: LDAPConfiguration) async throws -> LDAPConnection {
        var failures: [LDAPError] = []
        for endpoint in configuration.endpoints {
            let executor = BlockingExecutor(label: "ucp.ldap.connection")
            do {
                let handle = try await executor.run { try openHandle(endpoint, configuration) }
                return LDAPConnection(endpoint: endpoint, configuration: configuration, executor: executor, handle: handle)
            } catch let error as LDAPError where error.serverUnreachable {
                failures.append(error)
            }
        }
        if failures.count == 1 { throw failures[0] }
        throw LDAPError(code: failures.last?.code ?? LDAP_SERVER_DOWN,
                        operation: "connect to \(configuration.endpoints.map(\.url).joined(separator: " or backup "))",
                        diagnostic: failures.map(\.description).joined(separator: "; "))
    }

    /// Closes the connection (unbind). Later calls fail with "server down".
    public func close() async {
        try? await onExecutor { connection in
            if let handle = connection.handle { ldap_unbind_ext_s(handle, nil, nil) }
            connection.handle = nil
        }
    }

    // MARK: operations

    /// The entries of a paged search, page by page (RFC 2696). Pages are read on the connection's
    /// thread up to `readAhead` pages ahead of the caller (memory stays at that many pages).
    public func pages(_ search: LDAPSearch, readAhead: Int = 2) -> LDAPPages {
        LDAPPages(connection: self, search: search, readAhead: max(1, readAhead))
    }

    /// Reads one entry (a base search); nil when it does not exist.
    public func read(_ dn: String, filter: String = "(objectClass=*)", attributes: [String] = []) async throws -> LDAPEntry? {
        do {
            let page = try await page(LDAPSearch(base: dn, scope: .base, filter: filter, attributes: attributes, pageSize: 0), cookie: nil,
                                      pending: nil, index: 0, reader: 0)
            return page.page.entries.first
        } catch let error as LDAPError where error.code == LDAP_NO_SUCH_OBJECT {
            return nil
        }
    }

    /// The server's attribute type descriptions (RFC 4512 §4.2: `attributeTypes` of the subschema
    /// entry the root DSE names); empty when the server names none.
    public func schemaAttributeTypes() async throws -> [String] {
        guard let root = try await read("", attributes: ["subschemaSubentry"]), let subschema = root.first("subschemaSubentry") else { return [] }
        return try await read(subschema, filter: "(objectClass=subschema)", attributes: ["attributeTypes"])?["attributeTypes"] ?? []
    }

    /// Replaces every value of one attribute of an entry (an empty `values` removes the attribute).
    public func modifyReplace(_ dn: String, attribute: String, values: [String]) async throws {
        try await onExecutor { connection in
            let handle = try connection.liveHandle()
            var storage = values.map { Array($0.utf8) }
            let code: Int32 = storage.withUnsafeMutableBufferPointer { buffers in
                var bervals = buffers.indices.map { index in
                    buffers[index].withUnsafeMutableBufferPointer { bytes in
                        berval(bv_len: ber_len_t(bytes.count), bv_val: UnsafeMutableRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self))
                    }
                }
                return bervals.withUnsafeMutableBufferPointer { bervalBuffer in
                    var pointers: [UnsafeMutablePointer<berval>?] = bervalBuffer.indices.map { bervalBuffer.baseAddress! + $0 } + [nil]
                    return attribute.withCString { name in
                        pointers.withUnsafeMutableBufferPointer { valuePointers in
                            var modification = LDAPMod()
                            modification.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES
                            modification.mod_type = UnsafeMutablePointer(mutating: name)
                            modification.mod_vals.modv_bvals = valuePointers.baseAddress
                            return withUnsafeMutablePointer(to: &modification) { mod in
                                var mods: [UnsafeMutablePointer<LDAPMod>?] = [mod, nil]
                                return ldap_modify_ext_s(handle, dn, &mods, nil, nil)
                            }
                        }
                    }
                }
            }
            guard code == LDAP_SUCCESS else {
                throw LDAPError(code: code, operation: "modify \(attribute) of \(dn)", diagnostic: connection.diagnostic())
            }
        }
    }

    // MARK: paged search, one page

    struct FetchedPage {
        var page: LDAPPage
        /// The cookie to ask for the next page with; nil after the last.
        var cookie: [UInt8]?
        /// The request for the next page, already sent (its message ID): the server works on it while
        /// this page is decoded and handed over.
        var next: Int32?
    }

    /// Reads one page of `search` on the connection's queue: the answer to `pending` (a request sent
    /// with the previous page), or to a new request with `cookie`. `pageSize` 0 asks for no paging.
    /// `reader` names the `LDAPPages` reader asking (0: a one-off unpaged read); a new paged search
    /// first drops one another reader left open (an unpaged read leaves it alone). A reader whose
    /// search a newer one dropped gets an error at once: its next page will never come, and it must
    /// not drop the newer search in turn (its call can reach the connection after the newer one's).
    func page(_ search: LDAPSearch, cookie: [UInt8]?, pending: Int32?, index: Int, reader: Int) async throws -> FetchedPage {
        try await onExecutor { connection in
            if search.pageSize > 0 {
                let continuing = pending != nil || cookie != nil
                if continuing && connection.openSearch?.reader != reader {
                    throw LDAPError(code: LDAP_CANCELLED, operation: "search \(search.base)",
                                    diagnostic: "a newer search on this connection dropped this paged search")
                }
                if !continuing, let open = connection.openSearch, open.reader != reader { connection.drop(open) }
            }
            let messageID = try pending ?? connection.sendSearch(search, cookie: cookie)
            if search.pageSize > 0 { connection.openSearch = nil }
            let fetched = try connection.receivePage(search, messageID: messageID, index: index)
            if search.pageSize > 0 && (fetched.cookie != nil || fetched.next != nil) {
                connection.openSearch = OpenSearch(reader: reader, search: search, cookie: fetched.cookie, pending: fetched.next)
            }
            return fetched
        }
    }

    /// Tells the server to drop the paged search `reader` will not read to its end (unless a newer
    /// search already dropped it).
    func abandon(reader: Int) {
        executor.submit {
            guard let open = self.openSearch, open.reader == reader else { return }
            self.drop(open)
        }
    }

    /// Abandons the request in flight, or sends page size 0 with the last cookie (RFC 2696 §3).
    private func drop(_ open: OpenSearch) {
        openSearch = nil
        guard let handle else { return }
        if let pending = open.pending {
            ldap_abandon_ext(handle, pending, nil, nil)
        } else if let cookie = open.cookie {
            var dropped = open.search
            dropped.pageSize = 0
            if let id = try? sendSearch(dropped, cookie: cookie, pagedEvenIfZero: true) {
                _ = try? receivePage(dropped, messageID: id, index: -1)
            }
        }
    }

    /// Sends a search request (with the paged-results control and `cookie`); returns its message ID.
    private func sendSearch(_ search: LDAPSearch, cookie: [UInt8]?, pagedEvenIfZero: Bool = false) throws -> Int32 {
        let handle = try liveHandle()
        let operation = "search \(search.base)"
        var serverControls: [UnsafeMutablePointer<LDAPControl>?] = []
        defer { serverControls.forEach { if let control = $0 { ldap_control_free(control) } } }
        if search.pageSize > 0 || pagedEvenIfZero {
            var control: UnsafeMutablePointer<LDAPControl>?
            var bytes = cookie ?? []
            let code: Int32 = bytes.withUnsafeMutableBufferPointer { buffer in
                var value = berval(bv_len: ber_len_t(buffer.count),
                                   bv_val: UnsafeMutableRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self))
                if buffer.isEmpty { return ldap_create_page_control(handle, ber_int_t(search.pageSize), nil, 1, &control) }
                return ldap_create_page_control(handle, ber_int_t(search.pageSize), &value, 1, &control)
            }
            guard code == LDAP_SUCCESS, let control else { throw LDAPError(code: code, operation: operation) }
            serverControls.append(control)
        }
        serverControls.append(nil)

        var messageID: Int32 = 0
        let scope: Int32 = switch search.scope {
        case .base: ucp_ldap_scope_base
        case .oneLevel: ucp_ldap_scope_onelevel
        case .subtree: ucp_ldap_scope_subtree
        }
        let attributeStrings = search.attributes.map { strdup($0) }
        defer { attributeStrings.forEach { free($0) } }
        var attributes: [UnsafeMutablePointer<CChar>?] = attributeStrings + [nil]
        var timeout = Self.timeval(configuration.operationTimeout)
        let started: Int32 = serverControls.withUnsafeMutableBufferPointer { controls in
            attributes.withUnsafeMutableBufferPointer { names in
                ldap_search_ext(handle, search.base, scope, search.filter, search.attributes.isEmpty ? nil : names.baseAddress, 0,
                                controls.baseAddress, nil, &timeout, 0, &messageID)
            }
        }
        guard started == LDAP_SUCCESS else {
            throw LDAPError(code: started, operation: operation, diagnostic: diagnostic())
        }
        return messageID
    }

    /// Waits for the whole answer to a search request, sends the request for the next page as soon as
    /// the cookie is known, then decodes the entries.
    private func receivePage(_ search: LDAPSearch, messageID: Int32, index: Int) throws -> FetchedPage {
        let handle = try liveHandle()
        let operation = "search \(search.base)"
        var timeout = Self.timeval(configuration.operationTimeout)
        var result: OpaquePointer?
        let received = ldap_result(handle, messageID, LDAP_MSG_ALL, &timeout, &result)
        defer { if let result { ldap_msgfree(result) } }
        if received == 0 {
            ldap_abandon_ext(handle, messageID, nil, nil)
            throw LDAPError(code: LDAP_TIMEOUT, operation: operation,
                            diagnostic: "no answer within \(Int(configuration.operationTimeout)) s")
        }
        guard received > 0, let result else {
            throw LDAPError(code: resultCode(), operation: operation, diagnostic: diagnostic())
        }

        // The outcome and the cookie come last, in the SearchResultDone message.
        var finalCode: Int32 = LDAP_OTHER
        var diagnosticText: String?
        var nextCookie: [UInt8]?
        var estimate = 0
        var message = ldap_first_message(handle, result)
        while let current = message {
            if ldap_msgtype(current) == ucp_ldap_res_search_result {
                var code: Int32 = 0
                var text: UnsafeMutablePointer<CChar>?
                var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
                let parsed = ldap_parse_result(handle, current, &code, nil, &text, nil, &controls, 0)
                if let text {
                    diagnosticText = String(cString: text)
                    ldap_memfree(text)
                }
                finalCode = parsed == LDAP_SUCCESS ? code : parsed
                if let controls {
                    if let pageControl = ldap_control_find("1.2.840.113556.1.4.319", controls, nil) {
                        var size: ber_int_t = 0
                        var value = berval()
                        if ldap_parse_pageresponse_control(handle, pageControl, &size, &value) == LDAP_SUCCESS {
                            estimate = Int(size)
                            if value.bv_len > 0, let bytes = value.bv_val {
                                nextCookie = Array(UnsafeRawBufferPointer(start: bytes, count: Int(value.bv_len)))
                            }
                            ber_memfree(value.bv_val)
                        }
                    }
                    ldap_controls_free(controls)
                }
            }
            message = ldap_next_message(handle, current)
        }
        guard finalCode == LDAP_SUCCESS else {
            throw LDAPError(code: finalCode, operation: operation, diagnostic: diagnosticText)
        }
        let next = search.pageSize > 0 ? try nextCookie.map { try sendSearch(search, cookie: $0) } : nil

        var entries: [LDAPEntry] = []
        entries.reserveCapacity(max(0, search.pageSize))
        let layout = search.layout
        var scratch = [[String]](repeating: [], count: layout.names.count)
        message = ldap_first_message(handle, result)
        while let current = message {
            if ldap_msgtype(current) == ucp_ldap_res_search_entry {
                entries.append(try Self.entry(handle, current, layout: layout, scratch: &scratch))
            }
            message = ldap_next_message(handle, current)
        }
        return FetchedPage(page: LDAPPage(index: index, entries: entries, estimatedTotal: estimate), cookie: nextCookie, next: next)
    }

    /// Decodes one entry with the BER-walking calls: values of requested attributes go by position,
    /// collected in `scratch` (one list per position, reused from entry to entry).
    private static func entry(_ handle: OpaquePointer, _ message: OpaquePointer, layout: LDAPAttributeLayout,
                              scratch: inout [[String]]) throws -> LDAPEntry {
        var ber: OpaquePointer?
        var dnValue = berval()
        guard ldap_get_dn_ber(handle, message, &ber, &dnValue) == LDAP_SUCCESS else {
            throw LDAPError(code: LDAP_DECODING_ERROR, operation: "read a search entry")
        }
        defer { if let ber { ber_free(ber, 0) } }
        let dn = string(dnValue)
        for index in scratch.indices { scratch[index].removeAll(keepingCapacity: true) }
        var others: [String: [String]] = [:]
        var name = berval()
        var values: UnsafeMutablePointer<berval>?
        while ldap_get_attribute_ber(handle, message, ber, &name, &values) == LDAP_SUCCESS, let nameBytes = name.bv_val {
            let position = layout.position(of: UnsafeRawBufferPointer(start: nameBytes, count: Int(name.bv_len)))
            if let values {
                var index = 0
                while values[index].bv_val != nil {
                    let value = string(values[index])
                    if let position { scratch[position].append(value) } else { others[string(name).lowercased(), default: []].append(value) }
                    index += 1
                }
                ber_memfree(values)
            }
            values = nil
        }
        var flat: [String] = []
        var bounds: [Int32] = [0]
        bounds.reserveCapacity(scratch.count + 1)
        for list in scratch {
            flat.append(contentsOf: list)
            bounds.append(Int32(flat.count))
        }
        return LDAPEntry(dn: dn, layout: layout, values: flat, bounds: bounds, others: others)
    }

    private static func string(_ value: berval) -> String {
        guard let bytes = value.bv_val, value.bv_len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(value.bv_len)), as: UTF8.self)
    }

    // MARK: the handle

    /// Makes a handle for `endpoint`, connects, starts TLS if asked, binds. Runs on a connection queue.
    private static func openHandle(_ endpoint: LDAPEndpoint, _ configuration: LDAPConfiguration) throws -> OpaquePointer {
        var handle: OpaquePointer?
        let url = endpoint.url
        let initialized = ldap_initialize(&handle, url)
        guard initialized == LDAP_SUCCESS, let handle else {
            throw LDAPError(code: initialized, operation: "connect to \(url)")
        }
        do {
            try configure(handle, configuration, url: url)
            let connected = ldap_connect(handle)
            guard connected == LDAP_SUCCESS else {
                throw LDAPError(code: connected, operation: "connect to \(url)", diagnostic: diagnostic(handle))
            }
            if configuration.startTLS && !endpoint.useSSL {
                let started = ldap_start_tls_s(handle, nil, nil)
                guard started == LDAP_SUCCESS else {
                    // A server that answered but refused or failed TLS is not "down": no backup try.
                    let code = started == LDAP_CONNECT_ERROR ? LDAP_CONNECT_ERROR : started
                    throw LDAPError(code: code, operation: "StartTLS with \(url)", diagnostic: diagnostic(handle))
                }
            }
            try bind(handle, configuration, url: url)
            return handle
        } catch {
            ldap_unbind_ext_s(handle, nil, nil)
            throw error
        }
    }

    private static func configure(_ handle: OpaquePointer, _ configuration: LDAPConfiguration, url: String) throws {
        func set(_ option: Int32, _ value: UnsafeRawPointer?) throws {
            let code = ldap_set_option(handle, option, value)
            guard code == LDAP_OPT_SUCCESS else {
                throw LDAPError(code: code, operation: "set option \(option) for \(url)")
            }
        }
        var version = LDAP_VERSION3
        try set(LDAP_OPT_PROTOCOL_VERSION, &version)
        try set(LDAP_OPT_REFERRALS, nil) // LDAP_OPT_OFF: follow no referral (AD hands out many)
        var network = timeval(configuration.networkTimeout)
        try set(LDAP_OPT_NETWORK_TIMEOUT, &network)
        var operation = timeval(configuration.operationTimeout)
        try set(LDAP_OPT_TIMEOUT, &operation)
        var requireCertificate = configuration.verifyTLS ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER
        try set(LDAP_OPT_X_TLS_REQUIRE_CERT, &requireCertificate)
        if let caFile = configuration.caFile {
            try caFile.withCString { try set(LDAP_OPT_X_TLS_CACERTFILE, $0) }
        }
        // The options above are this handle's: a new TLS context makes them take effect.
        var isServer: Int32 = 0
        try set(LDAP_OPT_X_TLS_NEWCTX, &isServer)
    }

    private static func bind(_ handle: OpaquePointer, _ configuration: LDAPConfiguration, url: String) throws {
        let dn = configuration.bindDN ?? ""
        var password = Array((configuration.password?.revealed ?? "").utf8)
        defer { for index in password.indices { password[index] = 0 } }
        let code: Int32 = password.withUnsafeMutableBufferPointer { bytes in
            var credential = berval(bv_len: ber_len_t(bytes.count),
                                    bv_val: UnsafeMutableRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self))
            return ldap_sasl_bind_s(handle, dn, nil, &credential, nil, nil, nil)
        }
        guard code == LDAP_SUCCESS else {
            throw LDAPError(code: code, operation: "bind to \(url) as '\(dn)'", diagnostic: diagnostic(handle))
        }
    }

    private func liveHandle() throws -> OpaquePointer {
        guard let handle else { throw LDAPError(code: LDAP_SERVER_DOWN, operation: "use a closed LDAP connection") }
        return handle
    }

    private func diagnostic() -> String? { handle.flatMap(Self.diagnostic) }

    private func resultCode() -> Int32 {
        var code: Int32 = LDAP_OTHER
        if let handle { ldap_get_option(handle, LDAP_OPT_RESULT_CODE, &code) }
        return code
    }

    private static func diagnostic(_ handle: OpaquePointer) -> String? {
        var text: UnsafeMutablePointer<CChar>?
        guard ldap_get_option(handle, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text) == LDAP_OPT_SUCCESS, let text else { return nil }
        defer { ldap_memfree(text) }
        return String(cString: text)
    }

    private static func timeval(_ seconds: Double) -> Foundation.timeval {
        Foundation.timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
    }

    // MARK: the executor

    private func onExecutor<T: Sendable>(_ body: @escaping (LDAPConnection) throws -> T) async throws -> T {
        try await executor.run { try body(self) }
    }
}


