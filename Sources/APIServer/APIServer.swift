import Foundation
import HTTPAPI
import Hummingbird
import JobCatalog
import Logging
import Postgres
import Runtime
import Secrets

extension ListenAddress {
    /// `ucp serve` listens on loopback unless `behindProxy`: the server speaks plain HTTP and leaves TLS
    /// to a reverse proxy in front of it (README "`ucp serve`").
    public func checkServable(behindProxy: Bool, field: String = "listen") throws(InputError) {
        guard isLoopback || behindProxy else {
            throw InputError(field: field, problem: "\(InputError.quoted(host)) is not a loopback address; the server speaks plain HTTP, "
                             + "so serving beyond this host needs a TLS-terminating reverse proxy in front of it: give --behind-proxy to say there is one")
        }
    }
}

/// What the server needs from the process that runs it.
public struct APIServerConfiguration: Sendable {
    public var listen: ListenAddress
    /// Trusts the last `X-Forwarded-For` address as the client's (for the authentication throttle).
    public var behindProxy: Bool
    /// The job types `GET /api/v1/jobs?type=` accepts: the catalog's, and the tooling's stand-ins.
    public var knownJobTypes: [any JobParameters.Type]
    /// Shown by the status endpoint as `database` (never with a password).
    public var databaseDescription: String
    public var throttleRules: AuthThrottle.Rules
    /// Connections to PostgreSQL at most.
    public var poolSize: Int
    /// A connection that sends no complete request part for this long is closed: a client that opens
    /// connections and trickles half a header (slowloris) must not hold them, and the descriptors, for ever.
    public var idleTimeout: Duration = .seconds(30)

    public init(listen: ListenAddress, behindProxy: Bool = false, knownJobTypes: [any JobParameters.Type] = JobCatalog.contracts,
                databaseDescription: String, throttleRules: AuthThrottle.Rules = .init(), poolSize: Int = 8) {
        self.listen = listen
        self.behindProxy = behindProxy
        self.knownJobTypes = knownJobTypes
        self.databaseDescription = databaseDescription
        self.throttleRules = throttleRules
        self.poolSize = poolSize
    }
}

/// Routes mounted beside the API's own: `/metrics` (the metrics work plugs its exporter in here).
/// Each must be a route of `AccessPolicy.routes`, which decides who may call it.
public struct ExtraRoute: Sendable {
    public var method: String
    public var path: String
    public var handle: @Sendable (APICall) async throws -> Response

    public init(method: String, path: String, handle: @escaping @Sendable (APICall) async throws -> Response) {
        self.method = method
        self.path = path
        self.handle = handle
    }
}

/// `ucp serve`: the REST API (`/api/v1/…`), the probes and the status page, on Hummingbird. Every
/// request but `/healthz` authenticates with a bearer token; `AccessPolicy` decides what its role may
/// do; refusals are `application/problem+json` carrying the command line's one-line message.
public struct APIServer: Sendable {
    public let configuration: APIServerConfiguration
    let database: ConnectionConfiguration
    let pool: ConnectionPool
    package let throttle: AuthThrottle
    let readiness: @Sendable () async throws -> String?
    let extraRoutes: [ExtraRoute]
    let logger: Logger
    /// `GET /api/v1/status`'s answer, read again each half second.
    let statusCache = SnapshotCache<Data>()
    /// Pages of `GET /api/v1/jobs`, by their query, read again each half second.
    let jobPages = SnapshotCache<Data>()
    /// The token each bearer secret names (by its SHA-256), read again each second: a token revoked
    /// through this server stops working here at once, one revoked by `ucp token revoke` within two.
    let tokens = SnapshotCache<APIToken?>(lifetime: .seconds(1), staleness: .seconds(2), capacity: 1024)

    /// `readiness` answers nil when ready, else why not (the database unreachable, migrations pending).
    public init(configuration: APIServerConfiguration, database: ConnectionConfiguration,
                readiness: @escaping @Sendable () async throws -> String?, extraRoutes: [ExtraRoute] = [], logger: Logger) {
        self.configuration = configuration
        self.database = database.named("ucp serve")
        self.pool = ConnectionPool(self.database, maximum: configuration.poolSize)
        self.throttle = AuthThrottle(rules: configuration.throttleRules)
        self.readiness = readiness
        self.extraRoutes = extraRoutes
        self.logger = logger
    }

