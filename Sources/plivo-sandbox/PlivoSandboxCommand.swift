import ArgumentParser
import Foundation
import PlivoSandbox

/// `plivo-sandbox`: serves the simulated Compliance API until interrupted.
@main
struct PlivoSandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plivo-sandbox",
        abstract: "A local simulator of Plivo's Compliance API, for tests, demos and benchmarks.",
        discussion: """
            Prints exactly one line, "listening on http://HOST:PORT", once it accepts connections.
            Control endpoints: POST /_sandbox/reset, POST /_sandbox/seed, POST /_sandbox/applications/{id}/review,
            POST /_sandbox/applications/{id}/vanish, POST /_sandbox/faults, POST /_sandbox/reviewer, GET /_sandbox/stats.
            State lives in memory.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one.") var port: UInt16 = 0
    @Option(name: .customLong("auth-id"), help: "The account id clients must authenticate as (MA… or SA…).") var authId:
        String
    @Option(name: .customLong("auth-token"), help: "The auth token clients must send.") var authToken: String
    @Option(
        name: .customLong("account"),
        help: "Another account to serve, as AUTH_ID:TOKEN (repeatable); seeded like the first."
    )
    var accounts: [String] = []
    @Option(help: "Seed this many applications (with end users and documents) at start, in each account.") var seed:
        Int = 0
    @Option(
        name: .customLong("review-after"),
        help: "Review submitted applications after this delay, e.g. 10s. Default: only on command."
    )
    var reviewAfter: String?
    @Option(name: .customLong("accept-ratio"), help: "Share of reviews that accept; the rest reject with a reason.")
    var acceptRatio = 0.8
    @Option(name: .customLong("rate-limit"), help: "Requests per 5 s per account before answering 429; 0 disables.")
    var rateLimit = 300
    @Option(name: .customLong("latency-ms"), help: "Latency added to every API answer.") var latencyMs = 0
    @Option(name: .customLong("rate-429"), help: "Share of API requests answered 429 (0…1).") var rate429 = 0.0
    @Option(
        name: .customLong("retry-after"),
        help:
            "Retry-After on injected 429s, sent verbatim: 3, inf, 1e300, -5, an HTTP-date (default: none, like Plivo)."
    )
    var retryAfter: String?
    @Option(name: .customLong("rate-500"), help: "Share of API requests answered 500.") var rate500 = 0.0
    @Option(name: .customLong("malformed-rate"), help: "Share of answers with broken JSON.") var malformedRate = 0.0
    @Option(name: .customLong("truncate-rate"), help: "Share of answers cut short.") var truncateRate = 0.0
    @Option(name: .customLong("drop-rate"), help: "Share of connections closed without an answer.") var dropRate = 0.0
    @Option(
        name: .customLong("html-404-rate"),
        help: "Share of single-object GETs answered with a middlebox's HTML 404 page."
    ) var html404Rate = 0.0
    @Option(
        name: .customLong("null-field-rate"),
        help:
            "Share of application objects with the id, status, documents, a document id, alias or created_at made null or removed."
    )
    var nullFieldRate = 0.0
    @Option(name: .customLong("hide-rate"), help: "Share of application objects left out of list pages (paging drift).")
    var hideRate = 0.0
    @Option(
        name: .customLong("vanish-rate"),
        help: "Share of listed applications that vanish (404 on GET) for --vanish-for, then come back."
    )
    var vanishRate = 0.0
    @Option(name: .customLong("vanish-for"), help: "How long a vanished application stays away, e.g. 3s.")
    var vanishFor = "3s"

    func validate() throws {
        if let reviewAfter, parseDuration(reviewAfter) == nil {
            throw ValidationError("--review-after: '\(reviewAfter)' is not a duration such as 500ms, 10s or 2m")
        }
        if parseDuration(vanishFor) == nil {
            throw ValidationError("--vanish-for: '\(vanishFor)' is not a duration such as 500ms, 10s or 2m")
        }
        guard (0...1).contains(acceptRatio) else { throw ValidationError("--accept-ratio must be between 0 and 1") }
        guard seed >= 0 else { throw ValidationError("--seed must not be negative") }
        for account in accounts where !account.contains(":") || account.hasPrefix(":") || account.hasSuffix(":") {
            throw ValidationError("--account: '\(account.split(separator: ":").first ?? "")…' is not AUTH_ID:TOKEN")
        }
        for (name, rate) in [
            ("--rate-429", rate429), ("--rate-500", rate500), ("--malformed-rate", malformedRate),
            ("--truncate-rate", truncateRate), ("--drop-rate", dropRate), ("--html-404-rate", html404Rate),
            ("--null-field-rate", nullFieldRate), ("--hide-rate", hideRate), ("--vanish-rate", vanishRate),
        ]
        where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
    }

    func run() async throws {
        var faults = Faults()
        faults.latencyMs = latencyMs
        faults.rate429 = rate429
        faults.retryAfter = retryAfter
        faults.rate500 = rate500
        faults.malformedRate = malformedRate
        faults.truncateRate = truncateRate
        faults.dropRate = dropRate
        faults.html404Rate = html404Rate
        faults.nullFieldRate = nullFieldRate
        faults.hideRate = hideRate
        faults.vanishRate = vanishRate
        faults.vanishForSeconds =
            parseDuration(vanishFor).map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
            ?? 3
        let sandbox = try SandboxServer(
            .init(
                host: host,
                port: port,
                authId: authId,
                authToken: authToken,
                rateLimit: rateLimit,
                reviewAfter: reviewAfter.flatMap(parseDuration),
                acceptRatio: acceptRatio,
                faults: faults,
                otherAccounts: Dictionary(
                    accounts.map { entry in
                        let colon = entry.firstIndex(of: ":")!
                        return (String(entry[..<colon]), String(entry[entry.index(after: colon)...]))
                    },
                    uniquingKeysWith: { $1 }
                )
            )
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run() }
            try await sandbox.waitUntilListening()
            if seed > 0 { await sandbox.seedEveryAccount(count: seed) }
            print("listening on \(await sandbox.baseURL)")
            fflush(nil)  // stdout may be a pipe; the caller waits for this line
            try await group.next()
        }
    }
}
