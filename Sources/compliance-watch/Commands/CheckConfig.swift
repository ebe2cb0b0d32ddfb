import ArgumentParser
import WatchCore

extension ComplianceWatchCommand {
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print a summary with secrets redacted.",
            discussion: "Exits 0 when valid, 78 (EX_CONFIG) with every problem listed when not.")

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let (c, sinks) = try options.loadConfiguration()
            print("configuration \(c.sourcePath) is valid")
            print("[plivo] auth_id = \(c.plivo.authId)")
            print("[plivo] auth token = <redacted> (from \(c.plivo.authTokenSource))")
            print("[plivo] base_url = \(c.plivo.baseURL)")
            print("[plivo] max_requests_per_second = \(c.plivo.maxRequestsPerSecond), concurrency = \(c.plivo.concurrency)")
            if c.plivo.maxRequestsPerSecond > 60 {
                print("warning: max_requests_per_second above 60 exceeds Plivo's limit of 300 requests per 5 s; expect 429s")
            }
            let d = DaemonConfiguration.formatDuration
            print("[poll] interval = \(d(c.poll.interval)), settled_interval = \(d(c.poll.settledInterval)), jitter = \(c.poll.jitter), announce_existing = \(c.poll.announceExisting)")
            print("[state] path = \(c.state.path)")
            print("[delivery] max_attempts = \(c.delivery.maxAttempts), max_age = \(d(c.delivery.maxAge)), concurrency = \(c.delivery.concurrency)")
            for (sink, configured) in zip(sinks, c.sinks) {
                var filter: [String] = []
                if !configured.filter.types.isEmpty { filter.append("types \(configured.filter.types.joined(separator: ","))") }
                if !configured.filter.from.isEmpty { filter.append("from \(configured.filter.from.joined(separator: ","))") }
                if !configured.filter.to.isEmpty { filter.append("to \(configured.filter.to.joined(separator: ","))") }
                print("[sink \(sink.name)] type = \(configured.type)\(filter.isEmpty ? "" : "; filter: " + filter.joined(separator: "; "))")
            }
        }
    }
}
