import Foundation
import HTTPAPI
import Hummingbird
import Inventory
import JobCatalog
import Orders
import Postgres
import Queue
import Runtime
import Schedules
import ScheduleRules

/// What each route does. Each calls the same stores and checks as its command (`ucp jobs list` and
/// `GET /api/v1/jobs` both build a `JobFilter`, …), so bad input is refused the same way, naming the
/// same field, before anything is written; every change is audited with the token's name as actor.
enum Endpoints {
    static var all: [Endpoint] {
        probes + StatusPage.endpoints + jobs + [syncs, writeBack] + maintenance + [audit] + inventory + schedules + [tokens] + orders + admin
    }

    // MARK: probes and status

    static let probes: [Endpoint] = [
        Endpoint("GET", "/healthz") { call in try call.json(["status": "alive"]) },
        Endpoint("GET", "/readyz") { call in
            let reason: String?
            do {
                reason = try await call.server.readiness()
            } catch {
                // The probe is read by anyone with a token: the error (host, port, role, database) goes to the log only.
                call.server.logger.error("/readyz: the database cannot be read: \(error)")
                reason = "database: unreachable"
            }
            if let reason { throw Problem(status: .serviceUnavailable, detail: reason) }
            return try call.json(["status": "ready"])
        },
        Endpoint("GET", "/api/v1/status") { call in
            // One read and one encoding per half second, shared by every caller (a dashboard polled by many).
            APICall.json(try await call.server.statusCache.value {
                let status = try await call.withConnection { try await QueueStore($0).statusSnapshot(workersWithinSeconds: 120) }
                return try Representation.encode(Representation.status(status, database: call.server.configuration.databaseDescription),
                                                 sorted: false)
            })
        },
    ]

    // MARK: jobs

    static let jobs: [Endpoint] = [
        Endpoint("GET", "/api/v1/jobs") { call in
            let filter = try JobFilter(state: try call.query("state"), type: try call.query("type"), limit: try call.queryInt("limit") ?? 50,
                                       beforeID: try call.queryInt64("before"))
            if let type = filter.type { _ = try JobCatalog.contract(named: type, among: call.server.configuration.knownJobTypes) }
            // A page (newest first, keyset on the id) is read and encoded once per half second for all callers.
            let key = "\(filter.state?.rawValue ?? "")|\(filter.type ?? "")|\(filter.limit)|\(filter.beforeID.map(String.init) ?? "")"
            return APICall.json(try await call.server.jobPages.value(key) {
                let jobs = try await call.withConnection { try await QueueStore($0).jobList(filter) }
                let next: Any = jobs.count == filter.limit ? jobs.last!.id : NSNull()
                return try Representation.encode(["jobs": jobs.map(Representation.job), "next_before": next], sorted: false)
            })
        },
        Endpoint("GET", "/api/v1/jobs/{id}") { call in
            let id = try call.id()
            guard let job = try await call.withConnection({ try await QueueStore($0).jobGet(id: id) }) else {
                throw InputError(field: "job \(id)", problem: "no such job")
            }
            return try call.json(Representation.job(job))
        },
        Endpoint("GET", "/api/v1/jobs/{id}/log") { call in
            let id = try call.id()
            let limit = try call.queryInt("limit") ?? 1000
            guard (1...100000).contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 100000") }
            let after = try call.queryInt64("after")
            if let after, after < 0 { throw InputError(field: "after", problem: "must be a whole number, 0 or more") }
            let lines = try await call.withConnection { connection -> [JobLogLine]? in
                let store = QueueStore(connection)
                guard try await store.jobGet(id: id) != nil else { return nil }
                return try await store.jobLogRead(id: id, after: after, limit: limit)
            }
            guard let lines else { throw InputError(field: "job \(id)", problem: "no such job") }
            let next: Any = lines.count == limit ? lines.last!.id : NSNull()
            return try call.json(["lines": lines.map(Representation.jobLog), "next_after": next])
        },
        Endpoint("POST", "/api/v1/jobs/{id}/cancel") { call in
            let id = try call.id()
            _ = try await call.body(fields: [])
            let state = try await call.withConnection { try await OrderStore($0).jobCancel(id: id, actor: call.actor) }
            return try call.json(["id": id, "state": state.rawValue])
        },
        Endpoint("POST", "/api/v1/jobs/{id}/stop-stuck") { call in
            let id = try call.id()
            let body = try await call.body(fields: ["idle"])
            let params = try QueueStore.StopStuckParams.operatorRequest(id: id, actor: call.actor, idle: try body.string("idle") ?? "60s")
            let job = try await call.withConnection { try await QueueStore($0).jobStopStuck(params) }
            return try call.json(Representation.job(job))
        },
    ]

    // MARK: syncs

