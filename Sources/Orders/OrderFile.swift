import Foundation
import Runtime
import Yams

/// An add order as the operator writes it (`ucp order plan|submit -f FILE`): one user of one domain,
/// placed in a service area that supplies the defaults.
///
/// ```yaml
/// domain: Cisco
/// service_area: SA_Site01
/// user: jdoe
/// line: "4001"          # optional: the next free number of the area's block when absent
/// phone:
///   name: SEP001122334455
///   model: Cisco 8845
/// voicemail: yes        # optional, default no
/// credential_policy: Default Credential Policy  # optional: the user's password and PIN policy
/// on_failure: rollback  # optional: rollback (default) or stop (for `order retry|rollback`)
/// extension_mobility: yes  # optional: the Login/Logout service on the phone, a device profile
/// single_number_reach:     # optional: mobility, a remote destination profile and this number
///   destination: "+15551234567"
/// im_and_presence:         # optional: this cluster the user's home cluster, IM&P on, the service profile
///   service_profile: SP_Jabber
/// conference_now:          # optional: the user may host Conference Now, with this attendee access code
///   access_code: "1234"
/// ```
public struct OrderRequest: Sendable, Equatable, Codable {
    public var domain: String
    public var serviceArea: String
    public var user: String
    public var line: String?
    public var phoneName: String
    public var phoneModel: String
    public var voicemail: Bool
    public var onFailure: String
    /// The Unified CM credential policy for the user's password and PIN (set after the user step).
    public var credentialPolicy: String?
    /// The file's name and the line of each field (`phone.model` → 7), for refusals that name it.
    public var file: String
    public var fieldLines: [String: Int]
    /// Extension Mobility (seed 000 step 7): the login service on the phone, the user's device profile.
    public var extensionMobility = false
    /// Single Number Reach (seed 000 step 9): the remote destination's number.
    public var singleNumberReach: String?
    /// Service profile and IM and Presence (seed 000 step 10): the user's service profile.
    public var imPresence: String?
    /// Conferencing (seed 000 step 8): the attendee access code of the user's Conference Now meetings.
    public var conferenceNow: String?
    /// True when the line is the user's LDAP synchronized number, masked or not (automatic
    /// provisioning, seed 004): it is taken where it lies, in the area's blocks or not — the seed
    /// keeps LDAP numbers apart from the blocks. An operator's number (order files, batches) comes
    /// from a block. Never read from a file; nil is left out of the stored request.
    public var lineFromDirectory: Bool?

    public init(domain: String, serviceArea: String, user: String, line: String? = nil, phoneName: String,
                phoneModel: String, voicemail: Bool = false, onFailure: String = "rollback", file: String = "order",
                fieldLines: [String: Int] = [:], credentialPolicy: String? = nil) {
        self.domain = domain
        self.credentialPolicy = credentialPolicy
        self.serviceArea = serviceArea
        self.user = user
        self.line = line
        self.phoneName = phoneName
        self.phoneModel = phoneModel
        self.voicemail = voicemail
        self.onFailure = onFailure
        self.file = file
        self.fieldLines = fieldLines
    }

    /// A refusal naming the field and the line of the file it is on.
    public func refusal(_ field: String, _ problem: String) -> InputError {
        InputError(field: OrderFile.fieldName(field, file: file, line: fieldLines[field]), problem: problem)
    }
}

/// Reads and checks an order file whole: every problem is a one-line `InputError` naming the field
/// and the file's line; nothing is looked up in the database here (the planner does that).
public enum OrderFile {
    static let topFields = ["domain", "service_area", "user", "line", "phone", "voicemail", "on_failure", "credential_policy",
                            "extension_mobility", "single_number_reach", "im_and_presence", "conference_now"]
    static let phoneFields = ["name", "model"]
    /// The fields that hold a mapping, with its fields (a CSV column joins them with '_': `phone_name`).
    static let mappingFields: [String: [String]] = ["phone": phoneFields, "single_number_reach": ["destination"],
                                                    "im_and_presence": ["service_profile"], "conference_now": ["access_code"]]

    static func fieldName(_ field: String, file: String, line: Int?) -> String {
        line.map { "\(field) (\(file) line \($0))" } ?? "\(field) (\(file))"
    }

    public static func read(path: String) throws -> OrderRequest {
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(field: "file", problem: "cannot read \(InputError.quoted(path))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(field: "file", problem: "\(InputError.quoted(path)) is not UTF-8 text")
        }
        return try parse(text, file: name)
    }

    public static func parse(_ text: String, file: String = "order") throws -> OrderRequest {
        try request(try compose(text, file: file), file: file)
    }

