/// The fixed infrastructure of the simulated cluster: a few to a few dozen objects of each Table 1 type,
/// named as a real cluster names them, referring to one another by name.
enum InfrastructureData {
    static let sites = 10
    static let analogPhones = 6
    static let digitDiscardInstructions = ["NoDigits", "PreDot", "PreAt", "Trailing-#", "PreDot Trailing-#", "11D/10D->7D", "10-10-Dialing"]
    static let vgModels = ["VG202", "VG204", "VG224", "VG310", "VG320", "VG350"]

    static func siteName(_ site: Int) -> String { "Site" + UserData.padded(site, 2) }

    /// Names that exist on every cluster, then numbered ones.
    static let fixedNames: [String: [String]] = [
        "RoutePartition": ["PT_Internal", "PT_Local", "PT_National", "PT_International", "PT_Emergency", "PT_Voicemail", "PT_Park"],
        "Css": ["CSS_Internal", "CSS_Local", "CSS_National", "CSS_International", "CSS_Emergency", "CSS_Voicemail"],
        "Location": ["Hub_None", "Phantom", "Shadow"],
        "Region": ["Default"],
        "DateTimeGroup": ["CMLocal"],
        "CallManagerGroup": ["Default"],
        "DevicePool": ["Default"],
        "CommonPhoneConfig": ["Standard Common Phone Profile"],
        "PhoneButtonTemplate": ["Standard 8845 SIP", "Standard 7841 SIP", "Standard Analog", "Standard 8865 SIP", "Standard Client Services Framework"],
        "PresenceGroup": ["Standard Presence group"],
        "SipProfile": ["Standard SIP Profile", "Standard SIP Profile For Cisco VCS"],
        "SoftKeyTemplate": ["Standard User", "Standard Feature", "Standard Shared Mode User"],
        "ServiceProfile": ["SP_Default", "SP_Jabber"],
        "VoiceMailProfile": ["Default", "NoVoiceMail"],
        "MediaResourceList": ["MRL_Default"],
        "CredentialPolicy": CredentialPolicies.names,
    ]

    static func count(_ axlName: String) -> Int {
        switch axlName {
        case "User", "LicensedUser", "Phone", "Line", "DeviceProfile", "RemoteDestinationProfile", "RemoteDestination", "IpPhoneServices": return 0
        case "RoutePartition", "Css", "Location", "Region", "DateTimeGroup", "CallManagerGroup", "DevicePool", "MediaResourceList":
            return (fixedNames[axlName]?.count ?? 0) + sites
        case "CredentialPolicy": return CredentialPolicies.names.count
        case "Gateway": return vgModels.count * 3 + 2
        case "RoutePattern": return 24
        case "TransPattern", "HuntPilot", "LineGroup", "HuntList", "CallPark", "MeetMe": return 12
        case "VoiceMailPort": return 16
        default: return max(fixedNames[axlName]?.count ?? 0, 4)
        }
    }

    static func name(_ axlName: String, _ index: Int, prefix: String) -> String {
        let fixed = fixedNames[axlName] ?? []
        if index < fixed.count { return fixed[index] }
        let number = index - fixed.count + 1
        return ["RoutePartition", "Css", "Location", "Region", "CallManagerGroup", "DevicePool", "MediaResourceList", "DateTimeGroup"].contains(axlName)
            ? prefix + siteName(number) : prefix + UserData.padded(number, 2)
    }

    static func site(_ index: Int) -> String { siteName(index % sites + 1) }

