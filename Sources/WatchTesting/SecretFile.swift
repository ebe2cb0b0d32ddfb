import Foundation

/// Writes `text` to `path` with mode 0600, as an admin writes a secret file: the daemon refuses
/// secret files that group or others can read.
public func writeSecretFile(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
}