    /// How deep an order or batch file may nest. Yams composes recursively, one stack frame per
    /// level and without a limit, so a few kilobytes of `[[[[…` would end the process (`ucp serve`
    /// with it); the files themselves are at most three levels deep.
    static let maximumNesting = 64

    /// How many times its own size an order or batch file may grow when its aliases (`*name`) are
    /// written out. Yams composes an alias as a shared copy, but a batch's failed rows are written
    /// out again whole: a kilobyte of aliases of aliases ("billion laughs") would become gigabytes.
    static let maximumExpansion = 4

    /// The YAML of an order or batch file composed, refused with one line (the file's line) when
    /// malformed, nested deeper than `maximumNesting` or growing past `maximumExpansion` by its aliases.
    static func compose(_ text: String, file: String) throws -> Node? {
        if let line = YAMLNesting.firstLine(deeperThan: maximumNesting, in: text) {
            throw InputError(field: fieldName("yaml", file: file, line: line), problem: "nested deeper than \(maximumNesting) levels")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let (line, problem) = describe(error)
            throw InputError(field: fieldName("yaml", file: file, line: line), problem: "malformed YAML: \(problem)")
        }
        if let root, let line = YAMLNesting.firstLine(expandingPast: maximumExpansion * text.utf8.count + 1024, in: root) {
            throw InputError(field: fieldName("yaml", file: file, line: line),
                             problem: "its aliases (*name) repeat more than \(maximumExpansion) times the file's size; write the values out")
        }
        return root
    }

