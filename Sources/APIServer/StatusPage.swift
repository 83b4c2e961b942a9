import Foundation
import HTTPAPI
import Hummingbird
import Orders
import Postgres
import Queue
import Runtime
import ScheduleRules
import Schedules
import Secrets

/// The status page at `/`: plain server-rendered HTML and a little CSS, no script. It reloads itself
/// every few seconds (polling), so the progress bars of running syncs move. A browser signs in with a
/// viewer (or higher) token, which the server keeps in an HttpOnly, SameSite=Strict cookie.
enum StatusPage {
    static let refreshSeconds = 3
    /// How long a sign-in lasts in the browser.
    static let cookieSeconds = 12 * 3600

    static let endpoints: [Endpoint] = [
        Endpoint("GET", "/", page: true) { call in
            let snapshot = try await call.withConnection { connection in
                try await Snapshot.read(connection)
            }
            return html(render(snapshot, token: call.token, database: call.server.configuration.databaseDescription))
        },
        Endpoint("POST", "/sign-in") { call in
            // Login CSRF: another site's page must not sign this browser in with a token of its choosing.
            if let refusal = refusedFromAnotherSite(call, action: "sign-in") { return refusal }
            let client = call.server.clientAddress(request: call.request, context: call.context)
            let throttle = call.server.throttle
            let form = FormBody(bytes: try await call.bodyBytes())
            let secret = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let digest = secret.isEmpty ? nil : BearerToken.digest(secret)
            if let wait = throttle.retryAfter(client: client, digest: digest, now: Date()) {
                var response = html(signIn(message: "Too many failed sign-ins from here; try again in \(Int(wait.rounded(.up))) s."),
                                    status: .tooManyRequests)
                response.headers[.retryAfter] = String(Int(wait.rounded(.up)))
                return response
            }
            guard let digest, let token = try await call.withConnection({ try await TokenStore($0).tokenAuthenticate(secret: secret) })
            else {
                throttle.recordFailure(client: client, digest: digest, now: Date())
                return html(signIn(message: "That token is not valid (unknown or revoked)."), status: .unauthorized)
            }
            throttle.recordSuccess(client: client, digest: digest, now: Date())
            // The cookie holds the token itself: HttpOnly (no script reads it), SameSite=Strict (no other
            // site's page sends it), Secure behind the TLS proxy; and it is honoured on GET routes only.
            var cookie = "\(BearerCredential.cookieName)=\(secret); Path=/; Max-Age=\(cookieSeconds); HttpOnly; SameSite=Strict"
            if call.server.configuration.behindProxy { cookie += "; Secure" }
            var response = Response(status: .seeOther, headers: [.location: "/", .setCookie: cookie, .cacheControl: "no-store"])
            response.headers[.contentType] = "text/html; charset=utf-8"
            _ = token
            return response
        },
        Endpoint("POST", "/sign-out") { call in
            // Logout CSRF: another site's page must not sign this browser out.
            if let refusal = refusedFromAnotherSite(call, action: "sign-out") { return refusal }
            return Response(status: .seeOther, headers: [
                .location: "/", .cacheControl: "no-store",
                .setCookie: "\(BearerCredential.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
            ])
        },
    ]

    /// The answer to a sign-in or sign-out form posted from another site's page (403, saying why, the
    /// origin logged), or nil when it may go on: the one check both forms pass.
    static func refusedFromAnotherSite(_ call: APICall, action: String) -> Response? {
        guard let foreign = foreignOrigin(call.request, behindProxy: call.server.configuration.behindProxy) else { return nil }
        call.server.logger.warning("POST /\(action) refused: sent from another origin (\(InputError.quoted(foreign)))")
        let verb = action.prefix(1).uppercased() + action.dropFirst().replacingOccurrences(of: "-", with: " ")
        return html(signIn(message: "\(verb) from this page: a \(action) sent from another site is refused."), status: .forbidden)
    }