    /// The named values of object `index` of a type.
    static func values(_ axl: String, _ i: Int) -> [String: String] {
        let n = String(i + 1)
        switch axl {
        case "AarGroup": return ["name": "AAR_" + n]
        case "CallPark": return ["pattern": String(7000 + i), "description": "Park slot " + n, "routePartitionName": "PT_Park", "callManagerName": "CM_pub"]
        case "Css":
            let name = self.name(axl, i, prefix: "CSS_")
            return ["description": name + " calling search space", "clause": "PT_Internal:PT_Emergency:PT_Local", "partitionUsage": "General", "name": name]
        case "CmcInfo": return ["code": String(1000 + i), "description": "Client matter " + n]
        case "CallManagerGroup": return ["name": name(axl, i, prefix: "CMG_"), "tftpDefault": i == 0 ? "true" : "false"]
        case "CallPickupGroup": return ["pattern": String(7100 + i), "routePartitionName": "PT_Internal", "pickupNotification": "No Alert", "name": "CPG_" + n]
        case "CommonDeviceConfig":
            return ["name": "CDC_" + n, "softkeyTemplateName": "Standard User", "userLocale": "English United States",
                    "mlppIndicationStatus": "Default", "ipAddressingMode": "IPv4 Only"]
        case "ConferenceBridge":
            return ["name": "CFB_" + n, "product": "Cisco Conference Bridge Software", "devicePoolName": "DP_" + site(i),
                    "locationName": "LOC_" + site(i), "maximumCapacity": "48"]
        case "ConferenceNow":
            return ["conferenceNowNumber": String(7200 + i), "routePartitionName": "PT_Internal", "description": "Conference Now " + n, "maxWaitTimeForHost": "15"]
        case "CredentialPolicy":
            let name = self.name(axl, i, prefix: "CP_")
            return ["name": name, "minCredLength": name == "CP_Strong" ? "12" : "8"]
        case "DateTimeGroup":
            let zones = ["Etc/GMT", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Europe/London"]
            return ["name": name(axl, i, prefix: "DTG_"), "timeZone": zones[i % zones.count], "dateformat": "M/D/Y"]
        case "DeviceMobility": return ["name": "DMI_" + n]
        case "DevicePool":
            let name = self.name(axl, i, prefix: "DP_")
            let site = name == "Default" ? "Site01" : String(name.dropFirst(3))
            return ["name": name, "dateTimeSettingName": "DTG_" + site, "callManagerGroupName": "CMG_" + site,
                    "mediaResourceListName": "MRL_" + site, "regionName": "R_" + site, "locationName": "LOC_" + site]
        case "DialPlanTag": return ["name": "TAG_" + n, "dialPlanName": "NANP", "operator": "EXISTS"]
        case "ElinGroup": return ["name": "ELIN_" + n]
        case "FacInfo": return ["name": "FAC_" + n, "code": String(5000 + i), "authorizationLevel": String((i * 10) % 255)]
        case "Gatekeeper": return ["name": "gk\(n).example.com", "description": "Gatekeeper " + n, "rrqTimeToLive": "60", "enableDevice": "true"]
        case "GeoLocation": return ["name": "GEO_" + n, "country": "US", "description": "Geo location " + n, "postalCode": String(94100 + i)]
        case "GeoLocationFilter": return ["name": "GEOF_" + n, "description": "Geo filter " + n, "useCountry": "true"]
        case "HuntList": return ["callManagerGroupName": "CMG_" + site(i), "routeListEnabled": "true", "voiceMailUsage": "false", "name": "HL_" + n]
        case "HuntPilot":
            return ["pattern": String(7300 + i), "description": "Hunt pilot " + n, "routePartitionName": "PT_Internal", "huntListName": "HL_" + n]
        case "H323Gateway":
            return ["name": "10.\(i + 1).1.1", "product": "H.323 Gateway", "protocol": "H.225", "callingSearchSpaceName": "CSS_National", "devicePoolName": "DP_" + site(i)]
        case "H323Trunk":
            return ["name": "H323_TRUNK_" + n, "product": "H.225 Trunk (Gatekeeper Controlled)", "callingSearchSpaceName": "CSS_National", "devicePoolName": "DP_" + site(i)]
        case "InteractiveVoiceResponse":
            return ["name": "IVR_" + n, "devicePoolName": "DP_" + site(i), "locationName": "LOC_" + site(i), "serverName": "CM_pub"]
        case "LineGroup":
            return ["distributionAlgorithm": i % 2 == 0 ? "Top Down" : "Circular", "rnaReversionTimeOut": "10",
                    "huntAlgorithmNoAnswer": "Try next member; then, try next group in Hunt List", "name": "LG_" + n]
        case "Location":
            return ["name": name(axl, i, prefix: "LOC_"), "id": String(i + 1), "withinAudioBandwidth": "0", "withinVideoBandwidth": "384"]
        case "MlppDomain": return ["domainName": "MLPP_" + n, "domainId": UserData.padded(i, 6)]
        case "MediaResourceList": return ["name": name(axl, i, prefix: "MRL_"), "clause": "MRG_Software:MRG_Hardware"]
        case "MeetMe":
            return ["pattern": String(7400 + i), "description": "Meet-me " + n, "routePartitionName": "PT_Internal", "minimumSecurityLevel": "Non Secure"]
        case "MessageWaiting":
            return ["pattern": String(7500 + i), "routePartitionName": "PT_Voicemail", "messageWaitingIndicator": i % 2 == 0 ? "true" : "false",
                    "callingSearchSpaceName": "CSS_Voicemail"]
        case "MohAudioSource": return ["sourceId": n, "name": "MOH_" + n, "sourceFile": "SampleAudioSource\(n).wav"]
        case "RoutePartition":
            return ["name": name(axl, i, prefix: "PT_"), "description": "Partition " + n, "partitionUsage": "General"]
        case "CommonPhoneConfig": return ["name": name(axl, i, prefix: "CPP_"), "description": "Common phone profile " + n, "dndOption": "Ringer Off"]
        case "PhoneButtonTemplate": return ["name": name(axl, i, prefix: "PBT_"), "isUserModifiable": i < 4 ? "false" : "true"]
        case "PresenceGroup": return ["name": name(axl, i, prefix: "PG_"), "description": "Presence group " + n]
        case "PhysicalLocation": return ["name": "PHL_" + site(i), "description": "Building " + n]
        case "Region": return ["name": name(axl, i, prefix: "R_"), "defaultCodec": "G.711"]
        case "ResourcePriorityNamespaceList": return ["name": "RPNL_" + n, "description": "Namespace list " + n]
        case "ResourcePriorityNamespace": return ["namespace": "ets.\(i)", "description": "Namespace " + n]
        case "RouteFilter": return ["name": "RF_" + n, "clause": "(INTERNATIONAL-ACCESS EXISTS)", "dialPlanName": "NANP"]
        case "RouteGroup": return ["distributionAlgorithm": "Circular", "name": "RG_" + n]
        case "RouteList": return ["name": "RL_" + n, "callManagerGroupName": "CMG_" + site(i), "routeListEnabled": "true", "runOnEveryNode": "true"]
        case "RoutePattern":
            let patterns = ["9.1[2-9]XX[2-9]XXXXXX", "9.[2-9]XXXXXX", "9.011!", "9.011!#", "911", "9.911", "9.1800XXXXXXX", "9.1900XXXXXXX"]
            return ["pattern": patterns[i % patterns.count] + (i < patterns.count ? "" : String(repeating: "X", count: i / patterns.count)),
                    "routePartitionName": ["PT_National", "PT_Local", "PT_International"][i % 3], "blockEnable": i % 8 == 7 ? "true" : "false",
                    "dialPlanName": "NANP", "digitDiscardInstructionName": "PreDot"]
        case "SipTrunk":
            return ["name": "SIP_TRUNK_" + n, "product": "SIP Trunk", "devicePoolName": "DP_" + site(i),
                    "securityProfileName": "Non Secure SIP Trunk Profile", "sipProfileName": "Standard SIP Profile"]
        case "SipProfile":
            return ["name": name(axl, i, prefix: "SIPP_"), "description": "SIP profile " + n, "defaultTelephonyEventPayloadType": "101", "timerInvite": "180"]
        case "SoftKeyTemplate":
            return ["name": name(axl, i, prefix: "SKT_"), "description": "Softkey template " + n, "baseSoftkeyTemplateName": "Standard User"]
        case "Srst": return ["name": "SRST_" + site(i), "port": "2000", "ipAddress": "10.\(i + 1).0.1", "SipNetwork": "10.\(i + 1).0.1"]
        case "TransPattern":
            return ["pattern": String(8000 + i), "routePartitionName": "PT_Internal", "calledPartyTransformationMask": "1XXX", "callingSearchSpaceName": "CSS_Internal"]
        case "ServiceProfile": return ["name": name(axl, i, prefix: "SP_"), "description": "UC service profile " + n, "isDefault": i == 0 ? "true" : "false"]
        case "Gateway":
            if i >= vgModels.count * 3 {
                return ["domainName": "isr\(i).example.com", "product": "Cisco ISR 4321", "protocol": "MGCP", "callManagerGroupName": "Default"]
            }
            let model = vgModels[i / 3]
            return ["domainName": "\(model.lowercased())-\(site(i).lowercased()).example.com", "product": model,
                    "protocol": model == "VG224" || model == "VG202" || model == "VG204" ? "SCCP" : "MGCP", "callManagerGroupName": "CMG_" + site(i)]
        case "VoiceMailPilot": return ["dirn": String(6000 + i), "description": "Voicemail pilot " + n, "cssName": "CSS_Voicemail", "isDefault": i == 0 ? "true" : "false"]
        case "VoiceMailPort":
            return ["name": "CiscoUM1-VI" + n, "callingSearchSpaceName": "CSS_Voicemail", "devicePoolName": "Default", "dnPattern": String(6100 + i)]
        case "VoiceMailProfile":
            return ["name": name(axl, i, prefix: "VMP_"), "description": "Voicemail profile " + n, "isDefault": i == 0 ? "true" : "false", "voiceMailboxMask": ""]
        default: return ["name": axl + "_" + n]
        }
    }
}