    /// `ucp submit sync` over HTTP. With an `Idempotency-Key`, a retry of the same request gets the first
    /// answer again (the queue's de-duplication key already keeps a second equal sync out of the queue).
    static let syncs = Endpoint("POST", "/api/v1/syncs") { call in
        try await idempotent(call, path: "/api/v1/syncs") { bytes in
            let body = try await call.body(fields: ["kind", "device", "domain", "dry_run", "allow_deletes", "priority"], bytes: bytes)
            let submission = try SyncSubmission(
                kind: try body.required("kind", body.string("kind")), device: try body.string("device"), domain: try body.string("domain"),
                dryRun: try body.bool("dry_run") ?? false, allowDeletes: try body.int("allow_deletes"),
                priority: try body.int("priority") ?? 0, actor: call.actor)
            let (job, created) = try await call.withConnection { connection -> (Job, Bool) in
                let (id, created) = try await submission.enqueue(connection)
                guard let job = try await QueueStore(connection).jobGet(id: id) else {
                    throw InputError(field: "job \(id)", problem: "no such job")
                }
                return (job, created)
            }
            return (created ? .accepted : .ok, try Representation.encode(["created": created, "job": Representation.job(job)]))
        }
    }

    /// `ucp domain write-back` over HTTP: the seed's "Start Write Back to LDAP" of a whole domain, refused
    /// and queued by the command's own function (`WriteBackSubmission.enqueue`). A write-back already
    /// queued is not queued again (200, `created: false`).
    static let writeBack = Endpoint("POST", "/api/v1/domains/{name}/write-back") { call in
        let name = try call.path("name")
        _ = try await call.body(fields: [])
        let (job, created) = try await call.withConnection { connection -> (Job, Bool) in
            let (id, created) = try await WriteBackSubmission.enqueue(domain: name, actor: call.actor, connection: connection)
            guard let job = try await QueueStore(connection).jobGet(id: id) else {
                throw InputError(field: "job \(id)", problem: "no such job")
            }
            return (job, created)
        }
        return try call.json(["created": created, "job": Representation.job(job)], status: created ? .accepted : .ok)
    }

    /// A submit with an optional `Idempotency-Key` (syncs, orders): a token's retry of the same request
    /// (method, path, body) gets the first answer again, marked `Idempotent-Replayed`; the key used with
    /// another request is refused (409), as is a retry sent while the first is still being answered (the
    /// key is claimed before the work, so two requests sent together never both do it). `submit` reads
    /// the body and answers 202 when it made something new.
    static func idempotent(_ call: APICall, path: String,
                           _ submit: ([UInt8]) async throws -> (HTTPResponse.Status, Data)) async throws -> Response {
        let bytes = try await call.bodyBytes()
        let key = call.request.header("Idempotency-Key")
        if let key { try IdempotencyStore.validateKey(key) }
        guard let key, let tokenID = call.token?.id else {
            let (status, data) = try await submit(bytes)
            return APICall.json(data, status: status)
        }
        let digest = IdempotencyStore.requestDigest(method: "POST", path: path, body: bytes)
        switch try await call.withConnection({ try await IdempotencyStore($0).claim(tokenID: tokenID, key: key, requestDigest: digest) }) {
        case .new: break
        case .replay(let status, let body):
            var response = APICall.json(Data(body.utf8), status: HTTPResponse.Status(code: status))
            response.headers[.init("Idempotent-Replayed")!] = "true"
            return response
        case .conflict:
            throw Problem(status: .conflict, detail: "Idempotency-Key: already used with another request", field: "Idempotency-Key")
        case .inProgress:
            throw Problem(status: .conflict, detail: "Idempotency-Key: the same request is still being answered; send it again in a moment",
                          field: "Idempotency-Key")
        }
        let status: HTTPResponse.Status, data: Data
        do {
            (status, data) = try await submit(bytes)
        } catch {
            // Refused: the key is free again. Should that fail too, the claim lapses after `claimMinutes`.
            try? await call.withConnection { try await IdempotencyStore($0).release(tokenID: tokenID, key: key, requestDigest: digest) }
            throw error
        }
        try await call.withConnection {
            try await IdempotencyStore($0).record(tokenID: tokenID, key: key, requestDigest: digest, status: status.code,
                                                  body: String(decoding: data, as: UTF8.self))
        }
        return APICall.json(data, status: status)
    }

    // MARK: maintenance and audit

    static let maintenance: [Endpoint] = [
        Endpoint("GET", "/api/v1/maintenance") { call in
            try call.json(Representation.maintenance(try await call.withConnection { try await QueueStore($0).maintenanceState() }))
        },
        Endpoint("PUT", "/api/v1/maintenance") { call in
            let body = try await call.body(fields: ["active"])
            let active = try body.required("active", body.bool("active"))
            let state = try await call.withConnection { connection in
                let store = QueueStore(connection)
                try await store.maintenanceSet(on: active, actor: call.actor)
                return try await store.maintenanceState()
            }
            return try call.json(Representation.maintenance(state))
        },
    ]

