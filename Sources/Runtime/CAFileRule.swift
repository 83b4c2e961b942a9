import Foundation

/// The one rule for a CA file an operator names (a device's, the mail server's): a regular file
/// this process can read, since it is read at every connection. A directory passes a read check
/// but is no PEM file, so it is refused too.
public enum CAFileRule {
    public static func check(_ path: String, field: String) throws {
        var isDirectory: ObjCBool = false
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path)
        else {
            throw InputError(field: field, problem: "cannot read \(InputError.quoted(path)) (it must be a readable PEM file)")
        }
    }
}
