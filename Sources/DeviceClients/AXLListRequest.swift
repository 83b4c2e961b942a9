import AXL

/// The body of a `list<Type>` request as AXLSoap.xsd accepts it. `returnedTags` only says which
/// fields to return (Unified CM looks at the element, not its content), but the schema types each
/// element as in the LX type: an empty `<tftpDefault/>` fails its boolean pattern, an empty
/// ConferenceBridge `<name/>` its xsd:Name type. Those few get a valid placeholder; the rest stay empty.
enum AXLListRequest {
    /// Returned tags typed `axlapi:boolean` in the LX types the catalog reads (checked with xmllint
    /// against AXLSoap.xsd 12.5).
    static let booleanTags: Set<String> = [
        "blockEnable", "enableDevice", "enableMobileConnect", "enableMobility", "homeCluster", "imAndPresenceEnable",
        "isDefault", "isMobilePhone", "isUserModifiable", "messageWaitingIndicator", "routeListEnabled", "runOnEveryNode",
        "tftpDefault", "useCountry", "voiceMailUsage",
    ]

    /// What goes inside a returned tag of `type` (nil: an empty element).
    static func placeholder(_ type: AXLObjectType, _ tag: String) -> String? {
        if booleanTags.contains(tag) { return "true" }
        if type.axlName == "ConferenceBridge", tag == "name" { return "name" } // UniqueName128 is an xsd:Name
        return nil
    }

    static func body(_ version: AXLVersion, _ type: AXLObjectType, skip: Int, first: Int) -> [UInt8] {
        AXLEnvelope.request(version, type.listOperation) { writer in
            writer.open("searchCriteria")
            for (name, value) in type.searchCriteria { writer.element(name, value) }
            writer.close("searchCriteria")
            writer.open("returnedTags")
            for tag in type.returnedTags {
                if let value = placeholder(type, tag) { writer.element(tag, value) } else { writer.empty(tag) }
            }
            writer.close("returnedTags")
            writer.element("skip", String(skip))
            writer.element("first", String(first))
        }
    }
}
