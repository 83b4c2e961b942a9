/// What UCProvision reads from a Unified CM or Unity Connection, one entry per inventory object type:
/// the seed's Table 1 (infrastructure) and Table 2 (user), the Unity items the seed lists, and for
/// each the AXL (or CUPI) operation that reads it, after `shared/docs/domain-brief.md` sections 1 and 4.
///
/// The client (sync) and `ucp devsim` (the simulator) both read this catalog, so the two sides of the
/// wire cannot disagree about an operation, a tag or a key.
public struct AXLObjectType: Sendable, Hashable {
    /// The inventory type name, as the seed's detailed log spells object types (`SIPTrunk`, `PhoneTemplate`).
    public let inventoryType: String
    /// The AXL type in operation names: `listSipTrunk`, `getSipTrunk` → `SipTrunk`.
    public let axlName: String
    /// The searchCriteria child the list request sets to `%` (AXL requires at least one criterion).
    public let searchField: String
    /// Extra fixed search criteria (the VG gateway models are `listGateway` with `product=VG202` …).
    public let fixedCriteria: [String: String]
    /// The returnedTags the list asks for (the LX type's scalar fields the inventory keeps).
    public let returnedTags: [String]
    /// The tags that together name an object for an operator (`pattern` + `routePartitionName` for a line).
    public let keyTags: [String]
    /// Tags only a `get` returns (collections: phone lines, device-profile services, RDP lines, a user's
    /// devices): when non-empty the sync follows each listed object with a `get`.
    public let getTags: [String]
    /// How the object is read.
    public let source: Source
    public let sync: SyncKind

    public enum Source: Sendable, Hashable {
        /// `list<axlName>` paged with skip/first (and `get<axlName>` when `getTags` is not empty).
        case axlList
        /// Only SQL reaches it: `executeSQLQuery` on this Informix table.
        case axlSQL(table: String)
        /// Unity Connection REST (CUPI): `/vmrest/<path>`, paged with rowsPerPage/pageNumber.
        case cupi(path: String, element: String)
        /// No API exposes it (the seed lists it, AXL has no equivalent): reported, never read.
        case unavailable(reason: String)
    }

    public enum SyncKind: String, Sendable, Hashable {
        case infra, user
    }

    public var listOperation: String { "list\(axlName)" }
    public var getOperation: String { "get\(axlName)" }
    /// The element each listed object comes in (`listSipTrunkResponse/return/sipTrunk`).
    public var itemElement: String { axlName.prefix(1).lowercased() + axlName.dropFirst() }
}

