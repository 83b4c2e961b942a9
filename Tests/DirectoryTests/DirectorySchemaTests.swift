import Directory
import Runtime
import XCTest

/// The field mapping choices per server type (seed, Table 5 and Table 6 notes) and the person filters.
final class DirectorySchemaTests: XCTestCase {
    func testChoicesPerServerType() {
        let expected: [DirectoryServerType: [MappedField: [String]]] = [
            .activeDirectory: [
                .userID: ["sAMAccountName", "mail", "employeeNumber", "telephoneNumber", "userPrincipalName"],
                .phone: ["telephoneNumber", "ipPhone"], .email: ["mail", "sAMAccountName"],
                .middleName: ["middleName", "initials"], .directoryURI: ["mail", "msRTCSIP-PrimaryUserAddress", "none"],
            ],
            .adam: [
                .userID: ["uid", "mail", "employeeNumber", "telephoneNumber", "userPrincipalName"],
                .phone: ["telephoneNumber", "ipPhone"], .email: ["mail"],
                .middleName: ["middleName", "initials"], .directoryURI: ["mail", "msRTCSIP-PrimaryUserAddress", "none"],
            ],
            .openLDAP: [
                .userID: ["uid", "mail", "employeeNumber", "telephoneNumber"], .phone: ["telephoneNumber"], .email: ["mail"],
                .middleName: ["initials"], .directoryURI: ["mail", "none"],
            ],
            .oracle: [
                .userID: ["uid", "mail", "employeeNumber", "telephoneNumber"], .phone: ["telephoneNumber"], .email: ["mail"],
                .middleName: ["initials"], .directoryURI: ["mail", "none"],
            ],
        ]
        for type in DirectoryServerType.allCases {
            for field in MappedField.allCases {
                XCTAssertEqual(field.choices(for: type), expected[type]![field]!, "\(type) \(field)")
                XCTAssertTrue(field.choices(for: type).contains(field.defaultChoice(for: type)), "\(type) \(field) default is offered")
            }
        }
        XCTAssertEqual(MappedField.userID.defaultChoice(for: .activeDirectory), "sAMAccountName")
        XCTAssertEqual(MappedField.userID.defaultChoice(for: .oracle), "uid")
    }

    func testChoicesAreCheckedAndSpelledAsTheSeedDoes() throws {
        XCTAssertEqual(try MappedField.userID.validate("SAMACCOUNTNAME", for: .activeDirectory), "sAMAccountName")
        XCTAssertEqual(try MappedField.directoryURI.validate("msrtcsip-primaryuseraddress", for: .adam), "msRTCSIP-PrimaryUserAddress")
        XCTAssertEqual(try MappedField.phone.validate("ipPhone", for: nil), "ipPhone", "without a server type, any choice")
        let refusals: [(MappedField, String, DirectoryServerType, String)] = [
            (.userID, "sAMAccountName", .openLDAP, "user_id_attribute: sAMAccountName is not supported for OpenLDAP (choose uid, mail, employeeNumber or telephoneNumber)"),
            (.userID, "sAMAccountName", .adam, "user_id_attribute: sAMAccountName is not supported for Microsoft ADAM / Lightweight Directory Services (choose uid, mail, employeeNumber, telephoneNumber or userPrincipalName)"),
            (.userID, "userPrincipalName", .oracle, "user_id_attribute: userPrincipalName is not supported for Oracle Directory (choose uid, mail, employeeNumber or telephoneNumber)"),
            (.phone, "ipPhone", .openLDAP, "phone_attribute: ipPhone is not supported for OpenLDAP (choose telephoneNumber)"),
            (.middleName, "middleName", .oracle, "middle_name_attribute: middleName is not supported for Oracle Directory (choose initials)"),
            (.directoryURI, "msRTCSIP-PrimaryUserAddress", .openLDAP, "directory_uri_attribute: msRTCSIP-PrimaryUserAddress is not supported for OpenLDAP (choose mail or none)"),
            (.email, "cn", .activeDirectory, "email_attribute: 'cn' is not a choice (choose mail or sAMAccountName)"),
        ]
        for (field, choice, type, expected) in refusals {
            XCTAssertThrowsError(try field.validate(choice, for: type)) { error in
                XCTAssertEqual((error as? InputError)?.description, expected)
            }
        }
        XCTAssertEqual(try WriteBackAttribute.validate("telephonenumber", for: .openLDAP), "telephoneNumber")
        XCTAssertNil(try WriteBackAttribute.validate("none", for: .openLDAP))
        XCTAssertThrowsError(try WriteBackAttribute.validate("ipPhone", for: .oracle))
    }

