import DeviceClients
import Foundation
import Inventory
import Runtime

/// A phone model an order may name: what addPhone sends for it.
public struct PhoneModel: Sendable, Equatable {
    public var product: String
    public var deviceProtocol: String
    public var template: String
    public var securityProfile: String

    /// Jabber for desktop (a soft client): named `CSF` and up to 12 letters or digits. Every other
    /// model here is a desk phone, named `SEP` and its MAC address.
    public static let jabber = "Cisco Unified Client Services Framework"

    /// The models orders provision: SIP desk phones (their standard button templates and profiles)
    /// and Jabber for desktop.
    public static let known: [String: PhoneModel] = Dictionary(uniqueKeysWithValues: ["8845", "8865", "7841", "8851", "7821"].map { number in
        ("Cisco \(number)", PhoneModel(product: "Cisco \(number)", deviceProtocol: "SIP", template: "Standard \(number) SIP",
                                       securityProfile: "Cisco \(number) - Standard SIP Non-Secure Profile"))
    } + [(jabber, PhoneModel(product: jabber, deviceProtocol: "SIP", template: "Standard Client Services Framework",
                             securityProfile: "Cisco Unified Client Services Framework - Standard SIP Non-Secure Profile"))])

    public static func named(_ name: String) -> PhoneModel? {
        known.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    public var isSoftClient: Bool { product == Self.jabber }

    /// Why Unified CM would refuse `name` for a device of this model ("The specified name has invalid
    /// characters or is not formatted correctly for this device type"), or nil.
    public func nameProblem(_ name: String) -> String? {
        if isSoftClient {
            guard name.range(of: #"\ACSF[A-Za-z0-9]{1,12}\z"#, options: .regularExpression) == nil else { return nil }
            return "\(InputError.quoted(name)) is not a name Jabber for desktop takes: CSF and 1 to 12 letters or digits (e.g. CSFJDOE)"
        }
        guard name.range(of: #"\ASEP[0-9A-Fa-f]{12}\z"#, options: .regularExpression) == nil else { return nil }
        return "\(InputError.quoted(name)) is not a name a \(product) takes: SEP and its MAC address, 12 hexadecimal digits (e.g. SEP001122334455)"
    }
}

/// What the planner reads from the inventory for one add order.
public struct PlanInputs: Sendable {
    public var area: ServiceAreaDraft
    public var user: User
    /// The call processor's user synchronization saw the user: the order adopts it (getUser only).
    public var userOnDevice: Bool
    /// The number the order takes and its partition ('' for none).
    public var line: String
    public var partition: String
    /// The call processor's address: the host of the Extension Mobility login service's URL.
    public var callProcessorAddress: String

    public init(area: ServiceAreaDraft, user: User, userOnDevice: Bool, line: String, partition: String, callProcessorAddress: String = "") {
        self.area = area
        self.user = user
        self.userOnDevice = userOnDevice
        self.line = line
        self.partition = partition
        self.callProcessorAddress = callProcessorAddress
    }
}

/// Plans an add order: the exact ordered calls with their values, the service area's defaults filled
/// in (seed 000's order; orders-brief §A.1). Pure: the same request and inputs give the same plan.
public enum OrderPlanner {
    /// The marker every object the order creates carries in its description (DESIGN.md §7).
    public static func marker(_ orderID: Int64?) -> String { "ucp:order=\(orderID.map(String.init) ?? "new")" }

    public static let presenceGroup = "Standard Presence group"
    public static let commonPhoneProfile = "Standard Common Phone Profile"
    public static let sipProfile = "Standard SIP Profile"
    public static let defaultLocation = "Hub_None"
    public static let defaultVoicemailProfile = "Default"
    /// The call forwards that go to voicemail (orders-brief §A.1 step 7c; CFA is left alone).
    public static let forwardsToVoicemail = [
        "callForwardBusy", "callForwardBusyInt", "callForwardNoAnswer", "callForwardNoAnswerInt", "callForwardNoCoverage",
        "callForwardNoCoverageInt", "callForwardOnFailure", "callForwardNotRegistered", "callForwardNotRegisteredInt",
    ]

    public static func steps(_ request: OrderRequest, _ inputs: PlanInputs, orderID: Int64?) -> [PlannedStep] {
        let area = inputs.area, user = inputs.user
        let model = PhoneModel.named(request.phoneModel)!
        let first = user.fields["first_name"], last = user.fields["last_name"] ?? user.userID
        let display = [first, user.fields["last_name"]].compactMap { $0 }.joined(separator: " ")
        let name = display.isEmpty ? user.userID : display
        let marker = Self.marker(orderID)
        let cp = area.callProcessor
        var steps: [PlannedStep] = []

        // 1. The user on Unified CM (adopted or added), then its credential policy.
        steps += userSteps(user, onDevice: inputs.userOnDevice, credentialPolicy: request.credentialPolicy, device: cp)

        // 2. The line: the number from the area's block, in its partition (none allowed).
        var line: [CallField] = [CallField("pattern", inputs.line), CallField("description", "\(marker) \(name)"), CallField("usage", "Device")]
        if !inputs.partition.isEmpty { line.append(CallField("routePartitionName", inputs.partition)) }
        line.append(CallField("alertingName", name))
        line.append(CallField("asciiAlertingName", ascii(name)))
        if let css = area.lineCSS { line.append(CallField("shareLineAppearanceCssName", css)) }
        steps.append(PlannedStep(name: .line, device: cp, calls: [PlannedCall("addLine", [CallField("line", .fields(line))])]))

        // 3. The phone with that line and the area's settings, owned by the user.
        var appearance: [CallField] = [CallField("index", "1"), CallField("label", "\(name) - \(shownNumber(inputs.line))"), CallField("display", name),
                                       CallField("dirn", .fields(dirn(inputs)))]
        if let mask = area.externalMask { appearance.append(CallField("e164Mask", mask)) }
        var phone: [CallField] = [
            CallField("name", request.phoneName), CallField("description", "\(marker) \(name)"), CallField("product", model.product),
            CallField("class", "Phone"), CallField("protocol", model.deviceProtocol), CallField("protocolSide", "User"),
        ]
        if let css = area.deviceCSS { phone.append(CallField("callingSearchSpaceName", css)) }
        phone += [
            CallField("devicePoolName", area.devicePool), CallField("commonPhoneConfigName", commonPhoneProfile),
            CallField("locationName", area.location ?? defaultLocation), CallField("useTrustedRelayPoint", "Default"),
            CallField("securityProfileName", model.securityProfile), CallField("sipProfileName", sipProfile),
            CallField("lines", .fields([CallField("line", .fields(appearance))])),
            CallField("phoneTemplateName", model.template), CallField("primaryPhoneName", ""),
            CallField("builtInBridgeStatus", "Default"), CallField("ownerUserName", user.userID),
            CallField("packetCaptureMode", "None"), CallField("certificateOperation", "No Pending Operation"),
            CallField("deviceMobilityMode", "Default"),
        ]
        steps.append(PlannedStep(name: .phone, device: cp, calls: [PlannedCall("addPhone", [CallField("phone", .fields(phone))])]))

        // 4. Associate: the user's device list as read, extended with the phone, written whole; the primary extension.
        steps.append(PlannedStep(name: .associate, device: cp, calls: [PlannedCall("updateUser", [
            CallField("userid", user.userID),
            CallField("associatedDevices", .fields([CallField("device", request.phoneName)])),
            CallField("primaryExtension", .fields(dirn(inputs))),
        ])]))

        // 5. Voicemail: the Unity Connection user from the area's template, then the line's profile and forwards.
        if request.voicemail, let unity = area.messageProcessor, let template = area.unityTemplate {
            var mailbox = [CallField("Alias", user.userID), CallField("DtmfAccessId", shownNumber(inputs.line))]
            if let first { mailbox.append(CallField("FirstName", first)) }
            mailbox.append(CallField("LastName", last))
            steps.append(PlannedStep(name: .voicemail, device: unity, calls: [
                PlannedCall("POST /vmrest/users?templateAlias=\(CUPIClient.queryValue(template))", mailbox),
            ]))
            let update = [CallField("pattern", inputs.line), CallField("routePartitionName", inputs.partition)] + voicemailLineFields(area)
            steps.append(PlannedStep(name: .lineVoicemail, device: cp, calls: [PlannedCall("updateLine", update)]))
        }

        // 6. Extension Mobility, conferencing, Single Number Reach, IM and Presence (seed 000 steps 7 to 10), before the reset.
        if request.extensionMobility {
            steps += extensionMobilitySteps(request, inputs, name: name, marker: marker)
        }
        if let code = request.conferenceNow {
            // Conferencing (seed 000 step 8): the user may host Conference Now, attendees enter this code.
            steps.append(PlannedStep(name: .conferenceNow, device: cp, calls: [PlannedCall("updateUser", [
                CallField("userid", user.userID), CallField("enableUserToHostConferenceNow", "true"), CallField("attendeesAccessCode", code),
            ])]))
        }
        if let destination = request.singleNumberReach {
            steps += singleNumberReachSteps(destination, inputs, name: name, marker: marker)
        }
        if let profile = request.imPresence {
            // Service profile and IM and Presence (seed 000 step 10): this cluster the user's home cluster.
            steps.append(PlannedStep(name: .imPresence, device: cp, calls: [PlannedCall("updateUser", [
                CallField("userid", user.userID), CallField("homeCluster", "true"), CallField("imAndPresenceEnable", "true"),
                CallField("serviceProfile", profile),
            ])]))
        }

        // 7. Reset the phone: last, retried, never undone.
        steps.append(PlannedStep(name: .reset, device: cp, calls: [PlannedCall("doDeviceReset", [
            CallField("deviceName", request.phoneName), CallField("deviceResetType", "Reset"),
        ])]))
        return steps
    }

    /// The name of the Extension Mobility login service an order subscribes (and adds once per call
    /// processor when it has none by that name).
    public static let emServiceName = "Extension Mobility"
    /// The user's device profile and remote destination profile.
    public static func deviceProfileName(_ userID: String) -> String { "UDP_" + userID }
    public static func remoteDestinationProfileName(_ userID: String) -> String { "RDP_" + userID }

    /// The login service's URL on the call processor at `address` (orders-brief §A.1 9a).
    public static func emServiceURL(_ address: String) -> String {
        "http://\(address.isEmpty ? "localhost" : address):8080/emapp/EMAppServlet?device=#DEVICENAME#"
    }

    /// The login service as a phone or device profile subscribes it (XSubscribedService).
    static func emSubscription(_ inputs: PlanInputs) -> CallField {
        CallField("service", .fields([CallField("telecasterServiceName", emServiceName), CallField("name", emServiceName),
                                      CallField("url", emServiceURL(inputs.callProcessorAddress))]))
    }

    /// Extension Mobility (orders-brief §A.1 9a, 9c, 9d): the login service (infrastructure: added
    /// once per call processor, adopted when there; never undone), subscribed on the phone with EM
    /// enabled, the user's device profile with the line and the service, the profile in the user's
    /// phoneProfiles and as its defaultProfile (enableEmcc left alone: EMCC is login across
    /// clusters, which an order of one call processor does not set up). The lists (services, phoneProfiles) are read, extended and written whole.
    static func extensionMobilitySteps(_ request: OrderRequest, _ inputs: PlanInputs, name: String, marker: String) -> [PlannedStep] {
        let cp = inputs.area.callProcessor, user = inputs.user.userID
        let model = PhoneModel.named(request.phoneModel)!
        let profile = deviceProfileName(user)
        let service: [CallField] = [
            CallField("serviceName", emServiceName), CallField("asciiServiceName", emServiceName),
            CallField("serviceDescription", "\(marker) Extension Mobility login/logout"),
            CallField("serviceUrl", emServiceURL(inputs.callProcessorAddress)), CallField("serviceCategory", "XML Service"),
            CallField("serviceType", "Standard IP Phone Service"), CallField("enabled", "true"), CallField("enterpriseSubscription", "false"),
        ]
        let appearance: [CallField] = [CallField("index", "1"), CallField("label", "\(name) - \(shownNumber(inputs.line))"), CallField("display", name),
                                       CallField("dirn", .fields(dirn(inputs)))]
        let deviceProfile: [CallField] = [
            CallField("name", profile), CallField("description", "\(marker) \(name)"), CallField("product", model.product),
            CallField("class", "Device Profile"), CallField("protocol", model.deviceProtocol), CallField("protocolSide", "User"),
            CallField("lines", .fields([CallField("line", .fields(appearance))])), CallField("phoneTemplateName", model.template),
            CallField("loginUserId", user), CallField("services", .fields([emSubscription(inputs)])),
        ]
        return [
            PlannedStep(name: .emService, device: cp, calls: [PlannedCall("addIpPhoneServices", [CallField("ipPhoneServices", .fields(service))])]),
            PlannedStep(name: .emPhone, device: cp, calls: [PlannedCall("updatePhone", [
                CallField("name", request.phoneName), CallField("services", .fields([emSubscription(inputs)])),
                CallField("enableExtensionMobility", "true"),
            ])]),
            PlannedStep(name: .emProfile, device: cp, calls: [PlannedCall("addDeviceProfile", [CallField("deviceProfile", .fields(deviceProfile))])]),
            // The profile is the user's default too, so an EM login picks it (one update: the list
            // and the default are read, kept and written back together).
            PlannedStep(name: .emUser, device: cp, calls: [PlannedCall("updateUser", [
                CallField("userid", user), CallField("phoneProfiles", .fields([CallField("profileName", profile)])),
                CallField("defaultProfile", profile),
            ])]),
        ]
    }

    /// Single Number Reach (orders-brief §A.1 11): mobility enabled on the user, a remote destination
    /// profile with the user's line and the area's device pool, the remote destination (keyed by its
    /// number; the marker in its name: it has no description). Never a nil dualModeDeviceName (CSCvq98025).
    static func singleNumberReachSteps(_ destination: String, _ inputs: PlanInputs, name: String, marker: String) -> [PlannedStep] {
        let cp = inputs.area.callProcessor, user = inputs.user.userID
        let profile = remoteDestinationProfileName(user)
        var rdp: [CallField] = [
            CallField("name", profile), CallField("description", "\(marker) \(name)"), CallField("product", "Remote Destination Profile"),
            CallField("class", "Remote Destination Profile"), CallField("protocol", "Remote Destination"), CallField("protocolSide", "User"),
        ]
        if let css = inputs.area.deviceCSS { rdp.append(CallField("callingSearchSpaceName", css)) }
        rdp += [
            CallField("devicePoolName", inputs.area.devicePool),
            CallField("lines", .fields([CallField("line", .fields([CallField("index", "1"), CallField("dirn", .fields(dirn(inputs)))]))])),
            CallField("callInfoPrivacyStatus", "Default"), CallField("userId", user),
        ]
        let remote: [CallField] = [
            CallField("name", "\(marker) \(user)"), CallField("destination", destination), CallField("answerTooSoonTimer", "1500"),
            CallField("answerTooLateTimer", "19000"), CallField("delayBeforeRingingCell", "4000"), CallField("ownerUserId", user),
            CallField("enableUnifiedMobility", "true"), CallField("remoteDestinationProfileName", profile),
            CallField("isMobilePhone", "true"), CallField("enableMobileConnect", "true"),
            CallField("lineAssociations", .fields([CallField("lineAssociation", .fields(dirn(inputs)))])),
        ]
        return [
            PlannedStep(name: .snrUser, device: cp, calls: [PlannedCall("updateUser", [CallField("userid", user), CallField("enableMobility", "true")])]),
            PlannedStep(name: .snrProfile, device: cp, calls: [PlannedCall("addRemoteDestinationProfile", [CallField("remoteDestinationProfile", .fields(rdp))])]),
            PlannedStep(name: .snrDestination, device: cp, calls: [PlannedCall("addRemoteDestination", [CallField("remoteDestination", .fields(remote))])]),
        ]
    }

    /// Pushes the user to Unified CM (seed 000 step 4): adopt the one the user sync saw (getUser
    /// only), else addUser with no devices yet; then its credential policy (step 2), which AXL sets
    /// by update only.
    public static func userSteps(_ user: User, onDevice: Bool, credentialPolicy: String?, device cp: String) -> [PlannedStep] {
        var steps: [PlannedStep] = []
        if onDevice {
            steps.append(PlannedStep(name: .user, device: cp, calls: [PlannedCall("getUser", [CallField("userid", user.userID)])]))
        } else {
            let first = user.fields["first_name"], last = user.fields["last_name"] ?? user.userID
            var fields: [CallField] = []
            if let first { fields.append(CallField("firstName", first)) }
            fields.append(CallField("lastName", last))
            fields.append(CallField("userid", user.userID))
            if let email = user.fields["email"] { fields.append(CallField("mailid", email)) }
            if let department = user.fields["department"] { fields.append(CallField("department", department)) }
            fields.append(CallField("presenceGroupName", presenceGroup))
            steps.append(PlannedStep(name: .user, device: cp, calls: [PlannedCall("addUser", [CallField("user", .fields(fields))])]))
        }
        if let credentialPolicy {
            steps.append(PlannedStep(name: .credentialPolicy, device: cp, calls: [PlannedCall("updateUser", [
                CallField("userid", user.userID),
                CallField("passwordCredentials", .fields([CallField("pwdCredPolicyName", credentialPolicy)])),
                CallField("pinCredentials", .fields([CallField("pinCredPolicyName", credentialPolicy)])),
            ])]))
        }
        return steps
    }

    /// The line fields of voicemail (orders-brief §A.1 7b, 7c): the call forwards to voicemail
    /// through the area's line CSS, and the area's voicemail profile; with `shareLineCSS`, that
    /// between them (the order of AXLSoap.xsd's XLine).
    static func voicemailLineFields(_ area: ServiceAreaDraft, shareLineCSS: String? = nil) -> [CallField] {
        forwardsToVoicemail.map { forward in
            CallField(forward, .fields([CallField("forwardToVoiceMail", "true"), CallField("callingSearchSpaceName", area.lineCSS ?? "")]))
        } + (shareLineCSS.map { [CallField("shareLineAppearanceCssName", $0)] } ?? [])
            + [CallField("voiceMailProfileName", area.voicemailProfile ?? defaultVoicemailProfile)]
    }

    /// A moved user's phone and the appearances of the user's lines on it (`index` nil when the
    /// inventory does not know the phone's lines: the step finds the appearance by its number).
    public struct MovedPhone: Sendable, Equatable {
        public var name: String
        public var appearances: [Appearance]

        public init(name: String, appearances: [Appearance]) {
            self.name = name
            self.appearances = appearances
        }
    }

    /// A line on a phone: its place on the phone (when known) and its number.
    public struct Appearance: Sendable, Equatable {
        public var index: String?
        public var pattern: String
        public var partition: String

        public init(index: String?, pattern: String, partition: String) {
            self.index = index
            self.pattern = pattern
            self.partition = partition
        }
    }

    /// A change order that moves a user with services to another area of the same call processor
    /// (orders-brief §A.3): each phone takes the area's device CSS, device pool and location and,
    /// when the area has an external mask, that mask on its appearances of the user's lines (the
    /// phone's lines are read and written whole: the other appearances as they are); each line its
    /// line CSS and, for a user with voicemail, the area's voicemail profile and forwards to
    /// voicemail (the partition stays: the number does not change). An area without a mask leaves
    /// the masks as they are (the add order sets none there either). The phones are reset last so
    /// the new settings take effect. Updates only: undo writes the before-images back.
    public static func moveSteps(to area: ServiceAreaDraft, phones: [MovedPhone], lines: [(pattern: String, partition: String)],
                                 voicemail: Bool) -> [PlannedStep] {
        let cp = area.callProcessor
        var steps: [PlannedStep] = []
        for phone in phones {
            var values = [CallField("name", phone.name)]
            if let css = area.deviceCSS { values.append(CallField("callingSearchSpaceName", css)) }
            values.append(CallField("devicePoolName", area.devicePool))
            values.append(CallField("locationName", area.location ?? defaultLocation))
            if let mask = area.externalMask, !phone.appearances.isEmpty {
                values.append(CallField("lines", .fields(phone.appearances.map { appearance in
                    CallField("line", .fields((appearance.index.map { [CallField("index", $0)] } ?? []) + [
                        CallField("dirn", .fields([CallField("pattern", appearance.pattern), CallField("routePartitionName", appearance.partition)])),
                        CallField("e164Mask", mask),
                    ]))
                })))
            }
            steps.append(PlannedStep(name: .movePhone, device: cp, calls: [PlannedCall("updatePhone", values)]))
        }
        let lineFields = voicemail ? voicemailLineFields(area, shareLineCSS: area.lineCSS)
            : area.lineCSS.map { [CallField("shareLineAppearanceCssName", $0)] } ?? []
        if !lineFields.isEmpty {
            for line in lines {
                steps.append(PlannedStep(name: .moveLine, device: cp, calls: [PlannedCall("updateLine", [
                    CallField("pattern", line.pattern), CallField("routePartitionName", line.partition),
                ] + lineFields)]))
            }
        }
        for phone in phones {
            steps.append(PlannedStep(name: .reset, device: cp, calls: [PlannedCall("doDeviceReset", [
                CallField("deviceName", phone.name), CallField("deviceResetType", "Reset"),
            ])]))
        }
        return steps
    }

    static func dirn(_ inputs: PlanInputs) -> [CallField] {
        [CallField("pattern", inputs.line), CallField("routePartitionName", inputs.partition)]
    }

    static func ascii(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 }.map(Character.init))
    }

    /// The next free number of the area's blocks, in block order: not in `taken` (in use on the
    /// device, in the inventory, held by an open order).
    public static func nextFreeNumber(_ blocks: [DNBlock], taken: (DNBlock) -> Set<String>) -> (number: String, partition: String)? {
        freeNumbers(blocks, limit: 1, taken: taken).first
    }

    /// The first `limit` free numbers of the blocks, in order (the candidates a submission tries).
    public static func freeNumbers(_ blocks: [DNBlock], limit: Int, taken: (DNBlock) -> Set<String>) -> [(number: String, partition: String)] {
        var free: [(number: String, partition: String)] = []
        for block in blocks {
            let used = taken(block)
            let plus = block.first.hasPrefix("+") ? "+" : ""
            let width = block.first.count - plus.count
            guard let low = Int(block.first.dropFirst(plus.count)), let high = Int(block.last.dropFirst(plus.count)), low <= high else { continue }
            for value in low...high {
                let digits = String(value)
                let number = plus + String(repeating: "0", count: max(0, width - digits.count)) + digits
                if !used.contains(number) {
                    free.append((number, block.partition))
                    if free.count == limit { return free }
                }
            }
        }
        return free
    }

    /// An E.164 number as a directory number's pattern on Unified CM: `\+` and the digits (a plain
    /// `+` is not a pattern character there; `\+` is, and is how its syncs read such a line back).
    /// A mask's `+` and `\+` thus give one number (`+14085550101`, `\+14085550101` → `\+14085550101`).
    public static func directoryNumber(_ number: String) -> String {
        number.hasPrefix("+") ? "\\" + number : number
    }

    /// A line as people read and dial it: an E.164 pattern without Unified CM's escape (`\+1408…` →
    /// `+1408…`), for the appearance's label and the mailbox's extension (Unity Connection, E.164).
    static func shownNumber(_ line: String) -> String {
        line.hasPrefix("\\+") ? String(line.dropFirst()) : line
    }

    /// The block of `number`, if any of the area's holds it.
    public static func block(of number: String, in blocks: [DNBlock]) -> DNBlock? {
        blocks.first { $0.first.count == number.count && $0.first <= number && number <= $0.last }
    }
}