public enum AXLCatalog {
    /// Unified CM, infrastructure synchronization (seed Table 1), in the order the sync reads them.
    public static let callProcessorInfrastructure: [AXLObjectType] = [
        list("AARGroup", "AarGroup", tags: ["name"]),
        list("CallPark", "CallPark", search: "pattern", tags: ["pattern", "description", "routePartitionName", "callManagerName"], key: ["pattern", "routePartitionName"]),
        list("CallingSearchSpace", "Css", tags: ["description", "clause", "partitionUsage", "name"]),
        list("ClientMatterCode", "CmcInfo", search: "code", tags: ["code", "description"], key: ["code"]),
        list("CallManagerGroup", "CallManagerGroup", tags: ["name", "tftpDefault"]),
        list("CallPickupGroup", "CallPickupGroup", search: "pattern", tags: ["pattern", "routePartitionName", "pickupNotification", "name"]),
        list("CommonDeviceConfig", "CommonDeviceConfig", tags: ["name", "softkeyTemplateName", "userLocale", "mlppIndicationStatus", "ipAddressingMode"]),
        list("ConferenceBridge", "ConferenceBridge", tags: ["name", "product", "devicePoolName", "locationName", "maximumCapacity"]),
        list("ConferenceNow", "ConferenceNow", search: "conferenceNowNumber", tags: ["conferenceNowNumber", "routePartitionName", "description", "maxWaitTimeForHost"], key: ["conferenceNowNumber", "routePartitionName"]),
        // Not in the seed's Table 1: read so that an order's credential policy (seed 000 step 2) is
        // checked when it is planned, not refused by Unified CM halfway through the order.
        list("CredentialPolicy", "CredentialPolicy", tags: ["name", "minCredLength"]),
        // The seed's "Date Time Setting" and "Date/Time Group" are one AXL object (brief §1a).
        list("DateTimeGroup", "DateTimeGroup", tags: ["name", "timeZone", "dateformat"]),
        list("DeviceMobilityInfo", "DeviceMobility", tags: ["name"]),
        list("DevicePool", "DevicePool", tags: ["name", "dateTimeSettingName", "callManagerGroupName", "mediaResourceListName", "regionName", "locationName"]),
        list("DeviceProfile", "DeviceProfile", tags: ["name", "description", "product", "protocol", "phoneTemplateName", "loginUserId"], get: ["lines", "services"]),
        list("DialPlanTag", "DialPlanTag", tags: ["name", "dialPlanName", "operator"], key: ["name", "dialPlanName"]),
        AXLObjectType(inventoryType: "DigitDiscardInstruction", axlName: "DigitDiscardInstruction", searchField: "name", fixedCriteria: [:],
                      returnedTags: ["name", "clause", "dialplanname"], keyTags: ["name", "dialplanname"], getTags: [],
                      source: .axlSQL(table: "digitdiscardinstruction"), sync: .infra),
        AXLObjectType(inventoryType: "EnablePasswordRouter", axlName: "EnablePasswordRouter", searchField: "name", fixedCriteria: [:],
                      returnedTags: [], keyTags: [], getTags: [],
                      source: .unavailable(reason: "an IOS router setting; Unified CM has no such object"), sync: .infra),
        list("ELINGroup", "ElinGroup", tags: ["name"]),
        list("ForcedAuthorizationCode", "FacInfo", tags: ["name", "code", "authorizationLevel"]),
        list("Gatekeeper", "Gatekeeper", tags: ["name", "description", "rrqTimeToLive", "enableDevice"]),
        list("GeoLocation", "GeoLocation", tags: ["name", "country", "description", "postalCode"]),
        list("GeoLocationFilter", "GeoLocationFilter", tags: ["name", "description", "useCountry"]),
        list("HuntList", "HuntList", tags: ["callManagerGroupName", "routeListEnabled", "voiceMailUsage", "name"]),
        list("HuntPilot", "HuntPilot", search: "pattern", tags: ["pattern", "description", "routePartitionName", "huntListName"], key: ["pattern", "routePartitionName"]),
        list("H323Gateway", "H323Gateway", tags: ["name", "product", "protocol", "callingSearchSpaceName", "devicePoolName"]),
        list("H323Trunk", "H323Trunk", tags: ["name", "product", "callingSearchSpaceName", "devicePoolName"]),
        list("IVR", "InteractiveVoiceResponse", tags: ["name", "devicePoolName", "locationName", "serverName"]),
        // The seed's "Hunt Group" is a line group: Unified CM has no hunt-group object (brief §1a).
        list("LineGroup", "LineGroup", tags: ["distributionAlgorithm", "rnaReversionTimeOut", "huntAlgorithmNoAnswer", "name"]),
        list("Location", "Location", tags: ["name", "id", "withinAudioBandwidth", "withinVideoBandwidth"]),
        list("MLPPDomain", "MlppDomain", search: "domainName", tags: ["domainName", "domainId"], key: ["domainName"]),
        list("MediaResourceList", "MediaResourceList", tags: ["name", "clause"]),
        list("MeetMe", "MeetMe", search: "pattern", tags: ["pattern", "description", "routePartitionName", "minimumSecurityLevel"], key: ["pattern", "routePartitionName"]),
        list("MessageWaiting", "MessageWaiting", search: "pattern", tags: ["pattern", "routePartitionName", "messageWaitingIndicator", "callingSearchSpaceName"], key: ["pattern", "routePartitionName"]),
        list("MOHAudioSource", "MohAudioSource", search: "name", tags: ["sourceId", "name", "sourceFile"], key: ["sourceId"]),
        // "Partition" and "Route Partition" are one AXL object.
        list("RoutePartition", "RoutePartition", tags: ["name", "description", "timeScheduleIdName", "partitionUsage"]),
        list("PhoneProfile", "CommonPhoneConfig", tags: ["name", "description", "dndOption"]),
        list("PhoneTemplate", "PhoneButtonTemplate", tags: ["name", "isUserModifiable"]),
        list("PresenceGroup", "PresenceGroup", tags: ["name", "description"]),
        list("PhysicalLocation", "PhysicalLocation", tags: ["name", "description"]),
        list("Region", "Region", tags: ["name", "defaultCodec"]),
        list("RemoteDestinationProfile", "RemoteDestinationProfile", tags: ["name", "callingSearchSpaceName", "devicePoolName", "userId"], get: ["lines"]),
        list("ResourcePriorityNamespaceList", "ResourcePriorityNamespaceList", tags: ["name", "description"]),
        list("ResourcePriorityNamespace", "ResourcePriorityNamespace", search: "namespace", tags: ["namespace", "description"], key: ["namespace"]),
        list("RouteFilter", "RouteFilter", tags: ["name", "clause", "dialPlanName"]),
        list("RouteGroup", "RouteGroup", tags: ["distributionAlgorithm", "name"]),
        list("RouteList", "RouteList", tags: ["name", "callManagerGroupName", "routeListEnabled", "runOnEveryNode"]),
        list("RoutePattern", "RoutePattern", search: "pattern", tags: ["pattern", "routePartitionName", "blockEnable", "dialPlanName", "digitDiscardInstructionName"], key: ["pattern", "routePartitionName"]),
        list("SIPTrunk", "SipTrunk", tags: ["name", "product", "devicePoolName", "securityProfileName", "sipProfileName"]),
        list("SIPProfile", "SipProfile", tags: ["name", "description", "defaultTelephonyEventPayloadType", "timerInvite"]),
        list("SoftkeyTemplate", "SoftKeyTemplate", tags: ["name", "description", "baseSoftkeyTemplateName"]),
        list("SRST", "Srst", tags: ["name", "port", "ipAddress", "SipNetwork"]),
        list("TranslationPattern", "TransPattern", search: "pattern", tags: ["pattern", "routePartitionName", "calledPartyTransformationMask", "callingSearchSpaceName"], key: ["pattern", "routePartitionName"]),
        list("UCServiceProfile", "ServiceProfile", tags: ["name", "description", "isDefault"]),
        gateway("VG202"), gateway("VG204"), gateway("VG224"), gateway("VG310"), gateway("VG320"), gateway("VG350"),
        list("VoicemailPilot", "VoiceMailPilot", search: "dirn", tags: ["dirn", "description", "cssName", "isDefault"], key: ["dirn", "cssName"]),
        list("VoicemailPort", "VoiceMailPort", tags: ["name", "callingSearchSpaceName", "devicePoolName", "dnPattern"]),
        list("VoicemailProfile", "VoiceMailProfile", tags: ["name", "description", "isDefault", "voiceMailboxMask"]),
    ].map { $0.with(sync: .infra) }