    /// The origin a cross-site request names, or nil when it comes from this server's own pages: its
    /// `Origin` (else its `Referer`) must name the request's `Host` (host and port; the scheme is left
    /// out, as a TLS proxy in front speaks HTTPS for us) — behind a proxy, or the `X-Forwarded-Host`
    /// it sets (a proxy may send its upstream's address as `Host`; no cross-site form can set that
    /// header). A request with neither `Origin` nor `Referer` (curl, a script) is no browser's
    /// cross-site form post, and is let through.
    static func foreignOrigin(_ request: Request, behindProxy: Bool) -> String? {
        guard let source = request.header("Origin") ?? request.header("Referer") else { return nil }
        guard let components = URLComponents(string: source), let sourceHost = components.host, !sourceHost.isEmpty else { return source }
        // A default port may be spelled out on one side only.
        func normalized(_ authority: String) -> String {
            let lowered = authority.lowercased()
            for port in [":80", ":443"] where lowered.hasSuffix(port) { return String(lowered.dropLast(port.count)) }
            return lowered
        }
        let sourceAuthority = normalized((components.percentEncodedHost ?? sourceHost) + (components.port.map { ":\($0)" } ?? ""))
        var hosts = [request.head.authority ?? request.header("Host")]
        if behindProxy {
            hosts.append(request.header("X-Forwarded-Host")?.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) })
        }
        return hosts.contains { $0.map(normalized) == sourceAuthority } ? nil : source
    }

    /// What the page shows, read in one go.
    struct Snapshot {
        var status: QueueStatus
        var schedules: [Schedule]
        var recentJobs: [Job]
        var recentOrders: [OrderStore.Progress]
        var audit: [AuditEntry]

        static func read(_ connection: Connection) async throws -> Snapshot {
            let queue = QueueStore(connection)
            return Snapshot(
                status: try await queue.statusSnapshot(workersWithinSeconds: 120),
                schedules: try await ScheduleStore(connection).scheduleList(),
                recentJobs: try await queue.jobList(state: nil, type: nil, limit: 10),
                recentOrders: try await OrderStore(connection).recent(limit: 10),
                audit: try await queue.auditTail(limit: 10))
        }
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
        h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
        table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
        th{background:#f0f0f0}.muted{color:#777}.on{color:#b00;font-weight:600}.off{color:#070}
        progress{width:16em;height:1em;vertical-align:middle}form.inline{display:inline}
        header{display:flex;justify-content:space-between;align-items:baseline}
        """

    static func page(title: String, refresh: Bool, _ body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" : "")
        <meta name="viewport" content="width=device-width, initial-scale=1"><style>\(style)</style></head>
        <body>\(body)</body></html>
        """
    }

    static func signIn(message: String?) -> String {
        page(title: "UCProvision — sign in", refresh: false, """
            <h1>UCProvision</h1>
            <p>Sign in with an API token (any role; <code>ucp token create --name N --role viewer</code>).</p>
            \(message.map { "<p class=\"on\" id=\"sign-in-error\">\(escape($0))</p>" } ?? "")
            <form method="post" action="/sign-in" id="sign-in">
            <label>Token <input type="password" name="token" id="token" autocomplete="off" size="50" required></label>
            <button type="submit" id="sign-in-button">Sign in</button></form>
            """)
    }

    static func time(_ date: Date?) -> String {
        date.map { String(PostgresTimestamp.format($0).prefix(19)).replacingOccurrences(of: "T", with: " ") } ?? "-"
    }

    static func render(_ snapshot: Snapshot, token: APIToken?, database: String) -> String {
        let status = snapshot.status
        var body = """
            <header><h1>UCProvision status</h1><span>signed in as <b id="signed-in-as">\(escape(token?.name ?? "?"))</b> \
            (\(escape(token?.role.rawValue ?? "?"))) <form class="inline" method="post" action="/sign-out">\
            <button type="submit">Sign out</button></form></span></header>
            <p class="muted">\(escape(database)) · updated \(escape(time(Date()))) UTC · reloads every \(refreshSeconds) s</p>
            """
        let maintenance = status.maintenance
        body += "<h2>Maintenance mode</h2><p id=\"maintenance\" data-active=\"\(maintenance.active)\">"
        body += maintenance.active
            ? "<span class=\"on\">ON</span> — \(escape(maintenance.reason ?? "")) (since \(escape(time(maintenance.since))))"
            : "<span class=\"off\">off</span>"
        body += "</p><p>Leader: <span id=\"leader\">\(escape(status.leader.map { "\($0.holder) (since \(time($0.electedAt)))" } ?? "none"))</span></p>"

        body += "<h2>Running synchronizations</h2>"
        if status.runningSyncs.isEmpty {
            body += "<p id=\"running-syncs\" class=\"muted\">none</p>"
        } else {
            body += "<table id=\"running-syncs\"><tr><th>job</th><th>type</th><th>target</th><th>worker</th><th>progress</th></tr>"
            for job in status.runningSyncs {
                let done = job.progress.done
                let total = job.progress.total ?? 0
                let percent = total > 0 ? Int(Double(done) * 100 / Double(total)) : 0
                let bar = total > 0 ? "<progress max=\"\(total)\" value=\"\(done)\">\(percent)%</progress>" : "<progress></progress>"
                body += "<tr class=\"sync\" data-job-id=\"\(job.id)\" data-target=\"\(escape(job.target ?? ""))\" data-done=\"\(done)\" "
                    + "data-total=\"\(total)\"><td>\(job.id)</td><td>\(escape(job.type))</td><td>\(escape(job.target ?? "-"))</td>"
                    + "<td>\(escape(job.worker ?? "-"))</td><td>\(bar) <span class=\"progress-text\">\(done)/\(total)"
                    + "\(total > 0 ? " (\(percent)%)" : "") \(escape(job.progress.message ?? ""))</span></td></tr>"
            }
            body += "</table>"
        }

        body += "<h2>Queue</h2>"
        if status.queue.isEmpty {
            body += "<p id=\"queue\" class=\"muted\">empty</p>"
        } else {
            body += "<table id=\"queue\"><tr><th>state</th><th>type</th><th>jobs</th></tr>"
            for count in status.queue {
                body += "<tr><td>\(escape(count.state.rawValue))</td><td>\(escape(count.type))</td><td>\(count.count)</td></tr>"
            }
            body += "</table>"
        }

        body += "<h2>Workers</h2>"
        if status.workers.isEmpty {
            body += "<p id=\"workers\" class=\"muted\">none alive</p>"
        } else {
            body += "<table id=\"workers\"><tr><th>name</th><th>host</th><th>running</th><th>heartbeat</th></tr>"
            for worker in status.workers {
                body += "<tr><td>\(escape(worker.name))</td><td>\(escape(worker.host))</td><td>\(worker.running)/\(worker.concurrency)</td>"
                    + "<td>\(String(format: "%.1f", worker.heartbeatAgeSeconds)) s ago</td></tr>"
            }
            body += "</table>"
        }

        body += "<h2>Schedules</h2>"
        if snapshot.schedules.isEmpty {
            body += "<p id=\"schedules\" class=\"muted\">none</p>"
        } else {
            body += "<table id=\"schedules\"><tr><th>name</th><th>every</th><th>next run</th><th>synchronizes</th></tr>"
            for schedule in snapshot.schedules {
                let definition = schedule.definition
                body += "<tr><td>\(escape(schedule.name))</td><td>\(escape(definition.frequency.cliForm))</td>"
                    + "<td>\(escape(schedule.nextRunAt().map { ScheduleStart.format($0, timeZone: definition.timeZone) } ?? "-"))</td>"
                    + "<td>\(escape(definition.selection.summary))</td></tr>"
            }
            body += "</table>"
        }

        body += "<h2>Recent orders</h2>"
        if snapshot.recentOrders.isEmpty {
            body += "<p id=\"recent-orders\" class=\"muted\">none</p>"
        } else {
            body += "<table id=\"recent-orders\"><tr><th>order</th><th>user</th><th>type</th><th>state</th><th>steps</th><th>updated</th></tr>"
            for entry in snapshot.recentOrders {
                let order = entry.order
                let type = order.cancels.map { "cancel of \($0)" } ?? order.kind
                body += "<tr class=\"order\" data-order-id=\"\(order.id)\" data-state=\"\(escape(order.state))\" data-steps-done=\"\(entry.stepsDone)\" "
                    + "data-steps-total=\"\(entry.stepsTotal)\"><td>\(order.id)</td><td>\(escape(order.userID))</td><td>\(escape(type))</td>"
                    + "<td>\(escape(order.state.replacingOccurrences(of: "_", with: " ")))\(order.error.map { " — " + escape($0) } ?? "")</td>"
                    + "<td>\(entry.stepsDone)/\(entry.stepsTotal)</td><td>\(escape(time(entry.updatedAt)))</td></tr>"
            }
            body += "</table>"
        }

        body += "<h2>Recent jobs</h2><table id=\"recent-jobs\"><tr><th>job</th><th>kind</th><th>type</th><th>target</th><th>state</th><th>created</th></tr>"
        for job in snapshot.recentJobs {
            body += "<tr><td>\(job.id)</td><td>\(escape(job.kind.rawValue))</td><td>\(escape(job.type))</td><td>\(escape(job.target ?? "-"))</td>"
                + "<td>\(escape(job.state.rawValue))</td><td>\(escape(time(job.createdAt)))</td></tr>"
        }
        body += "</table>"

        body += "<h2>Audit (latest)</h2><table id=\"audit\"><tr><th>at</th><th>actor</th><th>action</th><th>message</th></tr>"
        for entry in snapshot.audit {
            body += "<tr><td>\(escape(time(entry.at)))</td><td>\(escape(entry.actor))</td><td>\(escape(entry.action))</td>"
                + "<td>\(escape(entry.message))</td></tr>"
        }
        body += "</table>"
        return page(title: "UCProvision status", refresh: true, body)
    }
}

/// An `application/x-www-form-urlencoded` body (the sign-in form).
struct FormBody {
    var fields: [String: String] = [:]

    init(bytes: [UInt8]) {
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if let name = parts.first { fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : "" }
        }
    }

    subscript(name: String) -> String? { fields[name] }
}
