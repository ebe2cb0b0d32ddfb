import CurlHTTP
import Foundation
import PlivoSandbox
import Testing
import WatchCore
import WatchTesting

/// `[metrics] listen` on a real daemon: what `/metrics` says is checked with promtool and
/// against what happened (the sandbox's own counts, the store), and `/healthz` both ways.
@Suite("Metrics and health of a real daemon", .timeLimit(.minutes(2)))
struct MetricsTests {
    static let token = "metrics-s3cr3t-token"

    /// `promtool check metrics` on `text`: (exit status, output).
    static func promtool(_ text: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The value of the sample `name{labels}` (labels in the order written), if present.
    static func value(_ text: String, _ sample: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }.flatMap {
            Double($0.split(separator: " ").last ?? "")
        }
    }

    @Test(
        "after real polls and deliveries, /metrics passes promtool and counts what happened; /healthz is 200, then 503 when polls fail"
    )
    func metricsAndHealth() async throws {
        let authId = "MAMETRICS00000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: Self.token, rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 6)
        let receiver = try TestReceiver()
        defer { receiver.stop() }
        try receiver.answer(400)  // final: every delivery to it becomes a dead letter
        let port = try LocalPorts.free()
        let base = await sandbox.baseURL
        let fixture = try DaemonFixture(
            baseURL: base,
            authId: authId,
            token: Self.token,
            extra: """
                [[sinks]]
                name = "hook"
                type = "webhook"
                url = "\(receiver.url)"
                [metrics]
                listen = "127.0.0.1:\(port)"
                """
        )
        try fixture.announceExisting()
        let transport = CurlTransportFactory.make()
        func post(_ path: String, _ json: String) async throws {
            _ = try await transport.send(
                .init(method: .post, url: base + path, body: .data(Data(json.utf8), contentType: "application/json"))
            )
        }
        try await post("/_sandbox/faults", #"{"rate_429": 0.5}"#)
        let daemon = try fixture.launch(["run"])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

        let metricsURL = "http://127.0.0.1:\(port)/metrics"
        var text = ""
        for _ in 0..<200 {
            if let response = try? await transport.send(.init(url: metricsURL)), response.status == 200 {
                text = String(decoding: response.body, as: UTF8.self)
                let delivered =
                    Self.value(text, #"compliance_watch_delivery_attempts_total{sink="audit",result="delivered"}"#) ?? 0
                let dead = Self.value(text, #"compliance_watch_deliveries{sink="hook",state="dead"}"#) ?? 0
                let limited =
                    Self.value(
                        text,
                        #"compliance_watch_api_requests_total{account="\#(authId)",outcome="rate_limited"}"#
                    ) ?? 0
                if delivered >= 6, dead >= 6, limited >= 1 { break }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Stop the API's 429s and let one more scrape see a quiet state to compare with.
        try await post("/_sandbox/faults", "{}")
        try await Task.sleep(for: .milliseconds(400))
        text = String(decoding: try await transport.send(.init(url: metricsURL)).body, as: UTF8.self)
        let stats =
            try JSONSerialization.jsonObject(with: try await transport.send(.init(url: base + "/_sandbox/stats")).body)
            as? [String: Any]

        let (status, promtoolOutput) = try Self.promtool(text)
        #expect(status == 0, "promtool check metrics: \(promtoolOutput)")
        let store = try StateStore.openReadOnly(path: fixture.statePath)
        for (statusName, count) in try store.summary().applicationsByStatus {
            #expect(
                Self.value(text, #"compliance_watch_applications{account="\#(authId)",status="\#(statusName)"}"#)
                    == Double(count)
            )
        }
        #expect(Self.value(text, #"compliance_watch_delivery_attempts_total{sink="audit",result="delivered"}"#) == 6)
        #expect(Self.value(text, #"compliance_watch_delivery_attempts_total{sink="hook",result="failed"}"#) == 6)
        #expect(Self.value(text, #"compliance_watch_deliveries{sink="hook",state="dead"}"#) == 6)
        #expect(
            Self.value(
                text,
                #"compliance_watch_events_total{account="\#(authId)",type="compliance_application.created"}"#
            ) == 6
        )
        let limited = try #require(stats?["rate_limited"] as? Int)
        #expect(limited > 0, "the sandbox answered some requests 429")
        #expect(
            Self.value(text, #"compliance_watch_api_requests_total{account="\#(authId)",outcome="rate_limited"}"#)
                == Double(limited),
            "every 429 the sandbox sent is counted once"
        )
        #expect(
            Self.value(
                text,
                #"compliance_watch_build_info{version="\#(complianceWatchVersion)",commit="\#(complianceWatchCommit)"}"#
            ) == 1
        )
        #expect(
            (Self.value(text, #"compliance_watch_last_successful_poll_timestamp_seconds{account="\#(authId)"}"#) ?? 0)
                > Date().timeIntervalSince1970 - 60
        )
        #expect(
            text.contains(#"compliance_watch_poll_cycle_duration_seconds_count{account="\#(authId)",scan="full"}"#),
            "the baseline sync was timed"
        )
        #expect(!text.contains(Self.token) && !text.contains(receiver.url), "no secret and no URL in any label")

        let healthURL = "http://127.0.0.1:\(port)/healthz"
        // Healthy while polls succeed (asked until it says so: a loaded machine may be between polls).
        var healthy: CurlHTTP.HTTPResponse?
        for _ in 0..<200 {
            let response = try await transport.send(.init(url: healthURL))
            if response.status == 200 {
                healthy = response
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(String(decoding: try #require(healthy).body, as: UTF8.self).contains(#""status":"ok""#))
        // Every poll fails from now on: after 3 × interval (300 ms here) the daemon is unhealthy.
        try await post("/_sandbox/faults", #"{"rate_500": 1}"#)
        var unhealthy: CurlHTTP.HTTPResponse?
        for _ in 0..<100 {
            let response = try await transport.send(.init(url: healthURL))
            if response.status == 503 {
                unhealthy = response
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let body = String(decoding: try #require(unhealthy).body, as: UTF8.self)
        #expect(body.contains(#""status":"unhealthy""#) && body.contains("no successful poll for"), "\(body)")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0)
    }
}
