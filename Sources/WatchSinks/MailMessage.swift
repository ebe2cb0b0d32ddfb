import Foundation
import WatchCore

/// Builds the RFC 5322 message for an event.
///
/// - Headers: From, To, Subject (RFC 2047 when not ASCII), Date, Message-ID, MIME-Version,
///   and In-Reply-To/References pointing at one synthetic root per application, so mail clients
///   thread an application's history.
/// - Body: text/plain; charset=UTF-8, quoted-printable.
/// - No header injection: CR, LF and other control characters in values that came from the API
///   are replaced by spaces before they reach a header.
public struct MailMessage: Sendable {
    /// `From:`, a plain address.
    public var from: String
    /// `To:`, plain addresses.
    public var to: [String]
    /// Starts every subject.
    public var subjectPrefix: String

    /// Creates the message settings.
    public init(from: String, to: [String], subjectPrefix: String = "[compliance]") {
        self.from = from
        self.to = to
        self.subjectPrefix = subjectPrefix
    }

    /// The subject, e.g. "[compliance] acme-fr-mobile: submitted → accepted".
    public func subject(for event: Event) -> String {
        let text = EventText(event)
        let what =
            switch event.type {
            case .created: "created (\(event.toStatus))"
            case .deleted: "deleted"
            case .updated: "updated"
            case .statusChanged: text.transition
            }
        return Self.clean("\(subjectPrefix) \(text.name): \(what)")
    }

    /// The message bytes, CRLF line endings.
    public func render(_ event: Event, date: Date = Date()) -> Data {
        let text = EventText(event)
        let domain = "compliance-watch.invalid"
        let root = "<application.\(Self.token(event.data.application.complianceApplicationId))@\(domain)>"
        var headers = [
            "From: \(Self.clean(from))",
            "To: \(to.map(Self.clean).joined(separator: ", "))",
            "Subject: \(Self.encodeHeader(subject(for: event)))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: <\(Self.token(event.id))@\(domain)>",
            "In-Reply-To: \(root)",
            "References: \(root)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
            "X-Compliance-Watch-Event: \(Self.token(event.type.rawValue))",
        ]
        headers = headers.map { Self.foldIfNeeded($0) }
        var body = "\(text.emoji) \(text.name) \(text.verb)\n\n"
        body += text.facts.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        body += "\n\nDetected at \(event.data.detectedAt) by compliance-watch.\n"
        let message = headers.joined(separator: "\r\n") + "\r\n\r\n" + Self.quotedPrintable(body)
        return Data(message.utf8)
    }

    /// Replaces control characters (CR and LF included) with spaces.
    static func clean(_ value: String) -> String {
        String(
            String.UnicodeScalarView(
                value.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : $0 }
            )
        )
    }

    /// Keeps only characters safe in a Message-ID.
    static func token(_ value: String) -> String {
        String(
            value.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }
                .map(Character.init)
        )
    }

    /// RFC 2047 B-encoding for non-ASCII header text, in encoded words of at most 75 characters.
    static func encodeHeader(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { !$0.isASCII }) else { return value }
        var words: [String] = []
        var chunk = ""
        for character in value {
            let candidate = chunk + String(character)
            if Data(candidate.utf8).base64EncodedString().count > 60 {
                words.append(chunk)
                chunk = String(character)
            } else {
                chunk = candidate
            }
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// Folds an over-long ASCII header at spaces (RFC 5322 §2.2.3).
    static func foldIfNeeded(_ header: String) -> String {
        guard header.count > 998, !header.contains("\r\n") else { return header }
        var lines: [String] = []
        var current = ""
        for word in header.split(separator: " ", omittingEmptySubsequences: false) {
            if current.count + word.count + 1 > 76, !current.isEmpty {
                lines.append(current)
                current = String(word)
            } else {
                current += (current.isEmpty ? "" : " ") + word
            }
        }
        lines.append(current)
        return lines.joined(separator: "\r\n ")
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }

    /// Quoted-printable (RFC 2045 §6.7), CRLF line breaks, soft breaks before 76 characters.
    static func quotedPrintable(_ text: String) -> String {
        var lines: [String] = []
        for line in text.components(separatedBy: "\n") {
            var encoded = ""
            var length = 0
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                var piece: String
                if (byte >= 33 && byte <= 126 && byte != 61) || (byte == 32 && !isLast) || (byte == 9 && !isLast) {
                    piece = String(UnicodeScalar(byte))
                } else {
                    piece = String(format: "=%02X", byte)
                }
                if length + piece.count > 75 {
                    encoded += "=\r\n"
                    length = 0
                }
                encoded += piece
                length += piece.count
            }
            lines.append(encoded)
        }
        return lines.joined(separator: "\r\n")
    }
}
