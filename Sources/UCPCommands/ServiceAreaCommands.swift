import ArgumentParser
import Foundation
import Inventory
import Postgres
import Runtime

struct ServiceAreaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service-area",
        abstract: "Service areas of a domain: the call processor, message processor and objects a user's services use.",
        discussion: """
            Every Unified CM and Unity Connection name is checked against what the device's infrastructure \
            synchronization read (run one first). DN blocks are FIRST-LAST[@PARTITION] with numbers of one \
            length; without @PARTITION a block is in the area's first --partition (or <None>). Blocks of one call \
            processor and partition never overlap.
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a service area to a domain.")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The service area name: letters, digits, space, '_', '-', '.', '@' (1 to 100; unique in the domain whatever the case).")
        var name: String
        @OptionGroup var fields: ServiceAreaFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var draft = ServiceAreaDraft(domain: domain, name: name)
            try fields.apply(to: &draft)
            let area = try await ServiceAreaStore(Connection(try await Database.open())).serviceAreaAdd(draft, actor: global.actorName)
            print("service area '\(area.name)' added to domain '\(area.domain)' (call processor '\(area.settings.callProcessor)'"
                  + (area.settings.messageProcessor.map { ", message processor '\($0)'" } ?? "") + ")")
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a service area. Only the options given change; '' clears an optional one, --partition/--dn-block replace the list.")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The service area name.") var name: String
        @OptionGroup var fields: ServiceAreaFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            // Everything that can be checked without the database, before it is opened.
            var probe = ServiceAreaDraft(domain: domain, name: name)
            try fields.apply(to: &probe)
            let store = ServiceAreaStore(Connection(try await Database.open()))
            let before = try await store.serviceArea(domain: domain, name: name)
            let fields = fields
            let area = try await store.serviceAreaUpdate(domain: domain, name: name, actor: global.actorName) { draft in
                try fields.apply(to: &draft)
            }
            print(before.map { $0.updatedAt == area.updatedAt && $0.settings == area.settings } == true
                  ? "service area '\(area.name)' of domain '\(area.domain)': nothing changed"
                  : "service area '\(area.name)' of domain '\(area.domain)' changed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the service areas of one domain or of all.")
        @Argument(help: "The domain (default: all).") var domain: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            if let domain, try await DomainStore(connection).domain(named: domain) == nil {
                throw DomainStore.noSuchDomain(domain)
            }
            let areas = try await ServiceAreaStore(connection).serviceAreaList(domain: domain)
            if json {
                print(try Output.json(areas.map(ServiceAreaOutput.json)))
                return
            }
            print(pad("DOMAIN", 20) + pad("NAME", 20) + pad("CALL PROCESSOR", 18) + pad("MESSAGE PROCESSOR", 20)
                  + pad("DEVICE POOL", 18) + "DN BLOCKS")
            for area in areas {
                let settings = area.settings
                print(pad(area.domain, 20) + pad(area.name, 20) + pad(settings.callProcessor, 18)
                      + pad(settings.messageProcessor ?? "-", 20) + pad(settings.devicePool, 18)
                      + (settings.dnBlocks.isEmpty ? "-" : settings.dnBlocks.map(\.description).joined(separator: " ")))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one service area.")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The service area name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            guard try await DomainStore(connection).domain(named: domain) != nil else { throw DomainStore.noSuchDomain(domain) }
            guard let area = try await ServiceAreaStore(connection).serviceArea(domain: domain, name: name) else {
                throw ServiceAreaStore.noSuchServiceArea(domain: domain, name: name)
            }
            if json {
                print(try Output.json(ServiceAreaOutput.json(area)))
                return
            }
            let settings = area.settings
            var lines: [(String, String)] = [
                ("domain", area.domain), ("name", area.name), ("call processor", settings.callProcessor),
                ("message processor", settings.messageProcessor ?? "-"), ("device pool", settings.devicePool),
                ("location", settings.location ?? "-"),
                ("partitions", settings.routePartitions.isEmpty ? "-" : settings.routePartitions.joined(separator: ", ")),
                ("device css", settings.deviceCSS ?? "-"), ("line css", settings.lineCSS ?? "-"),
                ("mask", settings.externalMask ?? "-"), ("voicemail profile", settings.voicemailProfile ?? "-"),
                ("subscriber template", settings.subscriberTemplate ?? "-"), ("class of service", settings.classOfService ?? "-"),
            ]
            for block in settings.dnBlocks {
                lines.append(("dn block", "\(block.first)-\(block.last) in \(ServiceAreaOutput.partition(block.partition))"))
            }
            if settings.dnBlocks.isEmpty { lines.append(("dn block", "none")) }
            lines += [("created at", Output.shortTime(area.createdAt)), ("updated at", Output.shortTime(area.updatedAt))]
            for (key, value) in lines { print(pad(key, 21) + value) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a service area and its DN blocks.")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The service area name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await ServiceAreaStore(Connection(try await Database.open())).serviceAreaRemove(
                domain: domain, name: name, actor: global.actorName)
            print("service area '\(name)' removed from domain '\(domain)'")
        }
    }
}

/// The options `service-area add` and `edit` share; on edit, only those given change.
struct ServiceAreaFieldOptions: ParsableArguments {
    @Option(name: .customLong("call-processor"), help: "The Unified CM: a device of kind cucm (required on add).")
    var callProcessor: String?
    @Option(name: .customLong("message-processor"), help: "The Unity Connection: a device of kind unity ('' on edit: none).")
    var messageProcessor: String?
    @Option(name: .customLong("device-pool"), help: "A DevicePool of the call processor (required on add).") var devicePool: String?
    @Option(help: "A Location of the call processor.") var location: String?
    @Option(name: .customLong("partition"), help: "A RoutePartition of the call processor (repeatable; replaces the list; '' clears it).")
    var partitions: [String] = []
    @Option(name: .customLong("device-css"), help: "The device calling search space (a CallingSearchSpace).") var deviceCSS: String?
    @Option(name: .customLong("line-css"), help: "The line calling search space (a CallingSearchSpace).") var lineCSS: String?
    @Option(help: "External phone number mask: digits and X, optionally starting with + or \\+ (e.g. +1408555XXXX).")
    var mask: String?
    @Option(name: .customLong("voicemail-profile"), help: "A VoicemailProfile of the call processor.") var voicemailProfile: String?
    @Option(name: .customLong("subscriber-template"), help: "A Unity Connection subscriber (user) template alias.")
    var subscriberTemplate: String?
    @Option(name: .customLong("class-of-service"), help: "A Unity Connection class of service (display name).")
    var classOfService: String?
    @Option(name: .customLong("dn-block"), help: "FIRST-LAST[@PARTITION] (repeatable; replaces the list; '' clears it).")
    var dnBlocks: [String] = []

    /// Applies the options given to `draft`; the refusals that need no database are thrown here.
    func apply(to draft: inout ServiceAreaDraft) throws {
        func optional(_ text: String?) -> String?? { text.map { $0.isEmpty ? nil : $0 } }
        if let callProcessor { draft.callProcessor = callProcessor }
        if let value = optional(messageProcessor) {
            draft.messageProcessor = value
            if value == nil && subscriberTemplate == nil { draft.subscriberTemplate = nil }
            if value == nil && classOfService == nil { draft.classOfService = nil }
        }
        if let devicePool { draft.devicePool = devicePool }
        if let value = optional(location) { draft.location = value }
        if !partitions.isEmpty { draft.routePartitions = partitions == [""] ? [] : partitions }
        if let value = optional(deviceCSS) { draft.deviceCSS = value }
        if let value = optional(lineCSS) { draft.lineCSS = value }
        if let value = optional(mask) { draft.externalMask = value }
        if let value = optional(voicemailProfile) { draft.voicemailProfile = value }
        if let value = optional(subscriberTemplate) { draft.subscriberTemplate = value }
        if let value = optional(classOfService) { draft.classOfService = value }
        if !dnBlocks.isEmpty {
            draft.dnBlocks = try dnBlocks == [""] ? [] : dnBlocks.map { try DNBlock(parsing: $0) }
        }
    }
}

enum ServiceAreaOutput {
    static func partition(_ name: String?) -> String {
        guard let name, !name.isEmpty else { return "<None>" }
        return "'\(name)'"
    }

    static func json(_ area: ServiceArea) -> [String: Any] {
        func optional(_ value: Any?) -> Any { value ?? NSNull() }
        let settings = area.settings
        return [
            "domain": area.domain, "name": area.name, "call_processor": settings.callProcessor,
            "message_processor": optional(settings.messageProcessor), "device_pool": settings.devicePool,
            "location": optional(settings.location), "route_partitions": settings.routePartitions,
            "device_css": optional(settings.deviceCSS), "line_css": optional(settings.lineCSS),
            "external_mask": optional(settings.externalMask), "voicemail_profile": optional(settings.voicemailProfile),
            "subscriber_template": optional(settings.subscriberTemplate), "class_of_service": optional(settings.classOfService),
            "dn_blocks": settings.dnBlocks.map { ["first": $0.first, "last": $0.last, "route_partition": $0.partition ?? ""] },
            "created_at": Output.iso(area.createdAt), "updated_at": Output.iso(area.updatedAt),
        ]
    }
}
