import APIServer
import ArgumentParser
import Foundation
import Inventory
import Postgres
import Runtime

struct ServiceAreaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service-area",
        abstract: "Service areas of a domain: which call processor, device pool, partitions, DN blocks … a service uses.",
        discussion: """
            Unified CM and Unity Connection names are checked against what the devices' infrastructure \
            synchronizations read: run one first (ucp submit sync infra --device NAME). DN blocks are \
            FIRST-LAST or FIRST-LAST:PARTITION, and may not overlap another block of the same call \
            processor and partition.
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a service area to a domain.")
        @Option(help: "The domain.") var domain: String
        @Option(help: "The area's name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @OptionGroup var fields: ServiceAreaFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var draft = ServiceAreaDraft(domain: domain, name: name)
            try fields.apply(to: &draft)
            if fields.callProcessor == nil { throw InputError(field: "call_processor", problem: "required (--call-processor NAME)") }
            if fields.devicePool == nil { throw InputError(field: "device_pool", problem: "required (--device-pool NAME)") }
            let area = try await ServiceAreaStore(Connection(try await Database.open())).serviceAreaAdd(draft, actor: global.actorName)
            print("service area '\(area.name)' added to domain '\(area.domain)'")
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a service area. Only the options given change; '' clears an optional one.")
        @Option(help: "The domain.") var domain: String
        @Argument(help: "The service area.") var name: String
        @OptionGroup var fields: ServiceAreaFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var probe = ServiceAreaDraft(domain: domain, name: name)
            try fields.apply(to: &probe)
            let store = ServiceAreaStore(Connection(try await Database.open()))
            let before = try await store.serviceArea(domain: domain, name: name)
            let fields = fields
            let area = try await store.serviceAreaUpdate(domain: domain, name: name, actor: global.actorName) { draft in
                try fields.apply(to: &draft)
            }
            print(before.map { $0.updatedAt == area.updatedAt } == true
                  ? "service area '\(name)': nothing changed" : "service area '\(name)' changed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List service areas (of one domain with --domain).")
        @Option(help: "Only this domain's.") var domain: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let areas = try await ServiceAreaStore(Connection(try await Database.open())).serviceAreaList(domain: domain)
            if json {
                print(try Output.json(areas.map(ServiceAreaOutput.json)))
                return
            }
            print(pad("DOMAIN", 20) + pad("NAME", 20) + pad("CALL PROCESSOR", 18) + pad("MESSAGE PROC.", 18) + pad("DEVICE POOL", 20)
                  + pad("BLOCKS", 8) + "SERVICES")
            for area in areas {
                print(pad(area.domain, 20) + pad(area.name, 20) + pad(area.settings.callProcessor, 18)
                      + pad(area.settings.messageProcessor ?? "-", 18) + pad(area.settings.devicePool, 20)
                      + pad(String(area.settings.dnBlocks.count), 8) + String(area.placedServices))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one service area.")
        @Option(help: "The domain.") var domain: String
        @Argument(help: "The service area.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard let area = try await ServiceAreaStore(Connection(try await Database.open())).serviceArea(domain: domain, name: name) else {
                throw ServiceAreaStore.noSuchArea(domain: domain, name: name)
            }
            if json {
                print(try Output.json(ServiceAreaOutput.json(area)))
                return
            }
            let s = area.settings
            var lines: [(String, String)] = [
                ("domain", s.domain), ("name", s.name), ("call processor", s.callProcessor),
                ("message processor", s.messageProcessor ?? "-"), ("device pool", s.devicePool), ("location", s.location ?? "-"),
                ("device css", s.deviceCSS ?? "-"), ("line css", s.lineCSS ?? "-"), ("external mask", s.externalMask ?? "-"),
                ("voicemail profile", s.voicemailProfile ?? "-"), ("unity template", s.unityTemplate ?? "-"),
                ("unity cos", s.unityCOS ?? "-"), ("partitions", s.partitions.isEmpty ? "-" : s.partitions.joined(separator: ", ")),
            ]
            lines += s.dnBlocks.map { ("dn block", $0.text) }
            lines += [("services placed", String(area.placedServices)), ("created at", Output.shortTime(area.createdAt)),
                      ("updated at", Output.shortTime(area.updatedAt))]
            for (key, value) in lines { print(pad(key, 19) + value) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a service area no user service is placed in.")
        @Option(help: "The domain.") var domain: String
        @Argument(help: "The service area.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await ServiceAreaStore(Connection(try await Database.open())).serviceAreaRemove(domain: domain, name: name, actor: global.actorName)
            print("service area '\(name)' removed from domain '\(domain)'")
        }
    }
}

/// The options `service-area add` and `service-area edit` share; on edit, only those given change.
struct ServiceAreaFieldOptions: ParsableArguments {
    @Option(name: .customLong("call-processor"), help: "The Unified CM device (required on add).") var callProcessor: String?
    @Option(name: .customLong("message-processor"), help: "The Unity Connection device ('' on edit: none).") var messageProcessor: String?
    @Option(name: .customLong("device-pool"), help: "The device pool (required on add).") var devicePool: String?
    @Option(help: "The location ('' clears).") var location: String?
    @Option(name: .customLong("device-css"), help: "The device calling search space ('' clears).") var deviceCSS: String?
    @Option(name: .customLong("line-css"), help: "The line calling search space ('' clears).") var lineCSS: String?
    @Option(name: .customLong("external-mask"), help: "The external phone number mask, e.g. 972555XXXX ('' clears).") var externalMask: String?
    @Option(name: .customLong("voicemail-profile"), help: "The voicemail profile ('' clears).") var voicemailProfile: String?
    @Option(name: .customLong("unity-template"), help: "The Unity subscriber template alias ('' clears).") var unityTemplate: String?
    @Option(name: .customLong("unity-cos"), help: "The Unity class of service ('' clears).") var unityCOS: String?
    @Option(name: .customLong("partition"), help: "A route partition (repeatable, in order; replaces the list; '' clears it).")
    var partitions: [String] = []
    @Option(name: .customLong("dn-block"), help: "FIRST-LAST[:PARTITION] (repeatable; replaces the list; '' clears it).")
    var dnBlocks: [String] = []

    func apply(to draft: inout ServiceAreaDraft) throws {
        func optional(_ value: String?) -> String?? { value.map { $0.isEmpty ? nil : $0 } }
        if let callProcessor { draft.callProcessor = callProcessor }
        if let value = optional(messageProcessor) { draft.messageProcessor = value }
        if let devicePool { draft.devicePool = devicePool }
        if let value = optional(location) { draft.location = value }
        if let value = optional(deviceCSS) { draft.deviceCSS = value }
        if let value = optional(lineCSS) { draft.lineCSS = value }
        if let value = optional(externalMask) { draft.externalMask = value }
        if let value = optional(voicemailProfile) { draft.voicemailProfile = value }
        if let value = optional(unityTemplate) { draft.unityTemplate = value }
        if let value = optional(unityCOS) { draft.unityCOS = value }
        if !partitions.isEmpty { draft.partitions = partitions == [""] ? [] : partitions }
        if !dnBlocks.isEmpty { draft.dnBlocks = dnBlocks == [""] ? [] : try dnBlocks.map(ServiceAreaValidation.dnBlock) }
    }
}

enum ServiceAreaOutput {
    static func json(_ area: ServiceArea) -> [String: Any] { Representation.serviceArea(area) }
}
