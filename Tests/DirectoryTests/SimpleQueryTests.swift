import Directory
import Runtime
import XCTest

/// The seed's simple query compiled to RFC 4515: every form, and typed values that try to change the filter.
final class SimpleQueryTests: XCTestCase {
    let ad = FieldMappingChoices().resolved(for: .activeDirectory)
    let openLDAP = FieldMappingChoices().resolved(for: .openLDAP)

    func compile(_ condition: String, _ mapping: FieldMapping? = nil) throws -> String {
        try QueryCondition(parsing: condition).filter(mapping: mapping ?? ad).text
    }

    func testEveryFormOfTheSimpleQuery() throws {
        let cases: [(String, String)] = [
            // '=' selects that user only; '!=' every other user (seed).
            ("user-id = jdoe", "(sAMAccountName=jdoe)"),
            ("user-id != jdoe", "(!(sAMAccountName=jdoe))"),
            ("user-id=jdoe", "(sAMAccountName=jdoe)"),
            ("  USER_ID   =   jdoe  ", "(sAMAccountName=jdoe)"),
            ("userid = jdoe", "(sAMAccountName=jdoe)"),
            // '*' at the start or the end of a value (seed: "User123* fetches all the users whose id starts with User123").
            ("user-id = User123*", "(sAMAccountName=User123*)"),
            ("user-id = *son", "(sAMAccountName=*son)"),
            ("department = *Sales*", "(department=*Sales*)"),
            ("user-id != User123*", "(!(sAMAccountName=User123*))"),
            ("title = *", "(title=*)"),
            // IN lists: ',' for user IDs (seed: "User1, User2, User3").
            ("user-id in User1, User2, User3", "(|(sAMAccountName=User1)(sAMAccountName=User2)(sAMAccountName=User3))"),
            ("user-id in User1", "(sAMAccountName=User1)"),
            ("user-id IN a,,b,", "(|(sAMAccountName=a)(sAMAccountName=b))"),
            // ';' for directory numbers (seed: "4930;5930", "40105*;40116*;40127*;").
            ("ip-phone-number in 4930;5930", "(|(ipPhone=4930)(ipPhone=5930))"),
            ("ip-phone-number in 40105*;40116*;40127*;", "(|(ipPhone=40105*)(ipPhone=40116*)(ipPhone=40127*))"),
            ("ip-phone-number = 4930,5930", "(ipPhone=4930,5930)"),
            // Contact phone numbers: '+' and '/+' (seed: "+44*", "/+44*", "/+44*, /+55*,/+33*").
            ("phone = +44*", "(telephoneNumber=+44*)"),
            ("phone = /+44*", "(telephoneNumber=+44*)"),
            ("phone in /+44*, /+55*,/+33*", "(|(telephoneNumber=+44*)(telephoneNumber=+55*)(telephoneNumber=+33*))"),
            ("phone = 4/5", "(telephoneNumber=4/5)"),
            // Manager ID is the full DN (seed: CN=jdoe,<user search base>).
            ("manager-id = CN=jdoe,CN=Users,DC=Cisco,DC=com", "(manager=CN=jdoe,CN=Users,DC=Cisco,DC=com)"),
            ("manager-id = CN=Doe\\, John,CN=Users,DC=Cisco,DC=com", "(manager=CN=Doe\\5c, John,CN=Users,DC=Cisco,DC=com)"),
            ("manager-id != CN=jdoe,CN=Users,DC=Cisco,DC=com", "(!(manager=CN=jdoe,CN=Users,DC=Cisco,DC=com))"),
            ("manager-id = *", "(manager=*)"),
            ("manager-id = 2.5.4.3=jdoe,DC=com", "(manager=2.5.4.3=jdoe,DC=com)"),
            ("last-name = Müller", "(sn=Müller)"),
            ("company in Cisco, Acme", "(|(company=Cisco)(company=Acme))"),
        ]
        for (condition, expected) in cases {
            XCTAssertEqual(try compile(condition), expected, condition)
        }
    }

    /// A DN holds commas, so a manager-id list is split at ';' (an escaped `\;` stays in its DN).
    func testManagerIDListsAreSplitAtSemicolons() throws {
        let cases: [(String, String)] = [
            ("manager-id in CN=jdoe,OU=Users,DC=x;CN=asmith,OU=Users,DC=x",
             "(|(manager=CN=jdoe,OU=Users,DC=x)(manager=CN=asmith,OU=Users,DC=x))"),
            ("manager-id in CN=jdoe,OU=Users,DC=x", "(manager=CN=jdoe,OU=Users,DC=x)"),
            ("manager-id in  CN=jdoe,OU=Users,DC=x ; CN=Doe\\, John,OU=Users,DC=x ;", "(|(manager=CN=jdoe,OU=Users,DC=x)(manager=CN=Doe\\5c, John,OU=Users,DC=x))"),
            ("manager-id in CN=a\\;b,OU=Users,DC=x;CN=c,OU=Users,DC=x",
             "(|(manager=CN=a\\5c;b,OU=Users,DC=x)(manager=CN=c,OU=Users,DC=x))"),
        ]
        for (condition, expected) in cases {
            XCTAssertEqual(try compile(condition), expected, condition)
            XCTAssertEqual(try compile(condition, openLDAP), expected, condition)
        }
    }