    static let audit = Endpoint("GET", "/api/v1/audit") { call in
        let filter = try AuditFilter(since: try call.query("since"), jobID: try call.queryInt64("job"), limit: try call.queryInt("limit") ?? 1000,
                                     afterID: try call.queryInt64("after"), actor: try call.query("actor"), action: try call.query("action"))
        let entries = try await call.withConnection { try await QueueStore($0).auditList(filter) }
        let next: Any = entries.count == filter.limit ? entries.last!.id : NSNull()
        return try call.json(["entries": entries.map(Representation.audit), "next_after": next])
    }

    // MARK: devices, domains, service areas, users

    static let inventory: [Endpoint] = [
        Endpoint("GET", "/api/v1/devices") { call in
            let devices = try await call.withConnection { try await DeviceStore($0).deviceList() }
            return try call.json(["devices": devices.map(Representation.device)])
        },
        Endpoint("GET", "/api/v1/devices/{name}") { call in
            let name = try call.path("name")
            guard let device = try await call.withConnection({ try await DeviceStore($0).deviceGet(name: name) }) else {
                throw DeviceStore.noSuchDevice(name)
            }
            return try call.json(Representation.device(device))
        },
        Endpoint("DELETE", "/api/v1/devices/{name}") { call in
            let name = try call.path("name")
            try await call.withConnection { try await DeviceStore($0).deviceRemove(name: name, actor: call.actor) }
            return Response(status: .noContent)
        },
        Endpoint("GET", "/api/v1/domains") { call in
            let domains = try await call.withConnection { try await DomainStore($0).domainList() }
            return try call.json(["domains": domains.map(Representation.domain)])
        },
        Endpoint("GET", "/api/v1/domains/{name}") { call in
            let name = try call.path("name")
            return APICall.json(try await call.withConnection { try await domainDetail(name, connection: $0) })
        },
        Endpoint("DELETE", "/api/v1/domains/{name}") { call in
            let name = try call.path("name")
            try await call.withConnection { try await DomainStore($0).domainRemove(name: name, actor: call.actor) }
            return Response(status: .noContent)
        },
        Endpoint("GET", "/api/v1/domains/{name}/service-areas") { call in
            let name = try call.path("name")
            let areas = try await call.withConnection { connection -> [ServiceArea] in
                guard try await DomainStore(connection).domain(named: name) != nil else { throw DomainStore.noSuchDomain(name) }
                return try await ServiceAreaStore(connection).serviceAreaList(domain: name)
            }
            return try call.json(["service_areas": areas.map(Representation.serviceArea)])
        },
        Endpoint("GET", "/api/v1/domains/{name}/service-areas/{area}") { call in
            let (domain, name) = (try call.path("name"), try call.path("area"))
            guard let area = try await call.withConnection({ try await ServiceAreaStore($0).serviceArea(domain: domain, name: name) }) else {
                throw ServiceAreaStore.noSuchArea(domain: domain, name: name)
            }
            return try call.json(Representation.serviceArea(area))
        },
        Endpoint("GET", "/api/v1/users") { call in
            guard let domain = try call.query("domain") else { throw InputError(field: "domain", problem: "is required") }
            let limit = try call.queryInt("limit") ?? 1000
            guard (1...10000).contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 10000") }
            let after = try call.query("after")
            let users = try await call.withConnection { try await UserStore($0).userList(domain: domain, after: after, limit: limit) }
            let next: Any = users.count == limit ? users.last!.userID : NSNull()
            return try call.json(["users": users.map(Representation.user), "next_after": next])
        },
        Endpoint("GET", "/api/v1/users/{user_id}") { call in
            let userID = try call.path("user_id")
            let object = try await call.withConnection { connection -> Data in
                let store = UserStore(connection)
                guard let user = try await store.userGet(userID: userID) else { throw UserStore.noSuchUser(userID) }
                return try Representation.encode(Representation.userDetail(
                    user, services: try await store.userServices(userID: user.userID),
                    deleteOrders: try await store.userDeleteOrders(userID: user.userID)))
            }
            return APICall.json(object)
        },
    ]

    // MARK: schedules

    static let scheduleFields = ["every", "start", "time_zone", "builder", "granular", "force_domain", "parallel",
                                 "abort_on_failure", "allow_unknown"]