    /// Every endpoint the server answers, by its route in `AccessPolicy.routes`.
    package var endpoints: [Endpoint] {
        Endpoints.all + extraRoutes.map { Endpoint($0.method, $0.path, $0.handle) } + (extraRoutes.contains { $0.path == "/metrics" }
            ? [] : [Endpoint("GET", "/metrics") { _ in Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"]) }])
    }

    /// The routes served, as `METHOD path` (the tests compare them with the OpenAPI document and the policy).
    package var servedRoutes: [String] { endpoints.map { "\($0.method) \($0.path)" } }

    /// The Hummingbird application: a Service, run in the process's service group (graceful shutdown on
    /// SIGTERM/SIGINT). `onRunning` is told the port actually bound (port 0 picks one).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: APIContext.self)
        router.add(middleware: ProblemMiddleware(known: endpoints.map { ($0.method, $0.path) }))
        var seen = Set<String>()
        for endpoint in endpoints {
            guard let route = AccessPolicy.routes.first(where: { $0.method == endpoint.method && $0.path == endpoint.path }) else {
                throw APIServerError(problem: "endpoint \(endpoint.method) \(endpoint.path) has no route in AccessPolicy.routes")
            }
            guard seen.insert("\(route.method) \(route.path)").inserted else {
                throw APIServerError(problem: "endpoint \(route.method) \(route.path) is served twice")
            }
            let services = self
            router.on(RouterPath(Self.routerPath(route.path)), method: HTTPRequest.Method(route.method)!) { request, context in
                try await services.dispatch(endpoint, route: route, request: request, context: context)
            }
        }
        let missing = AccessPolicy.routes.filter { !seen.contains("\($0.method) \($0.path)") }
        guard missing.isEmpty else {
            throw APIServerError(problem: "no endpoint serves \(missing.map { "\($0.method) \($0.path)" }.joined(separator: ", "))")
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .init(configuration.idleTimeout))),
            configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port), serverName: "ucp"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// `/api/v1/jobs/{id}` as Hummingbird spells it: `/api/v1/jobs/:id`.
    static func routerPath(_ path: String) -> String {
        path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
    }

    /// Throttle, authenticate, authorize, run; every refusal and failure as a problem document.
    func dispatch(_ endpoint: Endpoint, route: Route, request: Request, context: APIContext) async throws -> Response {
        let client = clientAddress(request: request, context: context)
        do {
            var token: APIToken?
            if route.role != nil {
                let secret = BearerCredential.secret(in: request)
                let digest = secret.map(BearerToken.digest)
                if let wait = throttle.retryAfter(client: client, digest: digest, now: Date()) {
                    var response = Problem(status: .tooManyRequests, detail: "too many failed authentications from this client; try again later").response()
                    response.headers[.retryAfter] = String(Int(wait.rounded(.up)))
                    return response
                }
                if let secret, let digest {
                    do {
                        token = try await tokens.value(digest) { [pool] in
                            try await pool.withConnection { try await TokenStore($0).tokenAuthenticate(secret: secret) }
                        }
                    } catch {
                        // Not the caller's fault: the token cannot be checked (a readiness probe reads "not ready").
                        logger.error("\(route.method) \(route.path): the token could not be checked: \(error)")
                        return Problem(status: .serviceUnavailable, detail: "database: unreachable; the token cannot be checked now").response()
                    }
                    if token == nil {
                        throttle.recordFailure(client: client, digest: digest, now: Date())
                    } else {
                        throttle.recordSuccess(client: client, digest: digest, now: Date())
                    }
                }
            }
            switch AccessPolicy.decide(route, token: token) {
            case .unauthenticated where endpoint.page:
                return StatusPage.html(StatusPage.signIn(message: nil), status: .unauthorized)
            case .unauthenticated:
                var response = Problem(status: .unauthorized, detail: "authorization: a valid bearer token is required (Authorization: Bearer ucp_…)").response()
                response.headers[.wwwAuthenticate] = "Bearer realm=\"ucp\""
                return response
            case .forbidden(let needs):
                return Problem(status: .forbidden, detail: "authorization: this needs the role \(needs.rawValue) (the token '\(token?.name ?? "")' has \(token?.role.rawValue ?? "none"))").response()
            case .allowed:
                let call = APICall(request: request, context: context, token: token, server: self)
                return try await endpoint.handle(call)
            }
        } catch {
            return Problem.from(error, logger: logger, route: route).response()
        }
    }

    func clientAddress(request: Request, context: APIContext) -> String {
        if configuration.behindProxy, let forwarded = request.header("X-Forwarded-For"),
           let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty {
            return last
        }
        return context.remoteAddress ?? "unknown"
    }

    /// Lends a pooled connection.
    package func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        try await pool.withConnection(body)
    }
}

public struct APIServerError: Error, CustomStringConvertible {
    public var problem: String
    public var description: String { "ucp serve: \(problem)" }
}

/// The request context: Hummingbird's, plus the client's address (for the throttle).
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// The secret a request carries: `Authorization: Bearer …`, else (on GET only, so that no page of
/// another site can make a change with it) the status page's cookie.
enum BearerCredential {
    static let cookieName = "ucp_session"

    static func secret(in request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
            return nil
        }
        guard request.method == .get else { return nil }
        return request.cookies[cookieName]?.value
    }
}

extension Request {
    /// The value of the header `name` (any case), if the request has it.
    func header(_ name: String) -> String? {
        headers.first { $0.name.canonicalName == name.lowercased() }?.value
    }
}