    func testEveryFieldReadsItsAttributePerServerType() throws {
        let adAttributes: [QueryField: String] = [
            .userID: "sAMAccountName", .department: "department", .phone: "telephoneNumber", .title: "title",
            .firstName: "givenName", .lastName: "sn", .managerID: "manager", .email: "mail", .city: "l", .state: "st",
            .office: "physicalDeliveryOfficeName", .company: "company", .street: "streetAddress", .poBox: "postOfficeBox",
            .zipCode: "postalCode", .country: "c", .faxNumber: "facsimileTelephoneNumber", .ipPhoneNumber: "ipPhone",
        ]
        let openLDAPAttributes: [QueryField: String] = [
            .userID: "uid", .department: "departmentNumber", .company: "o", .street: "street",
        ]
        for field in QueryField.allCases where field != .directoryURI {
            // A manager ID is a DN (its rule: testBadConditionsAreRefusedWithOneLine).
            let value = field == .managerID ? "*" : "v"
            XCTAssertEqual(try compile("\(field.rawValue) = \(value)"), "(\(adAttributes[field]!)=\(value))", field.rawValue)
            if field != .ipPhoneNumber {
                let attribute = openLDAPAttributes[field] ?? adAttributes[field]!
                XCTAssertEqual(try compile("\(field.rawValue) = \(value)", openLDAP), "(\(attribute)=\(value))", field.rawValue)
            }
        }
        // Mapped fields follow the domain's choices.
        let chosen = FieldMappingChoices(userID: "mail", phone: "ipPhone", email: "sAMAccountName",
                                         directoryURI: "msRTCSIP-PrimaryUserAddress").resolved(for: .activeDirectory)
        XCTAssertEqual(try compile("user-id = a@b.c", chosen), "(mail=a@b.c)")
        XCTAssertEqual(try compile("phone = 4930", chosen), "(ipPhone=4930)")
        XCTAssertEqual(try compile("email = jdoe", chosen), "(sAMAccountName=jdoe)")
        XCTAssertEqual(try compile("directory-uri = sip:*", chosen), "(msRTCSIP-PrimaryUserAddress=sip:*)")
    }

    /// Values holding `*`, `(`, `)`, `\` or NUL select only what they literally say.
    func testTypedValuesCannotChangeTheFilter() throws {
        let cases: [(String, String)] = [
            ("user-id = *)(objectClass=*", "(sAMAccountName=*\\29\\28objectClass=*)"),
            ("user-id = jdoe)(|(uid=*", "(sAMAccountName=jdoe\\29\\28|\\28uid=*)"),
            ("user-id = a*b", "(sAMAccountName=a\\2ab)"),
            ("user-id = a**b", "(sAMAccountName=a\\2a\\2ab)"),
            ("user-id = a\\29b", "(sAMAccountName=a\\5c29b)"),
            ("user-id = back\\slash", "(sAMAccountName=back\\5cslash)"),
            ("user-id = nul\u{0}byte", "(sAMAccountName=nul\\00byte)"),
            ("department = R&D (Lab)", "(department=R&D \\28Lab\\29)"),
            ("department != *(x)*", "(!(department=*\\28x\\29*))"),
            ("user-id in a)(b, c*d", "(|(sAMAccountName=a\\29\\28b)(sAMAccountName=c\\2ad))"),
            ("user-id = ))((", "(sAMAccountName=\\29\\29\\28\\28)"),
        ]
        for (condition, expected) in cases {
            let text = try compile(condition)
            XCTAssertEqual(text, expected, condition)
            // The compiled filter is one assertion on the one attribute (or their NOT / OR), nothing more.
            let parsed = try LDAPFilter(parsing: text)
            XCTAssertEqual(parsed.text, text)
        }
        // Evaluated: each value matches only entries holding it literally.
        let literal = try QueryCondition(parsing: "user-id = a*b").filter(mapping: ad)
        XCTAssertTrue(literal.matches(entry: ["sAMAccountName": ["a*b"]]))
        XCTAssertFalse(literal.matches(entry: ["sAMAccountName": ["axxb"]]))
        let injected = try QueryCondition(parsing: "user-id = x)(objectClass=*").filter(mapping: ad)
        XCTAssertFalse(injected.matches(entry: ["sAMAccountName": ["jdoe"], "objectClass": ["user"]]))
        XCTAssertTrue(injected.matches(entry: ["sAMAccountName": ["x)(objectClass=anything"]]))
        let nul = try QueryCondition(parsing: "user-id = a\u{0}").filter(mapping: ad)
        XCTAssertFalse(nul.matches(entry: ["sAMAccountName": ["a"]]))
        XCTAssertTrue(nul.matches(entry: ["sAMAccountName": ["a\u{0}"]]))
        let slash = try QueryCondition(parsing: "user-id = a\\2a").filter(mapping: ad)
        XCTAssertTrue(slash.matches(entry: ["sAMAccountName": ["a\\2a"]]))
        XCTAssertFalse(slash.matches(entry: ["sAMAccountName": ["a*"]]))
    }