    /// The order of one composed YAML mapping (a whole order file, or one item of a batch file;
    /// `ucp order batch` builds a CSV row into the same mapping): the checks of `parse`.
    public static func request(_ root: Node?, file: String) throws -> OrderRequest {
        guard let root, let mapping = root.mapping else {
            throw InputError(field: fieldName("yaml", file: file, line: root?.mark?.line), problem: "an order file is a mapping of fields (domain, service_area, user, phone …)")
        }
        var lines: [String: Int] = [:]
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                throw InputError(field: fieldName("yaml", file: file, line: key.mark?.line), problem: "a field name must be text")
            }
            guard topFields.contains(name) else {
                throw InputError(field: fieldName(name, file: file, line: key.mark?.line),
                                 problem: "unknown field (known: \(topFields.joined(separator: ", ")))")
            }
            guard values[name] == nil else {
                throw InputError(field: fieldName(name, file: file, line: key.mark?.line), problem: "is given twice")
            }
            values[name] = value
            lines[name] = key.mark?.line
        }
        func scalar(_ field: String, _ node: Node?, line: Int?) throws -> String? {
            guard let node else { return nil }
            guard let scalar = node.scalar else {
                throw InputError(field: fieldName(field, file: file, line: line), problem: "must be a single value")
            }
            let text = scalar.string.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty, !(scalar.style == .plain && ["~", "null"].contains(text)) else {
                throw InputError(field: fieldName(field, file: file, line: line), problem: "must not be empty")
            }
            guard text.count <= 200, !InputError.hasControlCharacters(text) else {
                throw InputError(field: fieldName(field, file: file, line: line), problem: "must be 1 to 200 characters without control characters")
            }
            return text
        }
        func required(_ field: String) throws -> String {
            guard let text = try scalar(field, values[field], line: lines[field]) else {
                throw InputError(field: fieldName(field, file: file, line: nil), problem: "is required")
            }
            return text
        }
        let domain = try required("domain")
        let area = try required("service_area")
        let user = try required("user")
        let line = try scalar("line", values["line"], line: lines["line"])
        if let line, line.range(of: #"\A\+?[0-9]{1,24}\z"#, options: .regularExpression) == nil {
            throw InputError(field: fieldName("line", file: file, line: lines["line"]),
                             problem: "\(InputError.quoted(line)) must be a directory number: 1 to 24 digits, optionally after '+'")
        }
        guard let phoneNode = values["phone"] else {
            throw InputError(field: fieldName("phone", file: file, line: nil), problem: "is required (name and model)")
        }
        guard let phoneMapping = phoneNode.mapping else {
            throw InputError(field: fieldName("phone", file: file, line: lines["phone"]), problem: "must be a mapping with name and model")
        }
        var phone: [String: Node] = [:]
        for (key, value) in phoneMapping {
            let name = key.string ?? ""
            guard phoneFields.contains(name), phone[name] == nil else {
                throw InputError(field: fieldName("phone.\(name)", file: file, line: key.mark?.line),
                                 problem: phone[name] == nil ? "unknown field (known: name, model)" : "is given twice")
            }
            phone[name] = value
            lines["phone.\(name)"] = key.mark?.line
        }
        guard let phoneName = try scalar("phone.name", phone["name"], line: lines["phone.name"]) else {
            throw InputError(field: fieldName("phone.name", file: file, line: lines["phone"]), problem: "is required")
        }
        guard phoneName.range(of: #"\A[A-Za-z0-9._-]{1,50}\z"#, options: .regularExpression) != nil else {
            throw InputError(field: fieldName("phone.name", file: file, line: lines["phone.name"]),
                             problem: "\(InputError.quoted(phoneName)) must be 1 to 50 letters, digits, '.', '_' or '-' (e.g. SEP001122334455)")
        }
        guard let phoneModel = try scalar("phone.model", phone["model"], line: lines["phone.model"]) else {
            throw InputError(field: fieldName("phone.model", file: file, line: lines["phone"]), problem: "is required")
        }
        var voicemail = false
        if let node = values["voicemail"] {
            guard let value = node.bool else {
                throw InputError(field: fieldName("voicemail", file: file, line: lines["voicemail"]), problem: "must be yes or no")
            }
            voicemail = value
        }
        let onFailure = try scalar("on_failure", values["on_failure"], line: lines["on_failure"]) ?? "rollback"
        guard ["rollback", "stop"].contains(onFailure) else {
            throw InputError(field: fieldName("on_failure", file: file, line: lines["on_failure"]), problem: "must be rollback or stop")
        }
        let policy = try scalar("credential_policy", values["credential_policy"], line: lines["credential_policy"])
        if let policy, let problem = credentialPolicyProblem(policy) {
            throw InputError(field: fieldName("credential_policy", file: file, line: lines["credential_policy"]), problem: problem)
        }
        var request = OrderRequest(domain: domain, serviceArea: area, user: user, line: line, phoneName: phoneName, phoneModel: phoneModel,
                                   voicemail: voicemail, onFailure: onFailure, file: file, fieldLines: lines, credentialPolicy: policy)
        try mobility(values, into: &request)
        return request
    }

    /// The optional `extension_mobility: yes|no` and `single_number_reach: {destination: NUMBER}`.
    static func mobility(_ values: [String: Node], into request: inout OrderRequest) throws {
        let file = request.file
        if let node = values["extension_mobility"] {
            guard let value = node.bool else {
                throw InputError(field: fieldName("extension_mobility", file: file, line: request.fieldLines["extension_mobility"]), problem: "must be yes or no")
            }
            request.extensionMobility = value
        }
        if let node = values["single_number_reach"] {
            request.singleNumberReach = try single(node, "single_number_reach", example: "\"+15551234567\"", in: &request,
                                                  problem: destinationProblem)
        }
        if let node = values["im_and_presence"] {
            request.imPresence = try single(node, "im_and_presence", example: "SP_Jabber", in: &request) { name in
                objectNameProblem(name, what: "a service profile's name")
            }
        }
        if let node = values["conference_now"] {
            request.conferenceNow = try single(node, "conference_now", example: "\"1234\"", in: &request,
                                               problem: accessCodeProblem)
        }
    }

    /// The one value of a mapping with one field (`single_number_reach: {destination: …}`), checked
    /// by `problem`; its line kept for later refusals.
    static func single(_ node: Node, _ top: String, example: String, in request: inout OrderRequest,
                       problem: (String) -> String?) throws -> String {
        let file = request.file, line = request.fieldLines[top]
        let child = mappingFields[top]?.first ?? ""
        guard let mapping = node.mapping else {
            throw InputError(field: fieldName(top, file: file, line: line), problem: "must be a mapping with \(child) (e.g. \(child): \(example))")
        }
        var found: String?
        for (key, value) in mapping {
            let name = key.string ?? ""
            let field = "\(top).\(name)"
            guard name == child, found == nil else {
                throw InputError(field: fieldName(field, file: file, line: key.mark?.line),
                                 problem: found == nil ? "unknown field (known: \(child))" : "is given twice")
            }
            request.fieldLines[field] = key.mark?.line
            let text = value.scalar?.string.trimmingCharacters(in: .whitespaces) ?? ""
            if let problem = text.isEmpty ? "must not be empty" : problem(text) {
                throw InputError(field: fieldName(field, file: file, line: key.mark?.line), problem: problem)
            }
            found = text
        }
        guard let found else {
            throw InputError(field: fieldName("\(top).\(child)", file: file, line: line), problem: "is required")
        }
        return found
    }

    /// Why `number` cannot be a remote destination (Unified CM dials it as given: digits, an
    /// optional leading '+', 3 to 24 of them), or nil. Anchored with `\A…\z`: ICU's `$` also matches
    /// before a final line break, which would go to the device as part of the number.
    public static func destinationProblem(_ number: String) -> String? {
        guard number.range(of: #"\A\+?[0-9]{3,24}\z"#, options: .regularExpression) != nil else {
            return "\(InputError.quoted(number)) must be a phone number: 3 to 24 digits, optionally after '+' (e.g. +15551234567)"
        }
        return nil
    }

    /// The attendee access code's lengths (Unified CM's End User page: a numeric code of 3 to 10 digits).
    public static let accessCodeLengths = 3...10

    /// Why `code` cannot be a Conference Now attendee access code (digits only, 3 to 10 of them), or nil.
    public static func accessCodeProblem(_ code: String) -> String? {
        guard accessCodeLengths.contains(code.count), code.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return "\(InputError.quoted(code)) must be an attendee access code: \(accessCodeLengths.lowerBound) to \(accessCodeLengths.upperBound) digits (e.g. \"1234\")"
        }
        return nil
    }

    /// Why `name` cannot be a credential policy's name (Unified CM: 1 to 50 characters, no quotes,
    /// angle brackets or control characters), or nil.
    public static func credentialPolicyProblem(_ name: String) -> String? {
        objectNameProblem(name, what: "a credential policy's name")
    }

    /// Why `name` cannot name a Unified CM object (1 to 50 characters, no quotes, angle brackets or
    /// control characters), or nil.
    static func objectNameProblem(_ name: String, what: String) -> String? {
        guard (1...50).contains(name.count),
              !InputError.hasControlCharacters(name), !name.unicodeScalars.contains(where: { "\"<>&".unicodeScalars.contains($0) }) else {
            return "\(InputError.quoted(name)) must be \(what): 1 to 50 characters without quotes, '<', '>', '&' or control characters"
        }
        return nil
    }

    /// The line and the problem of a YAML error, on one line.
    static func describe(_ error: YamlError) -> (line: Int?, problem: String) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return (mark.line, problem)
        case .reader(let problem, _, _, _):
            return (nil, problem)
        default:
            return (nil, "cannot be read")
        }
    }
}