    func testResolvedMappingNamesTheAttributeOfEveryUserField() {
        let ad = FieldMappingChoices(directoryURI: "mail").resolved(for: .activeDirectory)
        XCTAssertEqual(ad.attributes.map(\.attribute), [
            "sAMAccountName", "givenName", "middleName", "sn", "mail", "telephoneNumber", "mail", "manager", "department",
            "title", "homePhone", "mobile", "pager",
        ])
        XCTAssertEqual(ad.readAttributes, [
            "sAMAccountName", "givenName", "middleName", "sn", "mail", "telephoneNumber", "manager", "department", "title",
            "homePhone", "mobile", "pager", "userAccountControl",
        ])
        let openLDAP = FieldMappingChoices(userID: "employeeNumber").resolved(for: .openLDAP)
        XCTAssertEqual(openLDAP.attribute(for: .userID), "employeeNumber")
        XCTAssertEqual(openLDAP.attribute(for: .middleName), "initials")
        XCTAssertEqual(openLDAP.attribute(for: .department), "departmentNumber")
        XCTAssertNil(openLDAP.attribute(for: .directoryURI))
        XCTAssertEqual(openLDAP.readAttributes.last, "pager", "no disabled flag on OpenLDAP")
        XCTAssertEqual(FieldMappingChoices().resolved(for: .adam).readAttributes.last, "msDS-UserAccountDisabled")
    }

    func testPersonAndEnabledAccountFilters() {
        XCTAssertEqual(DirectoryServerType.activeDirectory.personFilter.text, "(&(objectClass=user)(!(objectClass=computer)))")
        XCTAssertEqual(DirectoryServerType.adam.personFilter.text, "(&(objectClass=user)(!(objectClass=computer)))")
        XCTAssertEqual(DirectoryServerType.openLDAP.personFilter.text, "(objectClass=inetOrgPerson)")
        XCTAssertEqual(DirectoryServerType.oracle.personFilter.text, "(objectClass=inetOrgPerson)")
        XCTAssertEqual(DirectoryServerType.activeDirectory.enabledAccountsFilter?.text, "(!(userAccountControl:1.2.840.113556.1.4.803:=2))")
        XCTAssertEqual(DirectoryServerType.adam.enabledAccountsFilter?.text, "(!(msDS-UserAccountDisabled=TRUE))")
        XCTAssertNil(DirectoryServerType.openLDAP.enabledAccountsFilter)
        XCTAssertEqual(DirectoryServerType.allCases.filter(\.canSyncInactiveUsers), [.activeDirectory, .adam])
        // A disabled AD account (userAccountControl 514 = 512 + 2) is kept out; an enabled one (512) is not.
        let enabled = DirectoryServerType.activeDirectory.enabledAccountsFilter!
        XCTAssertFalse(enabled.matches(entry: ["userAccountControl": ["514"]]))
        XCTAssertTrue(enabled.matches(entry: ["userAccountControl": ["512"]]))
        XCTAssertEqual(LDAPSecurity.ldaps.defaultPort, 636)
        XCTAssertEqual(LDAPSecurity.startTLS.defaultPort, 389)
        XCTAssertEqual(LDAPSecurity.startTLS.scheme, "ldap")
    }
}
