import ArgumentParser
import Foundation
import CurlHTTP
import PlivoCompliance
import WatchCore
import WatchSinks

extension ComplianceWatchCommand {
    struct TestSink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test-sink",
            abstract: "Send a synthetic event through one webhook or mail sink, to check its setup.",
            discussion: """
                The event is marked as a test ("test": true in the body, id evt_test_…, alias "compliance-watch \
                test") and is not recorded in the state database; receivers should ignore such events. File sinks are \
                refused: the audit trail holds only real events. Needs no Plivo auth token. \
                Exits 0 when the sink accepted it, 1 with the sink's error otherwise.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The sink's name from the configuration.") var name: String

        func run() async throws {
            // The sink's own secrets are read; the Plivo token is not needed to test a receiver.
            let configuration = try options.loadConfigurationForReading(sinkSettings: true)
            guard let configured = configuration.sinks.first(where: { $0.name == name }) else {
                printError(
                    "no sink named '\(name)'; configured: \(configuration.sinks.map(\.name).joined(separator: ", "))"
                )
                throw ExitCode(64)
            }
            let transport = CurlTransport()
            defer { transport.shutdown() }
            guard configured.kind != .file,
                let sink = SinkCatalog.make(configured, resources: .init(store: nil, transport: transport))
            else {
                printError("'\(name)' is a file sink; the audit trail records only real events")
                throw ExitCode(64)
            }
            let stamp = EventTime.format(Date())
            let application = ComplianceApplication(
                id: "00000000-0000-4000-8000-000000000000",
                alias: "compliance-watch test",
                status: .accepted,
                endUserType: "business",
                countryISO2: "FR",
                numberType: "mobile"
            )
            var event = Event(
                id: "evt_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(23),
                type: .statusChanged,
                timestamp: stamp,
                account: "test",
                data: .init(
                    application: EventApplication(application),
                    previous: .init(status: "submitted", rejectionReason: nil),
                    detectedAt: stamp
                )
            )
            event.test = true
            do {
                try await sink.deliver(event)
                print("\(name): delivered \(event.id)")
            } catch {
                printError("\(name): \(error.message)")
                throw ExitCode(1)
            }
        }
    }
}
