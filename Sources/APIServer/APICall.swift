import Foundation
import HTTPAPI
import Hummingbird
import Postgres
import Runtime

/// One endpoint: its route in `AccessPolicy.routes` and what it does once the caller may.
package struct Endpoint: Sendable {
    package var method: String
    package var path: String
    package var handle: @Sendable (APICall) async throws -> Response
    /// A page for browsers: without a valid token it answers with the sign-in form (still 401).
    var page: Bool

    init(_ method: String, _ path: String, page: Bool = false, _ handle: @escaping @Sendable (APICall) async throws -> Response) {
        self.method = method
        self.path = path
        self.page = page
        self.handle = handle
    }
}

/// An authorized request: its parameters, its body read as the commands read their options (every
/// refusal an `InputError` naming the field), the caller's token and the server's connections.
public struct APICall: Sendable {
    public let request: Request
    let context: APIContext
    /// Nil only on the open routes (`/healthz`).
    public let token: APIToken?
    let server: APIServer

    /// Who the audit trail names for a change made through the API: the token's name.
    var actor: String { token?.name ?? "anonymous" }

    func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        try await server.withConnection(body)
    }

    /// A path parameter (`{name}`), percent-decoded: names may hold spaces, which a URL carries as `%20`.
    func path(_ name: String) throws -> String {
        let raw = context.parameters.get(name) ?? ""
        guard let decoded = raw.removingPercentEncoding else {
            throw InputError(field: name, problem: "must be percent-encoded UTF-8 (got \(InputError.quoted(raw)))")
        }
        return try Self.text(decoded, field: name)
    }

    /// PostgreSQL's text holds no NUL: refused as input rather than failing in the database.
    static func text(_ value: String, field: String) throws -> String {
        guard !value.unicodeScalars.contains("\u{0}") else { throw InputError(field: field, problem: "must not contain a NUL character") }
        return value
    }

    /// A path parameter that is a job id.
    func id(_ name: String = "id", field: String = "job id") throws -> Int64 {
        let text = try path(name)
        guard let id = Int64(text), id > 0 else {
            throw InputError(field: field, problem: "must be a whole number, 1 or more (got \(InputError.quoted(text)))")
        }
        return id
    }

    func query(_ name: String) throws -> String? {
        try request.uri.queryParameters[name[...]].map { try Self.text(String($0), field: name) }
    }

    func queryInt(_ name: String) throws -> Int? {
        guard let text = try query(name) else { return nil }
        guard let value = Int(text) else {
            throw InputError(field: name, problem: "must be a whole number (got \(InputError.quoted(text)))")
        }
        return value
    }

    func queryInt64(_ name: String) throws -> Int64? {
        try queryInt(name).map(Int64.init)
    }

    /// The request body as bytes (at most 1 MiB).
    func bodyBytes() async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: 1 << 20)
            return Array(buffer.readableBytesView)
        } catch {
            throw Problem(status: .contentTooLarge, detail: "body: at most 1 MiB")
        }
    }

    /// The body as a JSON object whose members are among `fields` (an empty body is an empty object).
    func body(fields: [String], bytes given: [UInt8]? = nil) async throws -> JSONBody {
        var read = given
        if read == nil { read = try await bodyBytes() }
        let bytes: [UInt8] = read ?? []
        let blank: Set<UInt8> = [0x20, 0x0a, 0x0d, 0x09]
        if bytes.allSatisfy({ blank.contains($0) }) { return JSONBody(members: [:]) }
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes)) else {
            throw InputError(field: "body", problem: "must be a JSON object")
        }
        for key in object.keys.sorted() where !fields.contains(key) {
            throw InputError(field: key, problem: "unknown field (known: \(fields.isEmpty ? "none" : fields.joined(separator: ", ")))")
        }
        // Absent and null are not the same to a reader of the request: a field is given a value, or left out.
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if case .null = value { throw InputError(field: key, problem: "must not be null (leave it out instead)") }
            if case .string(let text) = value { _ = try Self.text(text, field: key) }
            if case .array(let values) = value {
                for case .string(let text) in values { _ = try Self.text(text, field: key) }
            }
        }
        return JSONBody(members: object)
    }

    func json(_ value: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        Self.json(try Representation.encode(value), status: status)
    }

    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON value as the request gave it (JSONDecoder keeps true apart from 1, and 1 apart from 1.5).
enum JSONValue: Decodable, Sendable {
    case null, bool(Bool), int(Int64), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }
}

/// The members of a request's JSON body, typed as each field needs (a wrong type names the field).
struct JSONBody: Sendable {
    let members: [String: JSONValue]

    func string(_ name: String) throws -> String? {
        switch members[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw InputError(field: name, problem: "must be a string")
        }
    }

    func bool(_ name: String) throws -> Bool? {
        switch members[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw InputError(field: name, problem: "must be true or false")
        }
    }

    func int(_ name: String) throws -> Int? {
        switch members[name] {
        case nil, .null?: return nil
        case .int(let value)? where value.magnitude < 1 << 53: return Int(value)  // not abs: Int64.min would trap
        default: throw InputError(field: name, problem: "must be a whole number")
        }
    }

    func strings(_ name: String) throws -> [String]? {
        switch members[name] {
        case nil, .null?: return nil
        case .array(let values)?:
            return try values.map { value in
                guard case .string(let text) = value else { throw InputError(field: name, problem: "must be a list of strings") }
                return text
            }
        default: throw InputError(field: name, problem: "must be a list of strings")
        }
    }

    func required<T>(_ name: String, _ value: T?) throws -> T {
        guard let value else { throw InputError(field: name, problem: "is required") }
        return value
    }
}
