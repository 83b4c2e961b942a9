import Directory
import Runtime
import XCTest

/// RFC 4515 filters: what parses, how it is written back, what is refused, and evaluation on entries.
final class LDAPFilterTests: XCTestCase {
    /// Input, and the canonical text it is written back as (every value escaped, spaces between filters dropped).
    let good: [(String, String)] = [
        // The seed's advanced-query example, with its space between filters.
        ("(&(sAMAccountName=johndoe) (department=Cisco*)(mail=john@cisco.com))",
         "(&(sAMAccountName=johndoe)(department=Cisco*)(mail=john@cisco.com))"),
        ("  (uid=jdoe)\n", "(uid=jdoe)"),
        ("(!(userAccountControl:1.2.840.113556.1.4.803:=2))", "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"),
        // RFC 4515 §4 examples.
        ("(cn=Babs Jensen)", "(cn=Babs Jensen)"),
        ("(!(cn=Tim Howes))", "(!(cn=Tim Howes))"),
        ("(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))", "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))"),
        ("(o=univ*of*mich*)", "(o=univ*of*mich*)"),
        ("(seeAlso=)", "(seeAlso=)"),
        ("(cn:caseExactMatch:=Fred Flintstone)", "(cn:caseExactMatch:=Fred Flintstone)"),
        ("(cn:=Betty Rubble)", "(cn:=Betty Rubble)"),
        ("(sn:dn:2.4.6.8.10:=Barney Rubble)", "(sn:dn:2.4.6.8.10:=Barney Rubble)"),
        ("(o:dn:=Ace Industry)", "(o:dn:=Ace Industry)"),
        ("(:1.2.3:=Wilma Flintstone)", "(:1.2.3:=Wilma Flintstone)"),
        ("(:DN:2.4.6.8.10:=Dino)", "(:dn:2.4.6.8.10:=Dino)"),
        ("(o=Parens R Us \\28for all your parenthetical needs\\29)", "(o=Parens R Us \\28for all your parenthetical needs\\29)"),
        ("(cn=*\\2A*)", "(cn=*\\2a*)"),
        ("(filename=C:\\5cMyFile)", "(filename=C:\\5cMyFile)"),
        ("(bin=\\00\\00\\00\\04)", "(bin=\\00\\00\\00\\04)"),
        ("(sn=Lu\\c4\\8di\\c4\\87)", "(sn=Lučić)"),
        ("(1.3.6.1.4.1.1466.0=\\04\\02\\48\\69)", "(1.3.6.1.4.1.1466.0=\\04\\02Hi)"),
        // Binary values that are not UTF-8 stay escaped byte by byte (AD objectGUID).
        ("(objectGUID=\\a1\\b2\\00\\ff)", "(objectGUID=\\a1\\b2\\00\\ff)"),
        ("(cn=*)", "(cn=*)"),
        ("(cn=**)", "(cn=*)"),
        ("(cn=a**b)", "(cn=a*b)"),
        ("(employeeNumber>=1000)", "(employeeNumber>=1000)"),
        ("(employeeNumber<=1000)", "(employeeNumber<=1000)"),
        ("(cn~=smith)", "(cn~=smith)"),
        ("(cn;lang-en=x)", "(cn;lang-en=x)"),
        ("(2.5.4.3=x)", "(2.5.4.3=x)"),
        ("(msRTCSIP-PrimaryUserAddress=sip:*)", "(msRTCSIP-PrimaryUserAddress=sip:*)"),
        ("(| (a=1) (b=2) )", "(|(a=1)(b=2))"),
        ("(! (a=1))", "(!(a=1))"),
        ("(cn=Ærøskøbing)", "(cn=Ærøskøbing)"),
    ]

    func testGoodFiltersParseAndAreWrittenBackEscaped() throws {
        for (input, canonical) in good {
            let filter = try LDAPFilter(parsing: input)
            XCTAssertEqual(filter.text, canonical, input)
            XCTAssertEqual(try LDAPFilter(parsing: filter.text), filter, "the written form parses to the same filter: \(input)")
        }
    }

