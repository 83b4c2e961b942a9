import Foundation
import HTTPAPI
import Hummingbird
import Inventory
import Orders
import Postgres
import Runtime
import Secrets
import Watchdog

/// What an admin changes: tokens, devices, domains (with their synchronization rules) and settings.
/// Each reads its body into the same value the command fills from its options (`DeviceChange`,
/// `DomainChange`, `SettingsEditor`), so the refusals are the command's own lines, thrown before
/// anything is written; each change is audited with the token's name as actor.
extension Endpoints {
    static var admin: [Endpoint] { tokenChanges + deviceChanges + domainChanges + settings }

    // MARK: tokens

    static let tokenChanges: [Endpoint] = [
        /// `ucp token create`: the secret is in this answer only (only its SHA-256 is kept).
        Endpoint("POST", "/api/v1/tokens") { call in
            let body = try await call.body(fields: ["name", "role"])
            let name = try body.required("name", body.string("name"))
            let role = try APIRole.parse(try body.required("role", body.string("role")))
            try TokenStore.validateName(name)
            let made = try await call.withConnection { try await TokenStore($0).tokenCreate(name: name, role: role, actor: call.actor) }
            var response = try call.json(["token": Representation.token(made.token), "secret": made.secret], status: .created)
            response.headers[.cacheControl] = "no-store"  // no cache on the way keeps the secret
            return response
        },
        /// `ucp token revoke`: the token stops working at once; its name stays taken.
        Endpoint("DELETE", "/api/v1/tokens/{name}") { call in
            let name = try call.path("name")
            let token = try await call.withConnection { try await TokenStore($0).tokenRevoke(name: name, actor: call.actor) }
            await call.server.tokens.removeAll()
            return try call.json(Representation.token(token))
        },
    ]

    // MARK: devices

    static let deviceFields = ["kind", "server_type", "security", "version", "address", "port", "backup_address", "backup_port",
                               "admin_user", "password", "axl_version", "verify_tls", "ca_file", "max_writes_in_flight"]

    /// The body's device fields, as `ucp device add|edit` reads its options.
    static func deviceChange(_ body: JSONBody) throws -> DeviceChange {
        DeviceChange(kind: try body.string("kind"), serverType: try body.string("server_type"), security: try body.string("security"),
                     version: try body.string("version"), address: try body.string("address"), port: try body.int("port"),
                     backupAddress: try body.string("backup_address"), backupPort: try body.int("backup_port"),
                     adminUser: try body.string("admin_user"), axlVersion: try body.string("axl_version"),
                     verifyTLS: try body.bool("verify_tls"), caFile: try body.string("ca_file"),
                     maxWritesInFlight: try body.int("max_writes_in_flight"))
    }

    /// The password of the body, if given: not empty, sealed with the server's key (`UCP_SECRET_KEY_FILE`).
    static func devicePassword(_ body: JSONBody) throws -> (Secret, SecretBox)? {
        guard let text = try body.string("password") else { return nil }
        guard !text.isEmpty else { throw InputError(field: "password", problem: "must not be empty") }
        return (Secret(text), try DeviceStore.secretBoxFromEnvironment())
    }

    static let deviceChanges: [Endpoint] = [
        Endpoint("POST", "/api/v1/devices") { call in
            let body = try await call.body(fields: ["name"] + deviceFields)
            let draft = try deviceChange(body).draft(name: try body.required("name", body.string("name")))
            guard let (password, box) = try devicePassword(body) else { throw InputError(field: "password", problem: "is required") }
            let device = try await call.withConnection {
                try await DeviceStore($0, secretBox: box).deviceAdd(draft, password: password, actor: call.actor)
            }
            return try call.json(Representation.device(device), status: .created)
        },
        Endpoint("PATCH", "/api/v1/devices/{name}") { call in
            let name = try call.path("name")
            let body = try await call.body(fields: deviceFields)
            let change = try deviceChange(body)
            try change.checkChoices()
            let password = try devicePassword(body)
            let device = try await call.withConnection {
                try await DeviceStore($0, secretBox: password?.1).deviceUpdate(name: name, password: password?.0, actor: call.actor) {
                    try change.apply(to: &$0)
                }
            }
            return try call.json(Representation.device(device))
        },
    ]

    // MARK: domains

    static let domainFields = ["directory", "mode", "update_policy", "stale_user_action", "search_base", "sync_inactive_users",
                               "user_id_attribute", "phone_attribute", "email_attribute", "middle_name_attribute",
                               "directory_uri_attribute", "all_users", "where", "match", "advanced_filter", "service_area_filters",
                               "service_area_masks", "service_area_new_lines", "user_role_filters", "write_back_attribute",
                               "write_back_mask", "delete_guard_count", "delete_guard_percent", "sync_interval", "sync_start"]

