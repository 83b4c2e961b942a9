/// Which role each route of `ucp serve` needs: the one table that the server's authorization, its
/// role-matrix test and the OpenAPI document's test read. `nil`: open to anyone (the liveness probe).
public struct Route: Sendable, Hashable {
    public var method: String
    /// The path as the OpenAPI document spells it (`/api/v1/jobs/{id}`).
    public var path: String
    public var role: APIRole?

    public init(_ method: String, _ path: String, _ role: APIRole?) {
        self.method = method
        self.path = path
        self.role = role
    }
}

public enum AccessPolicy {
    /// Viewers read; operators submit, cancel and switch maintenance and start schedule runs; admins
    /// change devices, domains, schedules, settings and tokens. Routes of later issues (orders) join here.
    public static let routes: [Route] = [
        Route("GET", "/healthz", nil),
        // The status page; a browser signs in with a viewer (or higher) token, kept in a cookie.
        Route("GET", "/", .viewer),
        Route("POST", "/sign-in", nil),
        Route("POST", "/sign-out", nil),
        Route("GET", "/readyz", .viewer),
        Route("GET", "/metrics", .viewer),
        Route("GET", "/api/v1/status", .viewer),
        Route("GET", "/api/v1/jobs", .viewer),
        Route("GET", "/api/v1/jobs/{id}", .viewer),
        Route("GET", "/api/v1/jobs/{id}/log", .viewer),
        Route("POST", "/api/v1/jobs/{id}/cancel", .`operator`),
        Route("POST", "/api/v1/jobs/{id}/stop-stuck", .`operator`),
        Route("POST", "/api/v1/syncs", .`operator`),
        Route("GET", "/api/v1/maintenance", .viewer),
        Route("PUT", "/api/v1/maintenance", .`operator`),
        Route("GET", "/api/v1/audit", .viewer),
        Route("GET", "/api/v1/devices", .viewer),
        Route("GET", "/api/v1/devices/{name}", .viewer),
        Route("POST", "/api/v1/devices", .admin),
        Route("PATCH", "/api/v1/devices/{name}", .admin),
        Route("DELETE", "/api/v1/devices/{name}", .admin),
        Route("GET", "/api/v1/domains", .viewer),
        Route("GET", "/api/v1/domains/{name}", .viewer),
        Route("POST", "/api/v1/domains", .admin),
        Route("PATCH", "/api/v1/domains/{name}", .admin),
        Route("DELETE", "/api/v1/domains/{name}", .admin),
        Route("POST", "/api/v1/domains/{name}/write-back", .`operator`),
        Route("GET", "/api/v1/domains/{name}/service-areas", .viewer),
        Route("GET", "/api/v1/domains/{name}/service-areas/{area}", .viewer),
        Route("GET", "/api/v1/users", .viewer),
        Route("GET", "/api/v1/users/{user_id}", .viewer),
        Route("GET", "/api/v1/schedules", .viewer),
        Route("POST", "/api/v1/schedules", .admin),
        Route("GET", "/api/v1/schedules/{name}", .viewer),
        Route("PATCH", "/api/v1/schedules/{name}", .admin),
        Route("DELETE", "/api/v1/schedules/{name}", .admin),
        Route("GET", "/api/v1/schedules/{name}/preview", .viewer),
        Route("POST", "/api/v1/schedules/{name}/run-now", .`operator`),
        Route("GET", "/api/v1/tokens", .admin),
        Route("POST", "/api/v1/tokens", .admin),
        Route("DELETE", "/api/v1/tokens/{name}", .admin),
        Route("GET", "/api/v1/settings", .viewer),
        Route("PUT", "/api/v1/settings/{key}", .admin),
        Route("GET", "/api/v1/orders", .viewer),
        Route("GET", "/api/v1/orders/{id}", .viewer),
        Route("POST", "/api/v1/orders", .`operator`),
        // Planning writes nothing, but reads the inventory as a submit would: operators plan what they submit.
        Route("POST", "/api/v1/orders/plan", .`operator`),
        Route("POST", "/api/v1/orders/{id}/retry", .`operator`),
        Route("POST", "/api/v1/orders/{id}/rollback", .`operator`),
        Route("POST", "/api/v1/orders/{id}/cancel", .`operator`),
    ]

    public enum Decision: Sendable, Equatable {
        case allowed
        /// No token, or one that is unknown or revoked: 401.
        case unauthenticated
        /// A live token whose role is below the route's: 403.
        case forbidden(needs: APIRole)
    }

    /// What a request on `route` by `token` (nil: none, or none that authenticated) may do.
    public static func decide(_ route: Route, token: APIToken?) -> Decision {
        guard let needed = route.role else { return .allowed }
        guard let token else { return .unauthenticated }
        return token.role >= needed ? .allowed : .forbidden(needs: needed)
    }
}