    func testMalformedFiltersAreRefusedWithOneLine() {
        let deep = String(repeating: "(!", count: 70) + "(a=b)" + String(repeating: ")", count: 70)
        let bad: [(String, String)] = [
            ("", "filter: is empty (an LDAP filter such as (uid=jdoe))"),
            ("   ", "filter: is empty (an LDAP filter such as (uid=jdoe))"),
            ("uid=jdoe", "filter: expected '(' at character 1"),
            ("(uid=jdoe", "filter: expected ')' at the end"),
            ("(&(uid=a)(department=Sales)", "filter: expected ')' at the end"),
            ("(uid=jdoe))", "filter: unexpected text after the filter at character 11"),
            ("(uid=a)(uid=b)", "filter: unexpected text after the filter at character 8"),
            ("(&)", "filter: '&' needs at least one filter in parentheses at character 3"),
            ("(|)", "filter: '|' needs at least one filter in parentheses at character 3"),
            ("(!)", "filter: expected '(' at character 3"),
            ("(!(a=b)(c=d))", "filter: expected ')' at character 8"),
            ("(uid=a(b)", "filter: unescaped '(' in a value at character 7 (write \\28)"),
            ("(uid=a\\zz)", "filter: '\\' must be followed by two hex digits at character 7 (write \\5c for a literal '\\')"),
            ("(uid=a\\2)", "filter: '\\' must be followed by two hex digits at character 7 (write \\5c for a literal '\\')"),
            ("(uid=a\u{0}b)", "filter: a NUL character in a value at character 7 (write \\00)"),
            ("(=jdoe)", "filter: expected an attribute name at character 2"),
            ("(-uid=jdoe)", "filter: expected an attribute name at character 2"),
            ("(uid jdoe)", "filter: expected '=', '~=', '>=', '<=' or ':' after 'uid' at character 5"),
            ("(department = Sales)", "filter: expected '=', '~=', '>=', '<=' or ':' after 'department' at character 12"),
            ("(age>=3*)", "filter: '*' is not allowed in a '>=' value at character 8 (write \\2a for a literal '*')"),
            ("(age>3)", "filter: expected '=' at character 6"),
            ("(1.2.=x)", "filter: '1.2.' is not a numeric OID at character 6"),
            ("(cn:1.2.3=x)", "filter: expected ':' at character 10"),
            ("(:=x)", "filter: an extensible match needs an attribute or a matching rule at character 4"),
            ("(cn;=x)", "filter: expected an attribute option after ';' at character 5"),
            (deep, "filter: nested deeper than 64 levels"),
            ("(cn=" + String(repeating: "a", count: 8200) + ")", "filter: longer than 8192 characters"),
        ]
        for (input, expected) in bad {
            XCTAssertThrowsError(try LDAPFilter(parsing: input), input.prefix(40).description) { error in
                XCTAssertEqual((error as? InputError)?.description, expected, input.prefix(40).description)
            }
        }
        XCTAssertThrowsError(try LDAPFilter(parsing: "(x=1", field: "service_area_filter")) { error in
            XCTAssertEqual((error as? InputError)?.description, "service_area_filter: expected ')' at the end")
        }
    }

    func testEscapeCoversTheFiveSpecialCharacters() {
        XCTAssertEqual(LDAPFilter.escape("a*b(c)d\\e\u{0}f"), "a\\2ab\\28c\\29d\\5ce\\00f")
        XCTAssertEqual(LDAPFilter.escape("Müller, Jürgen"), "Müller, Jürgen", "UTF-8 stays readable")
        XCTAssertEqual(LDAPFilter.escape("tab\there"), "tab\\09here", "control characters are escaped")
        // Whatever a value holds, the filter it builds parses back to exactly that value.
        for value in ["*", "*)(uid=*", ")(|(objectClass=*", "\\2a", "a\u{0}", "((((", "\\", "x)(!(y=z"] {
            let filter = LDAPFilter.equal("cn", LDAPValue(value))
            XCTAssertEqual(try LDAPFilter(parsing: filter.text), filter, value)
        }
    }

    func testAttributesNamesEachTestedAttributeOnce() throws {
        let filter = try LDAPFilter(parsing: "(&(l=London)(|(title=*Manager*)(L=Paris))(!(userAccountControl:1.2.840.113556.1.4.803:=2))(:1.2.3:=x)(age>=3))")
        XCTAssertEqual(filter.attributes, ["l", "title", "userAccountControl", "age"])
    }

    func testAllFlattensNestedAnds() {
        let person = LDAPFilter.and([.equal("objectClass", "user"), .not(.equal("objectClass", "computer"))])
        XCTAssertEqual(LDAPFilter.all([person, .equal("uid", "a")]).text, "(&(objectClass=user)(!(objectClass=computer))(uid=a))")
        XCTAssertEqual(LDAPFilter.all([.equal("uid", "a")]).text, "(uid=a)")
        XCTAssertEqual(LDAPFilter.all([.or([.equal("a", "1"), .equal("b", "2")]), .equal("c", "3")]).text, "(&(|(a=1)(b=2))(c=3))")
    }