/// An upper bound of a YAML text's nesting, read without composing it: at any point, the columns of
/// the line's indentation, the flow collections open (`[`, `{`, across lines) and the block
/// indicators before it on its line (`- `, `? `, `: `) — every level of nesting needs one of those.
/// Quoted scalars and comments are skipped. Over-counts (a `: ` inside a plain value), never under.
enum YAMLNesting {
    /// The 1-based line where the bound first passes `limit`, or nil.
    static func firstLine(deeperThan limit: Int, in text: String) -> Int? {
        var flow = 0
        var quote: UInt8?  // the quote of the scalar being read (it may span lines)
        var line = 1
        var depth = 0  // the line's indentation and indicators so far
        var atLineStart = true
        var previous: UInt8 = 0x0A
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0x0A
            index += 1
            if byte == 0x0A {  // \n
                line += 1
                depth = 0
                atLineStart = true
                previous = byte
                continue
            }
            if let open = quote {
                if byte == 0x5C, open == 0x22 { index += 1 }  // a backslash escape in a double-quoted scalar
                else if byte == open { quote = nil }
                previous = byte
                continue
            }
            if atLineStart, byte == 0x20 {  // indentation
                depth += 1
            } else {
                atLineStart = false
                let blank = next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09
                let tokenStart = [0x0A, 0x20, 0x09, 0x5B, 0x7B, 0x2C, 0x3A].contains(previous)  // after space [ { , :
                switch byte {
                case 0x23 where previous == 0x20 || previous == 0x09 || previous == 0x0A:  // a comment: the rest of the line
                    while index < bytes.count, bytes[index] != 0x0A { index += 1 }
                case 0x22 where tokenStart, 0x27 where tokenStart: quote = byte  // " or '
                case 0x5B, 0x7B: flow += 1  // [ {
                case 0x5D, 0x7D: flow = max(0, flow - 1)  // ] }
                case 0x2D where blank, 0x3F where blank, 0x3A where blank: depth += 1  // - ? :
                default: break
                }
            }
            if depth + flow > limit { return line }
            previous = byte
        }
        return nil
    }

    /// The line of the value at which `root`, every alias written out, passes `limit` (a byte per
    /// value and each scalar's bytes), or nil. Stops there, so it never walks more than `limit`.
    static func firstLine(expandingPast limit: Int, in root: Node) -> Int? {
        var size = 0
        var pending = [root]
        while let node = pending.popLast() {
            size += 1
            switch node {
            case .scalar(let scalar): size += scalar.string.utf8.count
            case .mapping(let mapping): pending += mapping.flatMap { [$0.value, $0.key] }
            case .sequence(let sequence): pending += sequence.reversed()
            }
            if size > limit { return node.mark?.line ?? 1 }
        }
        return nil
    }
}
