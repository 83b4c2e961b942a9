import Foundation
import HTTPAPI
import Hummingbird
import Logging
import Postgres
import Runtime

/// An RFC 9457 problem document (`application/problem+json`). A refusal of input carries the
/// command line's one-line message as `detail` and the field it names as `field`.
struct Problem: Error {
    var status: HTTPResponse.Status
    var detail: String
    var field: String?

    init(status: HTTPResponse.Status, detail: String, field: String? = nil) {
        self.status = status
        self.detail = detail
        self.field = field
    }

    /// Refused input: 404 when it names something that does not exist, 409 when the thing is in a state
    /// that refuses the change (a finished job canceled, a device still referred to, an order
    /// retried that did not fail), else 400.
    init(_ error: InputError) {
        let single = error.others.isEmpty
        let status: HTTPResponse.Status
        if single && Self.notFoundProblems.contains(where: { error.problem.hasPrefix($0) }) {
            status = .notFound
        } else if single && Self.conflictProblems.contains(where: { error.problem.contains($0) }) {
            status = .conflict
        } else {
            status = .badRequest
        }
        self.init(status: status, detail: error.lines.joined(separator: "\n"), field: error.field)
    }

    /// The stores' words for "this does not exist" (`no such job`, `no such schedule`, …).
    static let notFoundProblems = ["no such ", "no token is named", "no run yet"]
    /// Their words for "not in this state" (`already finished`, `not running`, `is progressing`, a
    /// write back to LDAP disabled by the domain's setting or while a synchronization runs, …).
    static let conflictProblems = ["already ", "not running", "is progressing", "cannot be removed while", "no run in progress",
                                   "acts on synchronizations only", "at this very moment",
                                   "; only a ", "is disabled while", "Start Write Back to LDAP is disabled", "is not performed during"]

    static func from(_ error: any Error, logger: Logger, route: Route) -> Problem {
        switch error {
        case let problem as Problem: return problem
        case let input as InputError: return Problem(input)
        case let database as PostgresError where database.kind == .raised:
            // Our own SQL functions' refusals (`job 7: no such job`) are meant for operators, as on the command line.
            return Problem(InputError(line: database.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? database.message))
        default:
            // Whatever else went wrong stays in the log (no request body, no token: neither is in `error`).
            logger.error("\(route.method) \(route.path) failed: \(error)")
            return Problem(status: .internalServerError, detail: "internal error; the server's log has the cause")
        }
    }

    func response() -> Response {
        var object: [String: Any] = ["type": "about:blank", "title": status.reasonPhrase, "status": status.code, "detail": detail]
        if let field { object["field"] = field }
        let data = (try? Representation.encode(object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/problem+json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Paths no route matches become 404 problems, and a known path with another method 405 with `Allow`.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let known: [(method: String, path: String)]

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound {
                // A literal route (`/api/v1/orders/plan`) takes its path from a parameter's (`/api/v1/orders/{id}`), as the router does.
                let matching = known.filter { Self.matches(pattern: $0.path, path: request.uri.path) }
                let literal = matching.filter { $0.path == request.uri.path }
                let methods = (literal.isEmpty ? matching : literal).map(\.method)
                if !methods.isEmpty {
                    var response = Problem(status: .methodNotAllowed,
                                           detail: "method: \(request.method.rawValue) is not allowed here (allowed: \(methods.joined(separator: ", ")))").response()
                    response.headers[.allow] = methods.joined(separator: ", ")
                    return response
                }
                return Problem(status: .notFound, detail: "path: no such endpoint").response()
            }
            return Problem(status: error.status, detail: error.body ?? error.status.reasonPhrase).response()
        }
    }

    static func matches(pattern: String, path: String) -> Bool {
        let patternParts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let pathParts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard patternParts.count == pathParts.count else { return false }
        return zip(patternParts, pathParts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
}