    func testEvaluationOnEntries() throws {
        let entry: [String: [String]] = [
            "sAMAccountName": ["jdoe"], "department": ["Sales EMEA"], "mail": ["John.Doe@Cisco.com"],
            "userAccountControl": ["514"], "objectClass": ["top", "person", "organizationalPerson", "user"],
            "telephoneNumber": ["+44 20 7946 0958"], "employeeNumber": ["1042"], "sn": ["Müller"], "x": ["abab"],
            "cn;lang-en": ["John"], "description": ["a*b (c)"],
        ]
        let cases: [(String, Bool)] = [
            ("(samaccountname=JDOE)", true),
            ("(sAMAccountName=jdo)", false),
            ("(department=Sales*)", true),
            ("(department=*EMEA)", true),
            ("(department=*les*EM*)", true),
            ("(department=*EM*les*)", false),
            ("(department=Sales)", false),
            ("(mail=*@cisco.com)", true),
            ("(objectClass=user)", true),
            ("(!(objectClass=computer))", true),
            ("(&(objectClass=user)(!(objectClass=computer)))", true),
            ("(userAccountControl:1.2.840.113556.1.4.803:=2)", true),
            ("(!(userAccountControl:1.2.840.113556.1.4.803:=2))", false),
            ("(userAccountControl:1.2.840.113556.1.4.803:=514)", true),
            ("(userAccountControl:1.2.840.113556.1.4.803:=3)", false),
            ("(userAccountControl:1.2.840.113556.1.4.804:=3)", true),
            ("(userAccountControl:1.2.840.113556.1.4.804:=1)", false),
            ("(employeeNumber>=1000)", true),
            ("(employeeNumber>=999)", true),
            ("(employeeNumber<=999)", false),
            ("(employeeNumber<=1042)", true),
            ("(sn>=M)", true),
            ("(sn<=M)", false),
            ("(title=*)", false),
            ("(!(title=*))", true),
            ("(|(title=x)(sn=müller))", true),
            ("(sn~=MÜLLER)", true),
            ("(&(department=Sales*)(!(mail=*@example.com)))", true),
            ("(&(department=Sales*)(mail=*@example.com))", false),
            ("(cn:=john)", true),
            ("(:caseIgnoreMatch:=JDOE)", true),
            ("(x=ab*ab)", true),
            ("(x=aba*bab)", false),
            ("(x=*b*b)", true),
            ("(x=a*a*a)", false),
            ("(cn=John)", true),
            ("(description=a\\2ab \\28c\\29)", true),
            ("(description=a*b \\28c\\29)", true),
            ("(description=a\\2a)", false),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try LDAPFilter(parsing: text).matches(entry: entry), expected, text)
        }
        XCTAssertFalse(try LDAPFilter(parsing: "(uid=*)").matches(entry: [:]), "an empty entry has no attributes")
        XCTAssertTrue(try LDAPFilter(parsing: "(!(uid=a))").matches(entry: ["uid": []]))
    }

    /// The schema's rules: slapd's and Active Directory's descriptions of the same attributes give
    /// different comparisons; aliases find the values the server returns under the first name.
    func testEvaluationByTheServersMatchingRules() throws {
        let slapd = LDAPMatchingRules(attributeTypes: [
            "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} )",
            "( 2.5.4.4 NAME ( 'sn' 'surname' ) DESC 'RFC2256: last (family) name(s) for which the entity is known by' SUP name )",
            "( 2.5.4.20 NAME 'telephoneNumber' DESC 'RFC2256: Telephone Number' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50{32} )",
            "( 0.9.2342.19200300.100.1.41 NAME ( 'mobile' 'mobileTelephoneNumber' ) EQUALITY telephoneNumberMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
            "( 1.3.6.1.4.1.1466.101.120.1 NAME 'x-exact' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 X-ORIGIN ( 'a' 'EQUALITY telephoneNumberMatch' ) )",
            "not a description",
        ])
        let activeDirectory = LDAPMatchingRules(attributeTypes: [
            "( 2.5.4.20 NAME 'telephoneNumber' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
        ])
        XCTAssertEqual(slapd.rule(of: "telephoneNumber;x-home"), .telephoneNumber)
        XCTAssertEqual(slapd.rule(of: "SURNAME"), .caseIgnore)
        XCTAssertEqual(slapd.rule(of: "x-exact"), .caseExact)
        XCTAssertEqual(activeDirectory.rule(of: "telephoneNumber"), .caseIgnore)

        let entry: [String: [String]] = ["telephoneNumber": ["+1 (408) 555-0003"], "mobile": ["+44 7700-900123"],
                                         "sn": ["Van  der Berg"], "x-exact": ["Chief Officer"]]
        let cases: [(String, Bool, Bool)] = [  // filter, with slapd's rules, with Active Directory's (case-insensitive)
            ("(telephoneNumber=+1\\28408\\295550003)", true, false),
            ("(telephoneNumber=*555 00-03)", true, false),
            ("(telephoneNumber=+1 \\28408\\29 555-0003)", true, true),
            ("(telephoneNumber=+1\\28408*)", true, false),
            ("(mobileTelephoneNumber=+447700*)", true, false),
            ("(surname=van der berg)", true, false),
            ("(sn=  VAN DER BERG )", true, true),
            ("(sn=*der berg)", true, true),
            ("(x-exact=Chief Officer)", true, true),
            ("(x-exact=chief officer)", false, true),
            ("(x-exact=  Chief   Officer)", true, true),
        ]
        for (text, withSlapd, withAD) in cases {
            let filter = try LDAPFilter(parsing: text)
            XCTAssertEqual(filter.matches(entry: entry, rules: slapd), withSlapd, "slapd: \(text)")
            XCTAssertEqual(filter.matches(entry: entry, rules: activeDirectory), withAD, "AD: \(text)")
        }
    }
}
