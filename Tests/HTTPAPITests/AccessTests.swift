import Foundation
import HTTPAPI
import XCTest

final class AccessTests: XCTestCase {
    // Every route × {no token, viewer, operator, admin}: open, 401 or 403 by the table.
    func testRoleMatrixOfEveryRoute() {
        XCTAssertEqual(Set(AccessPolicy.routes.map { "\($0.method) \($0.path)" }).count, AccessPolicy.routes.count,
                       "each route listed once")
        for route in AccessPolicy.routes {
            let anonymous = AccessPolicy.decide(route, token: nil)
            XCTAssertEqual(anonymous, route.role == nil ? .allowed : .unauthenticated, route.path)
            for role in APIRole.allCases {
                let decision = AccessPolicy.decide(route, token: token(role))
                if let needed = route.role, role < needed {
                    XCTAssertEqual(decision, .forbidden(needs: needed), "\(route.method) \(route.path) as \(role)")
                } else {
                    XCTAssertEqual(decision, .allowed, "\(route.method) \(route.path) as \(role)")
                }
            }
        }
        // The rule, spelled out for the routes that change things.
        let changes = Dictionary(grouping: AccessPolicy.routes.filter { $0.method != "GET" && $0.role != nil }, by: { $0.role! })
            .mapValues { $0.map { "\($0.method) \($0.path)" } }
        XCTAssertEqual(changes[.viewer], nil, "a viewer changes nothing")
        XCTAssertEqual(changes[.`operator`], [
            "POST /api/v1/jobs/{id}/cancel", "POST /api/v1/jobs/{id}/stop-stuck", "POST /api/v1/syncs",
            "PUT /api/v1/maintenance", "POST /api/v1/domains/{name}/write-back", "POST /api/v1/schedules/{name}/run-now",
            "POST /api/v1/orders", "POST /api/v1/orders/plan", "POST /api/v1/orders/{id}/retry",
            "POST /api/v1/orders/{id}/rollback", "POST /api/v1/orders/{id}/cancel",
        ])
        XCTAssertEqual(changes[.admin], [
            "POST /api/v1/devices", "PATCH /api/v1/devices/{name}", "DELETE /api/v1/devices/{name}",
            "POST /api/v1/domains", "PATCH /api/v1/domains/{name}", "DELETE /api/v1/domains/{name}",
            "POST /api/v1/schedules", "PATCH /api/v1/schedules/{name}", "DELETE /api/v1/schedules/{name}",
            "POST /api/v1/tokens", "DELETE /api/v1/tokens/{name}", "PUT /api/v1/settings/{key}",
        ])
        // Open: the liveness probe, and signing in and out (which check the token themselves).
        XCTAssertEqual(AccessPolicy.routes.filter { $0.role == nil }.map(\.path), ["/healthz", "/sign-in", "/sign-out"])
    }

    // Five free failures, then a doubling wait capped at the maximum; a success forgets the client;
    // other clients are not slowed.
    func testRepeatedFailuresFromOneClientAreSlowedDown() {
        var rules = AuthThrottle.Rules()
        rules.freeFailures = 5
        rules.baseDelay = 1
        rules.maxDelay = 8
        let throttle = AuthThrottle(rules: rules)
        var now = Date(timeIntervalSince1970: 1_000_000)
        for _ in 1...5 {
            XCTAssertNil(throttle.retryAfter(client: "10.0.0.1", now: now))
            throttle.recordFailure(client: "10.0.0.1", now: now)
        }
        XCTAssertNil(throttle.retryAfter(client: "10.0.0.1", now: now), "five failures are free")
        var waits: [Double] = []
        for _ in 1...6 {
            throttle.recordFailure(client: "10.0.0.1", now: now)
            let wait = throttle.retryAfter(client: "10.0.0.1", now: now) ?? 0
            waits.append(wait)
            now = now.addingTimeInterval(wait)
            XCTAssertNil(throttle.retryAfter(client: "10.0.0.1", now: now), "the wait ends")
        }
        XCTAssertEqual(waits, [1, 2, 4, 8, 8, 8])
        XCTAssertNil(throttle.retryAfter(client: "10.0.0.2", now: now), "another client is not slowed")
        throttle.recordFailure(client: "10.0.0.1", now: now)
        XCTAssertNotNil(throttle.retryAfter(client: "10.0.0.1", now: now))
        throttle.recordSuccess(client: "10.0.0.1", digest: "fixed", now: now)
        XCTAssertNil(throttle.retryAfter(client: "10.0.0.1", now: now), "a success forgets the failures")
    }

    // Callers behind one address: a secret that authenticated passes the wait that another caller's
    // failures caused; a secret never seen, or one that failed since (revoked), still waits.
    func testASecretThatAuthenticatedIsNotHeldBackByAnotherCallersFailures() {
        let throttle = AuthThrottle(rules: AuthThrottle.Rules())
        let now = Date(timeIntervalSince1970: 1_000_000)
        throttle.recordSuccess(client: "127.0.0.1", digest: "admin", now: now)
        for _ in 1...6 { throttle.recordFailure(client: "127.0.0.1", digest: "revoked", now: now) }
        XCTAssertNotNil(throttle.retryAfter(client: "127.0.0.1", digest: "revoked", now: now))
        XCTAssertNotNil(throttle.retryAfter(client: "127.0.0.1", digest: "guess", now: now), "a secret never seen waits")
        XCTAssertNotNil(throttle.retryAfter(client: "127.0.0.1", now: now), "no secret waits")
        XCTAssertNil(throttle.retryAfter(client: "127.0.0.1", digest: "admin", now: now), "the admin's secret goes ahead")
        throttle.recordFailure(client: "127.0.0.1", digest: "admin", now: now)
        XCTAssertNotNil(throttle.retryAfter(client: "127.0.0.1", digest: "admin", now: now), "once it fails (revoked) it waits too")
    }

    private func token(_ role: APIRole) -> APIToken {
        APIToken(id: 1, name: "t", role: role, createdBy: "test", createdAt: Date(timeIntervalSince1970: 0))
    }
}
