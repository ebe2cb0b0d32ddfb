import Crypto
import Foundation

/// SHA-256 helpers used for event ids and the audit chain.
public enum Hashing {
    /// SHA-256 of the UTF-8 text, lowercase hex.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(Data(text.utf8))
    }

    /// SHA-256 of the bytes, lowercase hex.
    public static func sha256Hex(_ data: Data) -> String {
        TextFormat.hex(SHA256.hash(data: data))
    }
}

extension Hashing {
    /// `bytes` random bytes from the system's CSPRNG, as lowercase hex.
    public static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return TextFormat.hex((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