    /// Unified CM, user synchronization (seed Table 2). Calling search spaces, device pools and locations
    /// are read again because phones and lines refer to them (seed).
    public static let callProcessorUser: [AXLObjectType] = [
        list("CallingSearchSpace", "Css", tags: ["description", "clause", "name"]),
        list("DevicePool", "DevicePool", tags: ["name", "callManagerGroupName", "regionName", "locationName"]),
        list("Location", "Location", tags: ["name", "id"]),
        list("User", "User", search: "userid", tags: ["firstName", "lastName", "userid", "mailid", "department", "primaryExtension", "enableMobility", "status", "homeCluster", "imAndPresenceEnable", "serviceProfile", "telephoneNumber"], key: ["userid"]),
        list("LicenseCapabilities", "LicensedUser", search: "userId", tags: ["userId", "firstName", "lastName", "snrEnabled", "deviceCount", "licenseType"], key: ["userId"]),
        // "Phone" and "IP Phone" of the seed are both AXL phones; the lines on each come from getPhone.
        list("Phone", "Phone", tags: ["name", "description", "product", "model", "protocol", "callingSearchSpaceName", "devicePoolName", "locationName", "ownerUserName"], get: ["lines"]),
        // "Directory Number" and "Line" of the seed are both AXL lines.
        list("Line", "Line", search: "pattern", tags: ["pattern", "description", "usage", "routePartitionName", "alertingName", "shareLineAppearanceCssName", "voiceMailProfileName"], key: ["pattern", "routePartitionName"]),
        list("RemoteDestinationProfile", "RemoteDestinationProfile", tags: ["name", "callingSearchSpaceName", "devicePoolName", "userId"], get: ["lines"]),
        list("RemoteDestination", "RemoteDestination", search: "name", tags: ["name", "destination", "remoteDestinationProfileName", "isMobilePhone", "enableMobileConnect"], key: ["destination"]),
    ].map { $0.with(sync: .user) }

    /// Unity Connection, infrastructure synchronization (seed: the unified messaging infrastructure).
    public static let messageProcessorInfrastructure: [AXLObjectType] = [
        cupi("SubscriberTemplate", path: "usertemplates", element: "UserTemplate", tags: ["ObjectId", "Alias", "DisplayName", "CosObjectId"], key: ["Alias"], sync: .infra),
        cupi("UnifiedMessagingFeatureSpecification", path: "coses", element: "Cos", tags: ["ObjectId", "DisplayName", "MaxMsgLength", "AccessUnifiedClient"], key: ["DisplayName"], sync: .infra),
    ]

    /// Unity Connection, user synchronization: one CUPI user yields its VoiceMailInfo, UMInfo and EmailInfo.
    public static let messageProcessorUser: [AXLObjectType] = [
        cupi("VoiceMailInfo", path: "users", element: "User", tags: ["ObjectId", "Alias", "DtmfAccessId", "CosObjectId", "FirstName", "LastName", "DisplayName"], key: ["Alias"], sync: .user),
        cupi("UMInfo", path: "users", element: "User", tags: ["ObjectId", "Alias", "DtmfAccessId", "IsVmEnrolled", "ListInDirectory", "Inactive"], key: ["Alias"], sync: .user),
        cupi("EmailInfo", path: "users", element: "User", tags: ["ObjectId", "Alias", "EmailAddress"], key: ["Alias"], sync: .user),
    ]

