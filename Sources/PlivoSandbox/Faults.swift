import Foundation

/// Fault injection settings, set at start or through `POST /_sandbox/faults`. Rates are 0…1
/// probabilities per Plivo API request; control endpoints are never faulted.
public struct Faults: Sendable, Equatable {
    /// Added before every answer.
    public var latencyMs: Int = 0
    /// Share of requests answered 429.
    public var rate429: Double = 0
    /// `Retry-After` on injected 429s, sent verbatim (`"3"`, `"inf"`, `"1e300"`, `"-5"`, an
    /// HTTP-date); `nil` sends none (as real Plivo does).
    public var retryAfter: String? = nil
    /// Share answered 500.
    public var rate500: Double = 0
    /// Share of successful answers whose body is replaced by broken JSON.
    public var malformedRate: Double = 0
    /// Share whose body is cut short, with the connection closed.
    public var truncateRate: Double = 0
    /// Share whose connection is closed without any answer.
    public var dropRate: Double = 0
    /// Share of single-object GETs answered with a middlebox's HTML 404 page (`text/html`, nginx).
    public var html404Rate: Double = 0
    /// Share of application objects (in lists and GETs) with one field made `null` or removed:
    /// the id, the status, the document list, a document's id, the alias or `created_at`.
    public var nullFieldRate: Double = 0
    /// Share of application objects left out of list pages (paging drift); a GET still finds them.
    public var hideRate: Double = 0
    /// Share of listed applications that vanish (gone from lists, Plivo's 404 on GET) for
    /// ``vanishForSeconds``, then come back unchanged.
    public var vanishRate: Double = 0
    /// How long a vanished application stays away.
    public var vanishForSeconds: Double = 3

    /// No faults.
    public init() {}

    /// `Retry-After` seconds on injected 429s (the older, numeric form of ``retryAfter``).
    public var retryAfterSeconds: Int? {
        get { retryAfter.flatMap { Int($0) } }
        set { retryAfter = newValue.map(String.init) }
    }

    /// Reads the `/_sandbox/faults` body; missing keys are 0.
    init(json: JSON) {
        latencyMs = Int(json["latency_ms"]?.double ?? 0)
        rate429 = json["rate_429"]?.double ?? 0
        if case .string(let raw)? = json["retry_after"] {
            retryAfter = raw
        } else {
            retryAfterSeconds = json["retry_after_s"]?.double.map { Int($0) }
        }
        rate500 = json["rate_500"]?.double ?? 0
        malformedRate = json["malformed_rate"]?.double ?? 0
        truncateRate = json["truncate_rate"]?.double ?? 0
        dropRate = json["drop_rate"]?.double ?? 0
        html404Rate = json["html_404_rate"]?.double ?? 0
        nullFieldRate = json["null_field_rate"]?.double ?? 0
        hideRate = json["hide_rate"]?.double ?? 0
        vanishRate = json["vanish_rate"]?.double ?? 0
        vanishForSeconds = json["vanish_for_s"]?.double ?? 3
    }

    var json: JSON {
        .obj(
            ("latency_ms", .int(latencyMs)),
            ("rate_429", .double(rate429)),
            ("retry_after", .str(retryAfter)),
            ("rate_500", .double(rate500)),
            ("malformed_rate", .double(malformedRate)),
            ("truncate_rate", .double(truncateRate)),
            ("drop_rate", .double(dropRate)),
            ("html_404_rate", .double(html404Rate)),
            ("null_field_rate", .double(nullFieldRate)),
            ("hide_rate", .double(hideRate)),
            ("vanish_rate", .double(vanishRate)),
            ("vanish_for_s", .double(vanishForSeconds))
        )
    }

    /// The ways ``nullFieldRate`` damages an application object.
    static let damages: [@Sendable (JSON) -> JSON] = [
        { $0.setting("compliance_application_id", .null) }, { $0.removing("compliance_application_id") },
        { $0.setting("status", .null) }, { $0.removing("status") }, { $0.setting("status", .string("")) },
        { $0.setting("documents", .null) }, { $0.removing("documents") },
        { $0.damagingFirstDocumentId() },
        { $0.setting("alias", .null) }, { $0.removing("created_at") },
    ]

    /// nginx's 404 page, as a middlebox sends it.
    static let html404 = """
        <html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n\
        <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n
        """
}

extension JSON {
    func setting(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var pairs) = self else { return self }
        if let index = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[index].1 = value
        } else {
            pairs.append((key, value))
        }
        return .object(pairs)
    }

    func removing(_ key: String) -> JSON {
        guard case .object(let pairs) = self else { return self }
        return .object(pairs.filter { $0.0 != key })
    }

    /// The first document's id made `null`; with no documents, a document without an id.
    func damagingFirstDocumentId() -> JSON {
        guard case .array(var documents)? = self["documents"] else {
            return setting("documents", .array([.obj(("name", .string("x")))]))
        }
        if documents.isEmpty {
            documents = [.obj(("document_id", .null))]
        } else {
            documents[0] = documents[0].setting("document_id", .null)
        }
        return setting("documents", .array(documents))
    }
}

/// Plivo's account limit: at most `limit` requests in any `window`, per account (a sliding log).
struct RateLimiter: Sendable {
    var limit: Int
    var window: Duration
    private var log: [String: [ContinuousClock.Instant]] = [:]

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Records a request if it fits; returns `false` when the account is over its limit.
    mutating func admit(_ account: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard limit > 0 else { return true }
        var entries = log[account, default: []]
        let cutoff = now - window
        if let firstKept = entries.firstIndex(where: { $0 > cutoff }) {
            entries.removeFirst(firstKept)
        } else {
            entries.removeAll()
        }
        guard entries.count < limit else {
            log[account] = entries
            return false
        }
        entries.append(now)
        log[account] = entries
        return true
    }
}
