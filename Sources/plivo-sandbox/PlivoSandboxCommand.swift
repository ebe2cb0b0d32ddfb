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

    func validate() throws {
        if let reviewAfter, parseDuration(reviewAfter) == nil {
            throw ValidationError("--review-after: '\(reviewAfter)' is not a duration such as 500ms, 10s or 2m")
        }
        guard (0...1).contains(acceptRatio) else { throw ValidationError("--accept-ratio must be between 0 and 1") }
        guard seed >= 0 else { throw ValidationError("--seed must not be negative") }
    }

    func run() async throws {
        var faults = Faults()
        faults.latencyMs = latencyMs
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
