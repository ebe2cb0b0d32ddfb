import Foundation
import WatchCore

/// The native payloads of the chat platforms a webhook sink can post to.
///
/// Every value that came from the API is escaped so it cannot mention anyone or break the
/// formatting, and every field is cut to the platform's limit on characters (grapheme clusters),
/// never in the middle of one.
public enum ChatFormat: String, Sendable, CaseIterable {
    case json, slack, mattermost, teams, discord

    /// The request body for `event`.
    public func body(for event: Event) -> Data {
        let text = EventText(event)
        switch self {
        case .json: return event.canonicalJSON()
        case .slack: return Self.encode(Self.slack(text))
        case .mattermost: return Self.encode(Self.mattermost(text))
        case .teams: return Self.encode(Self.teams(text))
        case .discord: return Self.encode(Self.discord(text))
        }
    }

    // MARK: Slack: blocks with a text fallback (mrkdwn; section text ≤ 3000, text ≤ 40000)

    static func slack(_ t: EventText) -> [String: Any] {
        let e = Escape.slack
        let headline = "\(t.emoji) *\(e(t.name))*\(t.scope.isEmpty ? "" : " (\(e(t.scope)))") \(e(t.verb))"
        let facts = t.facts.map { "*\($0.0):* \(e($0.1))" }.joined(separator: "\n")
        return [
            "text": truncate("\(t.emoji) \(e(t.name)) \(e(t.verb))", 3000),
            "blocks": [
                ["type": "section", "text": ["type": "mrkdwn", "text": truncate(headline, 3000)]],
                ["type": "section", "text": ["type": "mrkdwn", "text": truncate(facts, 3000)]],
            ],
        ]
    }

    // MARK: Mattermost: markdown text (≤ 16383)

    static func mattermost(_ t: EventText) -> [String: Any] {
        let e = Escape.markdown
        var lines = ["\(t.emoji) **\(e(t.name))**\(t.scope.isEmpty ? "" : " (\(e(t.scope)))") \(e(t.verb))", ""]
        lines += t.facts.map { "**\($0.0):** \(e($0.1))" }
        return ["text": truncate(lines.joined(separator: "\n"), 16383)]
    }

    // MARK: Teams: a Workflows message with an Adaptive Card (≈28 KB per card)

    static func teams(_ t: EventText) -> [String: Any] {
        let e = Escape.markdown
        let card: [String: Any] = [
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                [
                    "type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                    "text": truncate("\(t.emoji) \(e(t.name)) \(e(t.verb))", 2000),
                ],
                ["type": "FactSet", "facts": t.facts.map { ["title": $0.0, "value": truncate(e($0.1), 2000)] }],
            ],
        ]
        return [
            "type": "message",
            "attachments": [
                ["contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": NSNull(), "content": card]
            ],
        ]
    }

    // MARK: Discord: content plus an embed; mentions disabled (content ≤ 2000, title ≤ 256,
    // description ≤ 4096, field name ≤ 256, field value ≤ 1024)

    static func discord(_ t: EventText) -> [String: Any] {
        let e = Escape.markdown
        let color: Int =
            switch t.event.toStatus {
            case .accepted: 0x2EB67D
            case .rejected: 0xE01E5A
            case .submitted: 0x36C5F0
            default: 0x9E9E9E
            }
        let fields = t.facts.prefix(25).map {
            ["name": truncate($0.0, 256), "value": truncate(e($0.1), 1024), "inline": $0.0 != "Reason"] as [String: Any]
        }
        return [
            "content": truncate("\(t.emoji) **\(e(t.name))** \(e(t.verb))", 2000),
            "embeds": [
                [
                    "title": truncate("\(t.name) · \(t.transition)", 256),
                    "description": truncate(e(t.scope), 4096),
                    "color": color,
                    "fields": fields,
                    "timestamp": t.event.timestamp,
                ]
            ],
            "allowed_mentions": ["parse": [String]()],
        ]
    }

    // MARK: Helpers

    /// Cuts to at most `limit` characters (grapheme clusters), ending with "…" when cut.
    public static func truncate(_ text: String, _ limit: Int) -> String {
        guard text.count > limit else { return text }
        return String(text.prefix(max(0, limit - 1))) + "…"
    }

    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }
}

/// Escaping for text that came from the API.
enum Escape {
    /// Slack mrkdwn: `&`, `<`, `>` are control characters (mentions are `<!channel>`, `<@U…>`);
    /// formatting characters get a zero-width space so they cannot pair up.
    static func slack(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "*", "_", "~", "`": out += "\u{200B}\(c)\u{200B}"
            default: out.append(c)
            }
        }
        return out
    }

    /// CommonMark-style markdown (Mattermost, Discord, Teams): backslash-escape punctuation, and
    /// break `@` so `@channel`, `@here` or `@everyone` are not mentions.
    static func markdown(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            // Values sit inline after a label, so list and heading markers at line start cannot occur.
            case "\\", "*", "_", "~", "`", "|", "[", "]", "#", ">", "<":
                out += "\\\(c)"
            case "@": out += "@\u{200B}"
            default: out.append(c)
            }
        }
        return out
    }
}
