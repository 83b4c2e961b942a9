import AXL
import Foundation

/// A value of a planned device call: text, or named children in the order they are sent (the XSD
/// sequence for AXL). Stored as JSON: text as a string, children as `[[name, value], …]`.
public indirect enum CallValue: Sendable, Equatable, Codable {
    case text(String)
    case fields([CallField])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .fields(try container.decode([CallField].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .fields(let fields): try container.encode(fields)
        }
    }

    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    public var children: [CallField] {
        if case .fields(let fields) = self { return fields }
        return []
    }
}

/// One named value of a call.
public struct CallField: Sendable, Equatable, Codable {
    public var name: String
    public var value: CallValue

    public init(_ name: String, _ value: CallValue) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ text: String) {
        self.init(name, .text(text))
    }

    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        name = try container.decode(String.self)
        value = try container.decode(CallValue.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(name)
        try container.encode(value)
    }
}

extension Array where Element == CallField {
    public subscript(name: String) -> CallValue? { first { $0.name == name }?.value }

    public func text(_ name: String) -> String? { self[name]?.text }

    /// `name=value name{child=value …}`, as `order plan` and `order show` print a call.
    public var rendered: String {
        map { field in
            switch field.value {
            case .text(let text): return "\(field.name)=\(text.contains(" ") || text.isEmpty ? "'\(text)'" : text)"
            case .fields(let children): return "\(field.name){\(children.rendered)}"
            }
        }.joined(separator: " ")
    }

    /// Writes the fields as AXL elements, in order.
    func write(to writer: inout XMLWriter) {
        for field in self {
            switch field.value {
            case .text(let text) where text.isEmpty: writer.empty(field.name)
            case .text(let text): writer.element(field.name, text)
            case .fields(let children):
                writer.open(field.name)
                children.write(to: &writer)
                writer.close(field.name)
            }
        }
    }
}

/// One device call of a plan: the operation (an AXL operation, or a CUPI method and resource) on a
/// device, with its values.
public struct PlannedCall: Sendable, Equatable, Codable {
    public var operation: String
    public var values: [CallField]

    public init(_ operation: String, _ values: [CallField]) {
        self.operation = operation
        self.values = values
    }

    public var rendered: String { values.isEmpty ? operation : "\(operation) \(values.rendered)" }
}

/// The steps of seed 000 an add order runs, in their order (orders-brief §A.1).
public enum StepName: String, Sendable, Codable, CaseIterable {
    /// Push the user to Unified CM: adopt an existing one, else addUser.
    case user
    /// addLine: the number from the area's block.
    case line
    /// addPhone with the line and the area's settings.
    case phone
    /// updateUser: associatedDevices (read, extended, written whole) and primaryExtension.
    case associate
    /// The Unity Connection user from the area's template, its DTMF access ID the line.
    case voicemail
    /// updateLine: the voicemail profile and call forwards to voicemail.
    case lineVoicemail = "line_voicemail"
    /// doDeviceReset: last; retried, never undone.
    case reset
    /// updateUser after the user step: its password and PIN credential policies (not settable on
    /// addUser, AXLSoap.xsd 12.5 XUser).
    case credentialPolicy = "credential_policy"
    /// updatePhone of a change order: a moved user's phone takes the new area's device pool,
    /// location and calling search space.
    case movePhone = "move_phone"
    /// updateLine of a change order: a moved user's line takes the new area's line CSS.
    case moveLine = "move_line"
    /// Extension Mobility (seed 000 step 7, orders-brief §A.1 9a): the Login/Logout IP phone service
    /// on the call processor — adopted when it has one by that name, else addIpPhoneServices. An
    /// infrastructure object shared by every user: never undone by an order.
    case emService = "em_service"
    /// updatePhone (9c): the phone's services (read, extended with the login service, written whole)
    /// and Extension Mobility enabled.
    case emPhone = "em_phone"
    /// addDeviceProfile (9d): the user's device profile with the user's line, subscribed to the login
    /// service (so the domain synchronization counts it as Extension Mobility access).
    case emProfile = "em_profile"
    /// updateUser (9d): the profile in the user's phoneProfiles (read, extended, written whole)
    /// and as its defaultProfile.
    case emUser = "em_user"
    /// Single Number Reach (seed 000 step 9, §A.1 11): updateUser enableMobility.
    case snrUser = "snr_user"
    /// addRemoteDestinationProfile with the user's line and the area's device pool.
    case snrProfile = "snr_profile"
    /// addRemoteDestination: the number, keyed by its destination, on the profile and the line.
    case snrDestination = "snr_destination"
    /// Service profile and IM and Presence (seed 000 step 10, §A.1 12): updateUser homeCluster,
    /// imAndPresenceEnable and serviceProfile (before-image kept).
    case imPresence = "im_presence"
    /// Conferencing (seed 000 step 8, §A.1 10): updateUser enableUserToHostConferenceNow and
    /// attendeesAccessCode (before-image kept); refused at plan time when the call processor has no
    /// Conference Now number.
    case conferenceNow = "conference_now"
    /// updateUser of a delete order (DeleteOrders.swift): the user's phones taken off its devices
    /// and its primary extension cleared when it is one of the lines removed; first, so nothing is
    /// removed while still associated.
    case disassociate
    /// DELETE of the user's Unity Connection user (its mailbox), while it is still the user's.
    case removeVoicemail = "remove_voicemail"
    /// removePhone of a delete order: a phone the user still owns, by the uuid read.
    case removePhone = "remove_phone"
    /// removeLine of a delete order: a line of the user, by the uuid read.
    case removeLine = "remove_line"
    /// removeRemoteDestination of a delete order: a Single Number Reach destination the user still owns.
    case removeRemoteDestination = "remove_remote_destination"
    /// removeRemoteDestinationProfile of a delete order: the user's remote destination profile.
    case removeRemoteDestinationProfile = "remove_remote_destination_profile"
    /// removeDeviceProfile of a delete order: the user's Extension Mobility device profile.
    case removeDeviceProfile = "remove_device_profile"
    /// removeUser of a delete order: the end user, last. (Also a directory order's removal of a
    /// copy UDS added, by its uuid.)
    case removeUser = "remove_user"
    /// addUser of a directory order (DirectorySource.swift): the user copied to another Unified CM
    /// for UDS, homeCluster false (true on its home cluster); an end user there is adopted.
    case udsUser = "uds_user"
    /// updateUser of a directory order on the user's home cluster: homeCluster true (before-image kept).
    case udsHome = "uds_home"
}

/// A step as planned: which device it calls and the calls it makes.
public struct PlannedStep: Sendable, Equatable, Codable {
    public var name: StepName
    public var device: String
    public var calls: [PlannedCall]

    public init(name: StepName, device: String, calls: [PlannedCall]) {
        self.name = name
        self.device = device
        self.calls = calls
    }
}
