import Crypto
import Foundation

/// Signing as in the Standard Webhooks specification.
///
/// `webhook-signature` is `v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>`; several
/// keys (during rotation) give several space-separated signatures. Secrets are written
/// `whsec_<base64 key>`.
public struct StandardWebhooks: Sendable {
    /// Raw key bytes (SymmetricKey is not Sendable in this swift-crypto).
    let keys: [Data]
    /// How many keys sign.
    public var keyCount: Int { keys.count }

    /// A signer for secrets in `whsec_…` form.
    /// - Throws: ``SecretFormatError`` naming the bad secret's position (never its value).
    public init(secrets: [String]) throws(SecretFormatError) {
        var keys: [Data] = []
        for (index, secret) in secrets.enumerated() {
            let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.hasPrefix("whsec_"), let data = Data(base64Encoded: String(trimmed.dropFirst(6))),
                data.count >= 16
            else {
                throw SecretFormatError(index: index)
            }
            keys.append(data)
        }
        self.keys = keys
    }

    /// A secret is not `whsec_` followed by base64 of at least 16 bytes.
    public struct SecretFormatError: Error, Sendable {
        /// 0-based position of the bad secret in the configured list.
        public var index: Int
    }

    /// The `webhook-signature` header value.
    public func signature(id: String, timestamp: Int, body: Data) -> String {
        let message = Data("\(id).\(timestamp).".utf8) + body
        return keys.map { key in
            "v1,"
                + Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                .base64EncodedString()
        }.joined(separator: " ")
    }

    /// Checks a received signature header against one secret, as a receiver would.
    public static func verify(secret: String, id: String, timestamp: Int, body: Data, header: String) -> Bool {
        guard let signer = try? StandardWebhooks(secrets: [secret]) else { return false }
        let expected = signer.signature(id: id, timestamp: timestamp, body: body)
        return header.split(separator: " ").contains { $0 == expected }
    }
}
