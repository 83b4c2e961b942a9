import ArgumentParser
import Foundation
import Inventory
import Orders
import Postgres
import Runtime

/// `ucp domain role add|edit|list|remove` (issue 15 item 9; seed 004, "Role LDAP filter").
struct UserRoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "A domain's user roles: the default services automatic provisioning orders for a user of the role.",
        discussion: """
            A role's services are those of an order: the user's Jabber for desktop device (--phone-model, \
            'Cisco Unified Client Services Framework'), named as Jabber names it: CSF and the user ID in \
            capitals, letters and digits only (a user ID longer than 12 of them, or with other characters, \
            keeps its first 7 and a 5-character digest of the whole, so that no two users share a name). \
            A desk phone is named by its MAC address, which automatic provisioning does not know: order it \
            with ucp order submit. Then --voicemail, --extension-mobility, --im-and-presence SERVICE_PROFILE. The line comes \
            from the service area's number rules (--service-area-filter, --service-area-mask, \
            --service-area-new-line of ucp domain edit). With `ucp domain edit D --automatic-provisioning on`, \
            each user an LDAP synchronization of D brings in gets one order: the services of the roles whose \
            role LDAP filter (--user-role-filter ROLE=FILTER) matches, plus the default role's (--default-role), \
            in the first service area whose service area LDAP filter matches.
            """,
        subcommands: [Add.self, Edit.self, List.self, Remove.self], aliases: ["roles"])

    /// The services options `add` and `edit` share.
    struct Services: ParsableArguments {
        @Option(help: "The user's device model: 'Cisco Unified Client Services Framework' (Jabber for desktop, the default).") var phoneModel: String?
        @Option(help: "Voicemail: yes or no (default no).") var voicemail: String?
        @Option(help: "Extension Mobility: yes or no (default no).") var extensionMobility: String?
        @Option(help: "IM and Presence with this service profile ('' on edit: none).") var imAndPresence: String?

        static func yesNo(_ text: String?, field: String) throws -> Bool? {
            guard let text else { return nil }
            guard ["yes", "no"].contains(text) else { throw InputError(field: field, problem: "\(InputError.quoted(text)) must be yes or no") }
            return text == "yes"
        }

        /// The role with the options given applied, checked (nothing is written before).
        func apply(to role: UserRole) throws -> UserRole {
            var role = role
            if let phoneModel {
                guard let model = PhoneModel.named(phoneModel) else {
                    throw InputError(field: "phone-model", problem: "\(InputError.quoted(phoneModel)) is not a model orders provision (known: \(PhoneModel.known.keys.sorted().joined(separator: ", ")))")
                }
                guard model.isSoftClient else {
                    throw InputError(field: "phone-model", problem: "\(InputError.quoted(model.product)) is a desk phone, named by its MAC address, which automatic provisioning "
                                     + "does not know: a role gives the user's Jabber for desktop device ('\(PhoneModel.jabber)')")
                }
                role.phoneModel = model.product
            }
            if let value = try Self.yesNo(voicemail, field: "voicemail") { role.voicemail = value }
            if let value = try Self.yesNo(extensionMobility, field: "extension-mobility") { role.extensionMobility = value }
            if let imAndPresence { role.imPresence = imAndPresence.isEmpty ? nil : imAndPresence }
            try UserRoleStore.check(role)
            return role
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user role to a domain.")
        @Argument(help: "The domain.") var domain: String
        @Option(help: "The role's name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @OptionGroup var services: Services
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let role = try services.apply(to: UserRole(name: name, phoneModel: PhoneModel.jabber))
            try await UserRoleStore(Connection(try await Database.open())).roleAdd(domain: domain, role, actor: global.actorName)
            print("user role '\(name)' added to domain '\(domain)': \(role.services)")
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user role's services (only the options given change).")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The role's name.") var name: String
        @OptionGroup var services: Services
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let store = UserRoleStore(Connection(try await Database.open()))
            let role = try services.apply(to: try await store.role(domain: domain, name: name))
            let changed = try await store.roleEdit(domain: domain, role, actor: global.actorName)
            print(changed ? "user role '\(name)' of domain '\(domain)' changed: \(role.services)" : "user role '\(name)' of domain '\(domain)': nothing changed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a domain's user roles.")
        @Argument(help: "The domain.") var domain: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = UserRoleStore(Connection(try await Database.open()))
            let roles = try await store.roleList(domain: domain)
            let settings = try await store.provisioning(domain: domain)
            if json {
                print(try Output.json(roles.map(UserRoleOutput.json)))
                return
            }
            if !roles.isEmpty {
                print(UserOutput.table(["NAME", "DEFAULT", "SERVICES"], roles.map { [$0.name, $0.isDefault ? "yes" : "", $0.services] }))
            }
            print("\(roles.count) user roles; automatic provisioning \(settings.on ? "on" : "off")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user role (not the default role).")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The role's name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await UserRoleStore(Connection(try await Database.open())).roleRemove(domain: domain, name: name, actor: global.actorName)
            print("user role '\(name)' removed from domain '\(domain)'")
        }
    }
}

enum UserRoleOutput {
    static func json(_ role: UserRole) -> [String: Any] {
        ["name": role.name, "default": role.isDefault, "phone_model": role.phoneModel, "voicemail": role.voicemail,
         "extension_mobility": role.extensionMobility, "im_and_presence": role.imPresence as Any? ?? NSNull()]
    }

    /// `--automatic-provisioning on|off` and `--default-role R|''` as the store takes them (nil: not given).
    static func provisioningOptions(_ automatic: String?, _ defaultRole: String?) throws -> (on: Bool?, defaultRole: String??) {
        let on = try automatic.map { text in
            guard ["on", "off"].contains(text) else { throw InputError(field: "automatic-provisioning", problem: "\(InputError.quoted(text)) must be on or off") }
            return text == "on"
        }
        let role: String?? = defaultRole.map { $0.isEmpty ? nil : $0 }
        return (on, role)
    }
}
