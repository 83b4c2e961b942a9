import Directory
import Foundation
import HTTPAPI
import Inventory
import Postgres
import Queue
import Schedules
import ScheduleRules

/// The JSON shape of each object, one place for `ucp … --json` and the API (and so for the OpenAPI
/// document's schemas): what the command prints is what the API answers.
package enum Representation {
    package static func iso(_ date: Date?) -> Any {
        guard let date else { return NSNull() }
        return PostgresTimestamp.format(date)
    }

    static func optional(_ value: Any?) -> Any { value ?? NSNull() }

    /// `sorted: false` for answers read often (the shared status and job-list pages): sorting the keys
    /// costs Foundation on Linux a locale-aware comparison per pair, most of the encoding's time.
    package static func encode(_ value: Any, pretty: Bool = false, sorted: Bool = true) throws -> Data {
        var options: JSONSerialization.WritingOptions = sorted ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        return try JSONSerialization.data(withJSONObject: value, options: options)
    }

    package static func job(_ job: Job) -> [String: Any] {
        let payload = (try? JSONSerialization.jsonObject(with: Data(job.payload.utf8), options: [.fragmentsAllowed])) ?? job.payload
        var progress: [String: Any] = ["done": job.progress.done, "changed_at": iso(job.progress.changedAt)]
        progress["total"] = optional(job.progress.total)
        progress["message"] = optional(job.progress.message)
        return [
            "id": job.id, "type": job.type, "kind": job.kind.rawValue, "state": job.state.rawValue,
            "target": optional(job.target), "payload": payload,
            "priority": job.priority, "attempt": job.attempt, "max_attempts": job.maxAttempts,
            "worker": optional(job.worker), "submitted_by": job.submittedBy,
            "created_at": iso(job.createdAt), "run_at": iso(job.runAt), "started_at": iso(job.startedAt),
            "finished_at": iso(job.finishedAt), "heartbeat_at": iso(job.heartbeatAt),
            "lease_expires_at": iso(job.leaseExpiresAt), "progress": progress,
            "error": optional(job.error), "dedup_key": optional(job.dedupKey),
        ]
    }

    package static func jobLog(_ line: JobLogLine) -> [String: Any] {
        ["id": line.id, "attempt": line.attempt, "at": iso(line.at), "level": line.level, "message": line.message]
    }

    package static func audit(_ entry: AuditEntry) -> [String: Any] {
        ["id": entry.id, "at": iso(entry.at), "actor": entry.actor, "action": entry.action,
         "job_id": optional(entry.jobID), "target": optional(entry.target), "message": entry.message]
    }

    package static func maintenance(_ state: QueueStore.MaintenanceState) -> [String: Any] {
        ["active": state.active, "reason": optional(state.reason), "since": iso(state.since)]
    }

    package static func status(_ status: QueueStatus, database: String) -> [String: Any] {
        [
            "database": database,
            "maintenance": maintenance(status.maintenance),
            "running_syncs": status.runningSyncs.map(job),
            "queue": status.queue.map { ["state": $0.state.rawValue, "type": $0.type, "count": $0.count] },
            "workers": status.workers.map { ["name": $0.name, "host": $0.host, "pid": $0.pid, "concurrency": $0.concurrency,
                                             "running": $0.running, "heartbeat_age_s": $0.heartbeatAgeSeconds] },
            "leader": status.leader.map { ["holder": $0.holder, "elected_at": iso($0.electedAt),
                                           "lease_remaining_s": $0.remainingSeconds] as [String: Any] } as Any? ?? NSNull(),
        ]
    }

    package static func devicePassword(_ device: Device) -> String {
        device.passwordSet ? "set (encrypted)" : "not set"
    }

    package static func device(_ device: Device) -> [String: Any] {
        [
            "name": device.name, "kind": device.kind.rawValue, "kind_name": device.kind.commandName,
            "product": device.kind.title, "version": optional(device.version), "address": device.address,
            "port": device.port, "backup_address": optional(device.backupAddress),
            "backup_port": optional(device.backupPort), "admin_user": device.adminUser,
            "password": devicePassword(device), "axl_version": device.axlVersion, "verify_tls": device.verifyTLS,
            "ca_file": optional(device.caFile), "max_writes_in_flight": device.maxWritesInFlight, "directory_type": optional(device.directoryType?.rawValue),
            "ldap_security": optional(device.ldapSecurity?.rawValue), "url": optional(device.ldapURL),
            "last_test": ["state": device.lastTestState.rawValue, "message": optional(device.lastTestMessage),
                          "at": iso(device.lastTestedAt)] as [String: Any],
            "first_synced_at": iso(device.firstSyncedAt), "created_at": iso(device.createdAt),
            "updated_at": iso(device.updatedAt),
            // A call processor's LDAP integration as its infrastructure sync last read it (null: not read).
            "ldap_integrated": optional(device.ldapIntegrated), "ldap_integration_read_at": iso(device.ldapIntegrationReadAt),
        ]
    }

    package static func domain(_ domain: Domain) -> [String: Any] {
        var filter: [String: Any] = ["kind": "all"]
        switch domain.filter {
        case .allUsers: break
        case .simple(let query):
            filter = ["kind": "simple", "match": query.match.rawValue, "conditions": query.conditions.map(\.text)]
        case .advanced(let text):
            filter = ["kind": "advanced", "filter": text]
        }
        func named(_ filters: [NamedLDAPFilter]) -> [[String: Any]] {
            filters.map { ["name": $0.name, "filter": $0.filter, "mask": optional($0.mask), "assign_new_line": $0.assignNewLine] }
        }
        var mapping: [String: Any] = [:]
        for field in MappedField.allCases { mapping[field.settingName] = optional(domain.mapping[field]) }
        var ldap: Any = NSNull()
        if let resolved = domain.ldap {
            var attributes: [String: Any] = [:]
            for field in UserField.allCases { attributes[field.rawValue] = optional(resolved.mapping.attribute(for: field)) }
            ldap = ["ldap_filter": resolved.ldapFilter, "attributes": attributes,
                    "read_attributes": resolved.readAttributes] as [String: Any]
        }
        return [
            "name": domain.name, "directory": optional(domain.directory), "server_type": optional(domain.serverType?.rawValue),
            "mode": domain.mode.rawValue, "update_policy": domain.updatePolicy.rawValue,
            "stale_user_action": domain.staleUserAction.rawValue, "search_base": optional(domain.searchBase),
            "sync_inactive_users": domain.syncInactiveUsers, "mapping": mapping, "filter": filter,
            "service_area_filters": named(domain.serviceAreaFilters), "user_role_filters": named(domain.userRoleFilters),
            "write_back_attribute": optional(domain.writeBackAttribute), "write_back_mask": optional(domain.writeBackMask),
            "delete_guard": ["count": domain.deletionGuard.maximumCount, "percent": domain.deletionGuard.maximumPercent],
            "sync_interval": optional(domain.syncInterval?.cliForm), "sync_start": iso(domain.syncStart),
            "ldap": ldap, "created_at": iso(domain.createdAt), "updated_at": iso(domain.updatedAt),
        ]
    }

    /// `domain show`: the domain with its rules, service areas and the processors they name.
    package static func domainDetail(_ domain: Domain, rules: DomainRules, areas: [ServiceArea]) -> [String: Any] {
        var object = Self.domain(domain)
        object["rules"] = Dictionary(uniqueKeysWithValues: rules.enabled.map { ($0.key.rawValue, $0.value) })
        object["service_areas"] = areas.map(\.name)
        object["call_processors"] = Array(Set(areas.map(\.settings.callProcessor))).sorted()
        object["message_processors"] = Array(Set(areas.compactMap(\.settings.messageProcessor))).sorted()
        return object
    }

    package static func user(_ user: User) -> [String: Any] {
        var object: [String: Any] = [
            "user_id": user.userID, "domain": user.domain, "source": user.source, "enabled": user.enabled, "state": user.state,
            "case_clash": user.caseClash, "service_area": optional(user.serviceArea),
            "directory_dn": optional(user.directoryDN), "stale_since": iso(user.staleSince),
            "created_at": iso(user.createdAt), "updated_at": iso(user.updatedAt),
        ]
        for column in User.fieldColumns { object[column] = optional(user.fields[column]) }
        return object
    }

    package static func userDetail(_ user: User, services: [UserService], deleteOrders: [UserDeleteOrder]) -> [String: Any] {
        var object = Self.user(user)
        object["services"] = services.map { service -> [String: Any] in
            ["service_area": optional(service.serviceArea), "type": service.type, "device": service.device,
             "object_type": service.objectType, "key": service.key,
             "detail": (try? JSONSerialization.jsonObject(with: Data(service.detail.utf8))) ?? [String: Any](),
             "updated_at": iso(service.updatedAt)]
        }
        object["delete_orders"] = deleteOrders.map { ["id": $0.id, "action": $0.action, "state": $0.state,
                                                      "created_at": iso($0.createdAt), "order_id": optional($0.orderID),
                                                      "message": optional($0.message)] as [String: Any] }
        return object
    }

    package static func serviceArea(_ area: ServiceArea) -> [String: Any] {
        let s = area.settings
        return [
            "domain": s.domain, "name": s.name, "call_processor": s.callProcessor, "message_processor": optional(s.messageProcessor),
            "device_pool": s.devicePool, "location": optional(s.location), "device_css": optional(s.deviceCSS),
            "line_css": optional(s.lineCSS), "external_mask": optional(s.externalMask),
            "voicemail_profile": optional(s.voicemailProfile), "unity_template": optional(s.unityTemplate),
            "unity_cos": optional(s.unityCOS), "partitions": s.partitions,
            "dn_blocks": s.dnBlocks.map { ["partition": $0.partition, "first": $0.first, "last": $0.last] },
            "services_placed": area.placedServices, "created_at": iso(area.createdAt), "updated_at": iso(area.updatedAt),
        ]
    }

    package static func schedule(_ schedule: Schedule, latestRun: ScheduleRunStatus?) -> [String: Any] {
        let definition = schedule.definition
        var granular: Any = NSNull()
        if case .granular(let text) = definition.selection { granular = text }
        return [
            "name": schedule.name, "every": definition.frequency.cliForm, "every_text": definition.frequency.description,
            "start": ScheduleStart.format(definition.start, timeZone: definition.timeZone),
            "time_zone": definition.timeZone.identifier, "selection": definition.selection.kind,
            "builder": definition.selection.builderChoices.map(\.rawValue), "granular": granular,
            "force_domain": definition.forceDomain, "parallel": definition.parallel,
            "abort_on_failure": definition.abortOnFailure, "last_fired_at": iso(schedule.lastFiredAt),
            "created_at": iso(schedule.createdAt), "updated_at": iso(schedule.updatedAt),
            "updated_by": schedule.updatedBy,
            "next_run_at": iso(schedule.nextRunAt()),
            "last_run": latestRun.map(scheduleRun) ?? NSNull(),
        ]
    }

    package static func scheduleRun(_ status: ScheduleRunStatus) -> [String: Any] {
        let run = status.run
        let syncs: Any = status.syncs.map { syncs in
            syncs.map { sync -> [String: Any] in
                ["job": sync.id, "type": sync.type, "target": optional(sync.target), "state": sync.state.rawValue,
                 "error": optional(sync.error)]
            }
        } ?? NSNull()
        return [
            "id": run.id, "state": status.state, "trigger": run.trigger, "due_at": iso(run.dueAt),
            "started_at": iso(run.startedAt), "finished_at": iso(run.finishedAt),
            "synchronization_status": syncs,
        ]
    }

    package static func token(_ token: APIToken) -> [String: Any] {
        ["name": token.name, "role": token.role.rawValue, "created_by": token.createdBy, "created_at": iso(token.createdAt),
         "last_used_at": iso(token.lastUsedAt), "revoked_at": iso(token.revokedAt)]
    }
}