    /// The fields of `schedule add|edit`, as the command line's `ScheduleChange` reads them.
    static func scheduleChange(_ body: JSONBody) throws -> ScheduleChange {
        if try body.strings("builder") != nil && body.string("granular") != nil { throw ScheduleChange.selectionTwice }
        return try ScheduleChange(every: try body.string("every"), start: try body.string("start"), timeZone: try body.string("time_zone"),
                                  builder: try body.strings("builder") ?? [], granularText: try body.string("granular"),
                                  forceDomain: try body.bool("force_domain"), parallel: try body.bool("parallel"),
                                  abortOnFailure: try body.bool("abort_on_failure"))
    }

    static func scheduleJSON(_ schedule: Schedule, connection: Connection, allowUnknown: Bool) async throws -> [String: Any] {
        var object = Representation.schedule(schedule, latestRun: try await ScheduleRunStore(connection).runStatusLatest(schedule: schedule.name))
        object["warnings"] = allowUnknown
            ? try await ScheduleStore(connection).unknownObjects(in: schedule.definition).map { "granular: \($0)" } : []
        return object
    }

    static let schedules: [Endpoint] = [
        Endpoint("GET", "/api/v1/schedules") { call in
            let data = try await call.withConnection { connection -> Data in
                let runs = ScheduleRunStore(connection)
                var objects: [[String: Any]] = []
                for schedule in try await ScheduleStore(connection).scheduleList() {
                    objects.append(Representation.schedule(schedule, latestRun: try await runs.runStatusLatest(schedule: schedule.name)))
                }
                return try Representation.encode(["schedules": objects])
            }
            return APICall.json(data)
        },
        Endpoint("POST", "/api/v1/schedules") { call in
            let body = try await call.body(fields: ["name"] + scheduleFields)
            let name = try body.required("name", body.string("name"))
            let definition = try scheduleChange(body).definition(name: name)
            let allowUnknown = try body.bool("allow_unknown") ?? false
            let data = try await call.withConnection { connection -> Data in
                let schedule = try await ScheduleStore(connection).scheduleAdd(definition, actor: call.actor, allowUnknown: allowUnknown)
                return try Representation.encode(try await scheduleJSON(schedule, connection: connection, allowUnknown: allowUnknown))
            }
            return APICall.json(data, status: .created)
        },
        Endpoint("GET", "/api/v1/schedules/{name}") { call in
            let name = try call.path("name")
            let data = try await call.withConnection { connection -> Data in
                guard let schedule = try await ScheduleStore(connection).scheduleGet(name: name) else { throw ScheduleStore.noSuchSchedule(name) }
                return try Representation.encode(Representation.schedule(
                    schedule, latestRun: try await ScheduleRunStore(connection).runStatusLatest(schedule: name)))
            }
            return APICall.json(data)
        },
        Endpoint("PATCH", "/api/v1/schedules/{name}") { call in
            let name = try call.path("name")
            let body = try await call.body(fields: scheduleFields)
            let change = try scheduleChange(body)
            let allowUnknown = try body.bool("allow_unknown") ?? false
            let data = try await call.withConnection { connection -> Data in
                let schedule = try await ScheduleStore(connection).scheduleUpdate(name: name, actor: call.actor, allowUnknown: allowUnknown) {
                    try change.apply(to: &$0)
                }
                return try Representation.encode(try await scheduleJSON(schedule, connection: connection, allowUnknown: allowUnknown))
            }
            return APICall.json(data)
        },
        Endpoint("DELETE", "/api/v1/schedules/{name}") { call in
            let name = try call.path("name")
            try await call.withConnection { try await ScheduleStore($0).scheduleDelete(names: [name], actor: call.actor) }
            return Response(status: .noContent)
        },
        Endpoint("GET", "/api/v1/schedules/{name}/preview") { call in
            let name = try call.path("name")
            let preview = try await call.withConnection { connection -> SchedulePreview in
                guard let schedule = try await ScheduleStore(connection).scheduleGet(name: name) else { throw ScheduleStore.noSuchSchedule(name) }
                return SchedulePreview(schedule.definition, catalog: try await InventoryCatalogSource(connection).catalog())
            }
            if !preview.errors.isEmpty { throw InputError(preview.errors.map(InputError.init(line:))) }
            return try call.json(["lines": preview.lines])
        },
        Endpoint("POST", "/api/v1/schedules/{name}/run-now") { call in
            let name = try call.path("name")
            _ = try await call.body(fields: [])
            let run = try await call.withConnection { try await ScheduleRunStore($0).runNow(name: name, actor: call.actor) }
            return try call.json(["run": run.id, "job": run.jobID.map { $0 as Any } ?? NSNull()], status: .accepted)
        },
    ]

    // MARK: tokens

    static let tokens = Endpoint("GET", "/api/v1/tokens") { call in
        let tokens = try await call.withConnection { try await TokenStore($0).tokenList() }
        return try call.json(["tokens": tokens.map(Representation.token)])
    }
}
