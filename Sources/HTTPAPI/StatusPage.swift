import Foundation
import Postgres
import Queue

/// What the status page shows, read by the server in one round: the queue's snapshot (maintenance,
/// running syncs, queue depth, workers, leader) and the lines around it.
public struct StatusPageModel: Sendable {
    public struct ScheduleLine: Sendable {
        public var name: String
        public var enabled: Bool
        public var nextRun: Date?
        public init(name: String, enabled: Bool, nextRun: Date?) {
            self.name = name
            self.enabled = enabled
            self.nextRun = nextRun
        }
    }

    public var now: Date
    public var status: QueueStatus
    public var schedules: [ScheduleLine]
    public var recentOrders: [Job]
    public var audit: [AuditEntry]

    public init(now: Date, status: QueueStatus, schedules: [ScheduleLine], recentOrders: [Job], audit: [AuditEntry]) {
        self.now = now
        self.status = status
        self.schedules = schedules
        self.recentOrders = recentOrders
        self.audit = audit
    }
}

/// The status page: plain server-rendered HTML and a little CSS. The page fetches its own `<main>`
/// again every two seconds (`fragmentPath`), a dozen lines of inline script and no build step; without
/// script it reloads itself. Every value from the database is escaped.
public enum StatusPage {
    public static let path = "/"
    public static let fragmentPath = "/status/fragment"
    public static let signInPath = "/signin"
    public static let signOutPath = "/signout"
    /// The cookie holding the viewer's token: HttpOnly (no script reads it), SameSite=Strict (no other
    /// site's page sends it).
    public static let cookieName = "ucp_token"
    static let refreshSeconds = 2

    public static func page(_ model: StatusPageModel) -> String {
        document(title: "UCProvision status", body: """
            <header><h1>UCProvision</h1><form method="post" action="\(signOutPath)"><button>Sign out</button></form></header>
            <main id="status">\(fragment(model))</main>
            <noscript><meta http-equiv="refresh" content="\(refreshSeconds)"></noscript>
            <script>
            setInterval(async () => {
              try {
                const answer = await fetch("\(fragmentPath)", {credentials: "same-origin", cache: "no-store"});
                if (answer.status === 401) { location.href = "\(signInPath)"; return; }
                if (answer.ok) document.getElementById("status").innerHTML = await answer.text();
              } catch (_) {}
            }, \(refreshSeconds * 1000));
            </script>
            """)
    }

    /// The page's `<main>`, served alone to the page's polling.
    public static func fragment(_ model: StatusPageModel) -> String {
        let status = model.status
        var html = "<p class=\"updated\">Updated <time id=\"updated-at\">\(escape(iso(model.now)))</time></p>\n"

        let maintenance = status.maintenance
        html += "<section id=\"maintenance\" class=\"\(maintenance.active ? "on" : "off")\"><h2>Maintenance mode</h2>"
        if maintenance.active {
            html += "<p><strong>On</strong> since \(escape(iso(maintenance.since))): \(escape(maintenance.reason ?? "no reason given")). Orders are held back.</p>"
        } else {
            html += "<p>Off: orders run.</p>"
        }
        html += "</section>\n"

        html += "<section id=\"syncs\"><h2>Running synchronizations</h2>"
        if status.runningSyncs.isEmpty { html += "<p>None.</p>" }
        for job in status.runningSyncs {
            let progress = job.progress
            html += "<div class=\"sync\" data-job-id=\"\(job.id)\" data-state=\"\(escape(job.state.rawValue))\">"
            html += "<span class=\"label\">job \(job.id) \(escape(job.type)) of \(escape(job.target ?? "-")) on \(escape(job.worker ?? "-"))</span> "
            if let total = progress.total, total > 0 {
                html += "<progress data-job-id=\"\(job.id)\" value=\"\(min(progress.done, total))\" max=\"\(total)\"></progress> "
                html += "<span class=\"count\">\(progress.done)/\(total) (\(progress.done * 100 / total)%)</span>"
            } else {
                html += "<progress data-job-id=\"\(job.id)\"></progress> <span class=\"count\">\(progress.done)</span>"
            }
            if let message = progress.message { html += " <span class=\"message\">\(escape(message))</span>" }
            html += "</div>"
        }
        html += "</section>\n"

        html += "<section id=\"queue\"><h2>Queue</h2><p class=\"note\">Pending, and finished in the last hour.</p>"
        html += table(["State", "Type", "Jobs"], status.queue.map { [$0.state.rawValue, $0.type, String($0.count)] }, empty: "Empty.")
        html += "</section>\n"

        html += "<section id=\"workers\"><h2>Workers</h2>"
        html += "<p>Leader: \(status.leader.map { "\(escape($0.holder)) since \(escape(iso($0.electedAt)))" } ?? "none")</p>"
        html += table(["Worker", "Host", "Running", "Heartbeat"], status.workers.map {
            [$0.name, $0.host, "\($0.running)/\($0.concurrency)", String(format: "%.1f s ago", $0.heartbeatAgeSeconds)]
        }, empty: "No live worker.")
        html += "</section>\n"

        html += "<section id=\"schedules\"><h2>Schedules</h2>"
        html += table(["Schedule", "Next run"], model.schedules.map {
            [$0.name, $0.enabled ? iso($0.nextRun) : "disabled"]
        }, empty: "No schedule.")
        html += "</section>\n"

        html += "<section id=\"orders\"><h2>Recent orders</h2>"
        html += table(["Job", "Type", "Target", "State", "Finished"], model.recentOrders.map {
            [String($0.id), $0.type, $0.target ?? "-", $0.state.rawValue, iso($0.finishedAt)]
        }, empty: "No order yet.")
        html += "</section>\n"

        html += "<section id=\"audit\"><h2>Audit</h2>"
        html += table(["When", "Actor", "Action", "Message"], model.audit.map {
            [iso($0.at), $0.actor, $0.action, $0.message]
        }, empty: "Nothing audited yet.")
        html += "</section>"
        return html
    }

    public static func signIn(problem: String? = nil) -> String {
        document(title: "Sign in · UCProvision", body: """
            <main class="signin"><h1>UCProvision</h1>
            <form method="post" action="\(signInPath)">
            <label for="token">API token (any role)</label>
            <input id="token" name="token" type="password" autocomplete="off" required>
            <button type="submit">Sign in</button>
            </form>\(problem.map { "<p class=\"problem\" role=\"alert\">\(escape($0))</p>" } ?? "")</main>
            """)
    }

    /// Text for HTML element content and quoted attribute values.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
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

    private static func table(_ headings: [String], _ rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p>\(escape(empty))</p>" }
        var html = "<table><thead><tr>" + headings.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }
        return html + "</tbody></table>"
    }

    private static func iso(_ date: Date?) -> String {
        guard let date else { return "-" }
        return String(PostgresTimestamp.format(date).prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    private static func document(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(escape(title))</title>
        <style>
        body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem; color: #1d2430; }
        header { display: flex; justify-content: space-between; align-items: center; }
        h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
        table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid #dde; }
        #maintenance.on { background: #fff3cd; padding: .2rem .8rem; border-left: 4px solid #d39e00; }
        .sync { margin: .3rem 0; } progress { width: 16rem; vertical-align: middle; }
        .note, .updated { color: #667; font-size: .85rem; } .problem { color: #a00; }
        .signin form { display: grid; gap: .5rem; max-width: 24rem; }
        </style></head><body>
        \(body)
        </body></html>
        """
    }
}
