import Foundation
import Postgres
import Runtime

/// Validation of AXL messages against Cisco's `AXLSoap.xsd` with `xmllint --schema`. The schema
/// describes the operation elements, not the SOAP envelope, so each message's Body child is taken out
/// (for a fault, the `axlError` in its detail) and validated on its own — all of them in one xmllint run.
public enum AXLSchema {
    /// The folder `scripts/axl-schema.sh` fills (or `UCP_AXL_SCHEMA_DIR`): `<version>/AXLSoap.xsd` inside.
    public static func directory() throws -> String {
        if let given = ProcessInfo.processInfo.environment["UCP_AXL_SCHEMA_DIR"], !given.isEmpty { return given }
        let (status, output) = try ChildProcess.run(["bash", PackagePaths.root + "/scripts/axl-schema.sh"])
        guard status == 0, let folder = output.split(separator: "\n").last.map(String.init), FileManager.default.fileExists(atPath: folder) else {
            throw SchemaError(description: "scripts/axl-schema.sh failed: \(output)")
        }
        return folder
    }

    /// Validates SOAP messages (requests or answers) named for the report; returns xmllint's complaints,
    /// empty when every message is valid.
    public static func validate(_ messages: [(name: String, body: [UInt8])], version: String = "12.5") throws -> [String] {
        let folder = NSTemporaryDirectory() + "ucp-xsd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder + "/soap", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (index, message) in messages.enumerated() {
            let name = String(format: "%04d-", index) + message.name.filter { $0.isLetter || $0.isNumber || $0 == "-" }
            _ = FileManager.default.createFile(atPath: "\(folder)/soap/\(name).xml", contents: Data(message.body))
        }
        return try validate(directory: folder + "/soap", version: version)
    }

    /// Validates every `*.xml` SOAP message in a folder (for example a `ucp devsim --capture-dir`).
    public static func validate(directory soapFolder: String, version: String = "12.5") throws -> [String] {
        let schema = try directory() + "/\(version)/AXLSoap.xsd"
        let extracted = soapFolder + "/.operations"
        try? FileManager.default.removeItem(atPath: extracted)
        try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
        let (status, output) = try ChildProcess.run(["python3", "-c", extractor, soapFolder, extracted])
        guard status == 0 else { throw SchemaError(description: "cannot take the operations out: \(output)") }
        let files = try FileManager.default.contentsOfDirectory(atPath: extracted).filter { $0.hasSuffix(".xml") }.sorted()
        var problems = output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        guard !files.isEmpty else { return problems + ["no messages in \(soapFolder)"] }
        // One xmllint run reads the (large) schema once for all files.
        for batch in stride(from: 0, to: files.count, by: 500) {
            let names = files[batch..<min(files.count, batch + 500)].map { extracted + "/" + $0 }
            let (lintStatus, lintOutput) = try ChildProcess.run(["xmllint", "--noout", "--schema", schema] + names)
            if lintStatus != 0 {
                problems += lintOutput.split(separator: "\n").map(String.init).filter { !$0.hasSuffix(" validates") }
            }
        }
        return problems
    }

    /// Python (standard library only): each message's Body child, or a fault's axlError, re-serialised
    /// with its namespace declared on itself.
    private static let extractor = """
        import os, sys, xml.etree.ElementTree as ET
        SOAP = '{http://schemas.xmlsoap.org/soap/envelope/}'
        source, target = sys.argv[1], sys.argv[2]
        for name in sorted(os.listdir(source)):
            if not name.endswith('.xml'):
                continue
            try:
                root = ET.parse(os.path.join(source, name)).getroot()
            except ET.ParseError as error:
                print(f'{name}: not XML: {error}')
                continue
            body = root.find(SOAP + 'Body')
            children = list(body) if body is not None else []
            if not children:
                print(f'{name}: no SOAP body')
                continue
            element = children[0]
            if element.tag == SOAP + 'Fault':
                element = next((e for e in element.iter() if e.tag.endswith('axlError')), None)
                if element is None:
                    print(f'{name}: a fault without axlError')
                    continue
            with open(os.path.join(target, name), 'wb') as out:
                out.write(ET.tostring(element))
        """
}

public struct SchemaError: Error, CustomStringConvertible {
    public let description: String
}