    func testConditionsCombineWithAllOrAny() throws {
        let conditions = [try QueryCondition(parsing: "department = Sales*"), try QueryCondition(parsing: "user-id != admin")]
        XCTAssertEqual(try SimpleQuery(conditions: conditions).filter(mapping: ad).text,
                       "(&(department=Sales*)(!(sAMAccountName=admin)))")
        XCTAssertEqual(try SimpleQuery(conditions: conditions, match: .any).filter(mapping: ad).text,
                       "(|(department=Sales*)(!(sAMAccountName=admin)))")
        XCTAssertEqual(try SimpleQuery(conditions: [conditions[0]]).filter(mapping: ad).text, "(department=Sales*)")
        XCTAssertEqual(SimpleQuery(conditions: conditions).summary, "department = Sales* and user-id != admin")
        XCTAssertEqual(try FilterQuery.allUsers.userFilter(mapping: ad), nil)
        XCTAssertEqual(try FilterQuery.advanced("(mail=*)").userFilter(mapping: ad)?.text, "(mail=*)")
        XCTAssertEqual(try QueryCondition(parsing: "user-id in User1 ,User2").text, "user-id in User1 ,User2", "kept as typed")
    }

    func managerRule(_ got: String) -> String {
        "filter: manager-id must be the manager's full DN, e.g. CN=jdoe,OU=Users,DC=example,DC=com, or '*' for any manager; a wildcard cannot match part of a DN (got '\(got)')"
    }

    func testBadConditionsAreRefusedWithOneLine() {
        let fields = QueryField.allCases.map(\.rawValue)
        let choose = fields.dropLast().joined(separator: ", ") + " or " + fields.last!
        let bad: [(String, FieldMapping?, String)] = [
            ("nosuch = x", nil, "filter: 'nosuch' is not a query field (choose \(choose))"),
            ("= x", nil, "filter: '= x' is not a query field (choose \(choose))"),
            ("user-id ~ x", nil, "filter: expected '=', '!=' or 'in' after 'user-id' in 'user-id ~ x'"),
            ("user-id", nil, "filter: expected '=', '!=' or 'in' after 'user-id' in 'user-id'"),
            ("user-id =", nil, "filter: no value after 'user-id ='"),
            ("user-id !=   ", nil, "filter: no value after 'user-id !='"),
            ("user-id in ,, ", nil, "filter: no value after 'user-id in'"),
            ("ip-phone-number in ;;", nil, "filter: no value after 'ip-phone-number in'"),
            ("directory-uri = a@b", nil, "filter: directory-uri is mapped to none in this domain (set directory_uri_attribute first)"),
            ("ip-phone-number = 4930", openLDAP, "filter: ip-phone-number (ipPhone) is not supported for OpenLDAP"),
            ("user-id = " + String(repeating: "a", count: 1025), nil, "filter: the value for user-id is longer than 1024 characters"),
            ("manager-id = jdoe", nil, managerRule("jdoe")),
            ("manager-id = CN=jdoe", nil, managerRule("CN=jdoe")),
            ("manager-id != CN=jdoe,", nil, managerRule("CN=jdoe,")),
            ("manager-id = CN=jdoe,OU=*", nil, managerRule("CN=jdoe,OU=*")),
            ("manager-id = *,OU=Users,DC=x", nil, managerRule("*,OU=Users,DC=x")),
            ("manager-id = CN=a,=Users", nil, managerRule("CN=a,=Users")),
            ("manager-id = CN=a,O U=Users", nil, managerRule("CN=a,O U=Users")),
            ("manager-id = CN=a,OU=b\\", nil, managerRule("CN=a,OU=b\\")),
            // The old ',' list: its first item is no full DN.
            ("manager-id in CN=jdoe,OU=Users,DC=x;asmith", nil, managerRule("asmith")),
        ]
        for (condition, mapping, expected) in bad {
            XCTAssertThrowsError(try QueryCondition(parsing: condition).filter(mapping: mapping ?? ad), condition) { error in
                XCTAssertEqual((error as? InputError)?.description, expected, condition)
            }
        }
        // Saving checks the rule (validate); reading a stored condition back does not, so a domain saved
        // before the rule still loads, and its sync refuses with the line above instead of selecting nobody.
        XCTAssertThrowsError(try FilterQuery.simple(SimpleQuery(conditions: [try QueryCondition(parsing: "manager-id = jdoe")])).validate()) { error in
            XCTAssertEqual((error as? InputError)?.description, managerRule("jdoe"))
        }
        XCTAssertThrowsError(try SimpleQuery(conditions: []).filter(mapping: ad)) { error in
            XCTAssertEqual((error as? InputError)?.description, "filter: a simple query needs at least one condition (--where)")
        }
    }
}