    /// Every AXL-listable type, once per AXL name (what `ucp devsim` serves).
    public static var axlTypes: [AXLObjectType] {
        var seen = Set<String>()
        return (callProcessorInfrastructure + callProcessorUser).filter { type in
            guard case .axlList = type.source else { return false }
            return type.fixedCriteria.isEmpty && seen.insert(type.axlName).inserted
        }
    }

    /// The change types change notification asks `listChange` for: the seed's list ("The following
    /// services and infrastructure objects are automatically synchronized … through the Change
    /// Notification feature"), as XChangeType names (domain brief §1c: Endpoint is Phone, the VG310
    /// and VG320 are Gateway rows).
    public static let changeNotificationObjects: [String] = [
        "CallPark", "CallPickupGroup", "CallManagerGroup", "Css", "CmcInfo", "CommonPhoneConfig", "CommonDeviceConfig",
        "ConferenceNow", "CtiRoutePoint", "DeviceProfile", "DateTimeGroup", "DeviceMobility", "Phone", "ElinGroup",
        "FacInfo", "GeoLocation", "HuntList", "HuntPilot", "H323Gateway", "Line", "LineGroup", "Location",
        "MediaResourceList", "MediaResourceGroup", "MeetMe", "PhysicalLocation", "RemoteDestinationProfile", "RouteList",
        "RoutePattern", "RoutePartition", "RouteGroup", "SipProfile", "SipTrunk", "TransPattern", "UcService", "User",
        "VoiceMailProfile", "VoiceMailPilot", "Vg224", "Gateway",
    ]

    /// What a change of one AXL type touches in the inventory: the Unified CM types of the infrastructure
    /// and user syncs kept under that AXL name (a calling search space is kept by both), and one type to
    /// `get` the object with, asking every tag any of them keeps. Nil when the inventory keeps no such
    /// type as a plain list (the VG gateways are `listGateway` rows of one product each).
    public static func changeTarget(_ changeType: String) -> (fetch: AXLObjectType, kept: [AXLObjectType])? {
        let name = changeType.lowercased()
        let kept = (callProcessorInfrastructure + callProcessorUser).filter { type in
            guard case .axlList = type.source else { return false }
            return type.fixedCriteria.isEmpty && type.axlName.lowercased() == name
        }
        guard let first = kept.first else { return nil }
        var tags: [String] = []
        for type in kept {
            for tag in type.returnedTags + type.getTags where !tags.contains(tag) { tags.append(tag) }
        }
        let fetch = AXLObjectType(inventoryType: "change:" + first.axlName, axlName: first.axlName, searchField: first.searchField,
                                  fixedCriteria: [:], returnedTags: [], keyTags: first.keyTags, getTags: tags,
                                  source: .axlList, sync: first.sync)
        return (fetch, kept)
    }

    // MARK: - Building the tables

    static func list(
        _ inventoryType: String, _ axlName: String, search: String = "name", tags: [String],
        key: [String] = ["name"], get: [String] = []
    ) -> AXLObjectType {
        AXLObjectType(inventoryType: inventoryType, axlName: axlName, searchField: search, fixedCriteria: [:],
                      returnedTags: tags, keyTags: key, getTags: get, source: .axlList, sync: .infra)
    }

    /// The VG models have no operation of their own: `listGateway` with the model as `product` (brief §1a).
    static func gateway(_ model: String) -> AXLObjectType {
        AXLObjectType(inventoryType: model, axlName: "Gateway", searchField: "domainName", fixedCriteria: ["product": model],
                      returnedTags: ["domainName", "product", "protocol", "callManagerGroupName"], keyTags: ["domainName"],
                      getTags: [], source: .axlList, sync: .infra)
    }

    static func cupi(_ inventoryType: String, path: String, element: String, tags: [String], key: [String], sync: AXLObjectType.SyncKind) -> AXLObjectType {
        AXLObjectType(inventoryType: inventoryType, axlName: element, searchField: "", fixedCriteria: [:],
                      returnedTags: tags, keyTags: key, getTags: [], source: .cupi(path: path, element: element), sync: sync)
    }
}

extension AXLObjectType {
    func with(sync: SyncKind) -> AXLObjectType {
        AXLObjectType(inventoryType: inventoryType, axlName: axlName, searchField: searchField, fixedCriteria: fixedCriteria,
                      returnedTags: returnedTags, keyTags: keyTags, getTags: getTags, source: source, sync: sync)
    }
}
