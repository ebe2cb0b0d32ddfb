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
            POST /_sandbox/faults, POST /_sandbox/reviewer, GET /_sandbox/stats. State lives in memory.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one.") var port: UInt16 = 0
    @Option(name: .customLong("auth-id"), help: "The account id clients must authenticate as (MA… or SA…).") var authId: String
    @Option(name: .customLong("auth-token"), help: "The auth token clients must send.") var authToken: String
    @Option(help: "Seed this many applications (with end users and documents) at start.") var seed: Int = 0
    @Option(name: .customLong("review-after"), help: "Review submitted applications after this delay, e.g. 10s. Default: only on command.")
    var reviewAfter: String?
    @Option(name: .customLong("accept-ratio"), help: "Share of reviews that accept; the rest reject with a reason.") var acceptRatio = 0.8
    @Option(name: .customLong("rate-limit"), help: "Requests per 5 s per account before answering 429; 0 disables.") var rateLimit = 300
    @Option(name: .customLong("latency-ms"), help: "Latency added to every API answer.") var latencyMs = 0
    @Option(name: .customLong("rate-429"), help: "Share of API requests answered 429 (0…1).") var rate429 = 0.0
    @Option(name: .customLong("retry-after"), help: "Retry-After seconds on injected 429s (default: none, like Plivo).") var retryAfter: Int?
    @Option(name: .customLong("rate-500"), help: "Share of API requests answered 500.") var rate500 = 0.0
    @Option(name: .customLong("malformed-rate"), help: "Share of answers with broken JSON.") var malformedRate = 0.0
    @Option(name: .customLong("truncate-rate"), help: "Share of answers cut short.") var truncateRate = 0.0
    @Option(name: .customLong("drop-rate"), help: "Share of connections closed without an answer.") var dropRate = 0.0

    func validate() throws {
        if let reviewAfter, parseDuration(reviewAfter) == nil {
            throw ValidationError("--review-after: '\(reviewAfter)' is not a duration such as 500ms, 10s or 2m")
        }
        guard (0...1).contains(acceptRatio) else { throw ValidationError("--accept-ratio must be between 0 and 1") }
        guard seed >= 0 else { throw ValidationError("--seed must not be negative") }
        for (name, rate) in [("--rate-429", rate429), ("--rate-500", rate500), ("--malformed-rate", malformedRate),
                             ("--truncate-rate", truncateRate), ("--drop-rate", dropRate)] where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
    }

    func run() async throws {
        var faults = Faults()
        faults.latencyMs = latencyMs
        faults.rate429 = rate429
        faults.retryAfterSeconds = retryAfter
        faults.rate500 = rate500
        faults.malformedRate = malformedRate
        faults.truncateRate = truncateRate
        faults.dropRate = dropRate
        let sandbox = try SandboxServer(.init(
            host: host, port: port, authId: authId, authToken: authToken, rateLimit: rateLimit,
            reviewAfter: reviewAfter.flatMap(parseDuration), acceptRatio: acceptRatio, faults: faults))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run() }
            try await sandbox.waitUntilListening()
            if seed > 0 { await sandbox.seed(count: seed) }
            print("listening on \(await sandbox.baseURL)")
            fflush(nil)  // stdout may be a pipe; the caller waits for this line
            try await group.next()
        }
    }
}