    /// The body's domain fields, as `ucp domain add|edit` reads its options. An empty list clears
    /// (the command's `''`).
    static func domainChange(_ body: JSONBody) throws -> DomainChange {
        func clearing(_ name: String) throws -> [String] {
            guard let list = try body.strings(name) else { return [] }
            return list.isEmpty ? [""] : list
        }
        return DomainChange(
            directory: try body.string("directory"), mode: try body.string("mode"), update: try body.string("update_policy"),
            staleUsers: try body.string("stale_user_action"), searchBase: try body.string("search_base").map { [$0] } ?? [],
            syncInactiveUsers: try body.bool("sync_inactive_users"), userIDAttribute: try body.string("user_id_attribute"),
            phoneAttribute: try body.string("phone_attribute"), emailAttribute: try body.string("email_attribute"),
            middleNameAttribute: try body.string("middle_name_attribute"), directoryURIAttribute: try body.string("directory_uri_attribute"),
            allUsers: try body.bool("all_users") ?? false, conditions: try body.strings("where") ?? [], match: try body.string("match"),
            advancedFilter: try body.string("advanced_filter"), serviceAreaFilters: try clearing("service_area_filters"),
            serviceAreaMasks: try body.strings("service_area_masks") ?? [], serviceAreaNewLines: try body.strings("service_area_new_lines") ?? [],
            userRoleFilters: try clearing("user_role_filters"), writeBackAttribute: try body.string("write_back_attribute"),
            writeBackMask: try body.string("write_back_mask"), deleteGuardCount: try body.int("delete_guard_count"),
            deleteGuardPercent: try body.int("delete_guard_percent"), syncInterval: try body.string("sync_interval"),
            syncStart: try body.string("sync_start"), rules: try body.strings("rules").map { $0.isEmpty ? [""] : $0 })
    }

    /// The domain as `GET /api/v1/domains/{name}` shows it.
    static func domainDetail(_ name: String, connection: Connection) async throws -> Data {
        let store = DomainStore(connection)
        guard let domain = try await store.domain(named: name) else { throw DomainStore.noSuchDomain(name) }
        let rules = try await store.domainRules(name: name)
        let areas = try await ServiceAreaStore(connection).serviceAreaList(domain: name)
        return try Representation.encode(Representation.domainDetail(domain, rules: rules, areas: areas))
    }

    static let domainChanges: [Endpoint] = [
        Endpoint("POST", "/api/v1/domains") { call in
            let body = try await call.body(fields: ["name"] + domainFields)
            var draft = DomainDraft(name: try body.required("name", body.string("name")))
            try domainChange(body).apply(to: &draft)
            let data = try await call.withConnection { connection -> Data in
                let domain = try await DomainStore(connection).domainAdd(draft, actor: call.actor)
                return try await domainDetail(domain.name, connection: connection)
            }
            return APICall.json(data, status: .created)
        },
        Endpoint("PATCH", "/api/v1/domains/{name}") { call in
            let name = try call.path("name")
            let body = try await call.body(fields: domainFields + ["rules"])
            let change = try domainChange(body)
            try change.check(name: name)
            let data = try await call.withConnection { connection -> Data in
                _ = try await DomainStore(connection).domainEdit(name: name, change, actor: call.actor)
                return try await domainDetail(name, connection: connection)
            }
            return APICall.json(data)
        },
    ]

    // MARK: settings

    static func settingsJSON(_ connection: Connection) async throws -> Data {
        let shown = try await SettingsEditor.shown(connection: connection) + DirectorySource.shown(connection: connection)
        return try Representation.encode(["settings": Dictionary(uniqueKeysWithValues: shown)])
    }

    static let settings: [Endpoint] = [
        Endpoint("GET", "/api/v1/settings") { call in
            APICall.json(try await call.withConnection(settingsJSON))
        },
        /// `ucp settings set KEY VALUE`; `mail.password` takes the password as its value. An empty
        /// value clears a mail setting, `mail.password` too (`ucp settings unset KEY`).
        Endpoint("PUT", "/api/v1/settings/{key}") { call in
            let key = try call.path("key")
            let body = try await call.body(fields: ["value"])
            let value = try body.required("value", body.string("value"))
            if DirectorySource.isSettingKey(key) {
                // Refused while a call processor is LDAP-integrated; UDS queues the directory job (as the command).
                return APICall.json(try await call.withConnection { connection -> Data in
                    _ = try await DirectorySource.set(value, connection: connection, actor: call.actor)
                    return try await settingsJSON(connection)
                })
            }
            try SettingsEditor.check(key: key, value: value)
            return APICall.json(try await call.withConnection { connection -> Data in
                try await SettingsEditor.set(key: key, value: value, connection: connection, actor: call.actor)
                return try await settingsJSON(connection)
            })
        },
    ]
}
