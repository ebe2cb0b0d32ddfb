import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import PlivoSandbox
import Synchronization
import WatchCore

/// A sink that records what it receives and can be told to fail.
public final class RecordingSink: Sink {
    /// The sink's name.
    public let name: String
    private let state = Mutex<
        (
            events: [Event], failuresLeft: Int, disposition: DeliveryError.Disposition, concurrent: Int,
            maxConcurrent: Int
        )
    >(([], 0, .retry, 0, 0))
    /// How long each delivery takes.
    public let delay: Duration

    /// A sink that fails its first `failures` deliveries with `disposition`.
    public init(
        name: String,
        failures: Int = 0,
        disposition: DeliveryError.Disposition = .retry,
        delay: Duration = .zero
    ) {
        self.name = name
        self.delay = delay
        state.withLock {
            $0.failuresLeft = failures
            $0.disposition = disposition
        }
    }

    /// What it accepted, in order.
    public var events: [Event] { state.withLock { $0.events } }
    /// The most deliveries it ever had in flight at once.
    public var maxConcurrent: Int { state.withLock { $0.maxConcurrent } }

    /// Fails the next `count` deliveries.
    public func setFailures(_ count: Int, disposition: DeliveryError.Disposition = .retry) {
        state.withLock {
            $0.failuresLeft = count
            $0.disposition = disposition
        }
    }

    /// Records `event`, or fails as told.
    public func deliver(_ event: Event) async throws(DeliveryError) {
        state.withLock {
            $0.concurrent += 1
            $0.maxConcurrent = max($0.maxConcurrent, $0.concurrent)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        let failure = state.withLock { s -> DeliveryError.Disposition? in
            s.concurrent -= 1
            guard s.failuresLeft > 0 else {
                s.events.append(event)
                return nil
            }
            s.failuresLeft -= 1
            return s.disposition
        }
        if let failure { throw DeliveryError("receiver said no", disposition: failure) }
    }
}

/// A sandbox on loopback plus a client and a fresh in-memory store.
public struct PollFixture {
    /// The sandbox account.
    public static let authId = "MAPOLL00000000000000"
    /// The sandbox on loopback.
    public let sandbox: SandboxServer
    /// A client for its account.
    public let client: PlivoClient
    /// The transport the client and the control calls use.
    public let transport: CurlTransport
    /// A fresh store (SQLite in memory unless a backend is given).
    public let store: StateStore
    /// `http://127.0.0.1:PORT`.
    public let baseURL: String

    /// Starts a sandbox with `faults`, and a fresh store of `backend`.
    public init(faults: Faults = Faults(), rateLimit: Int = 0, backend: StoreBackend = .sqlite) async throws {
        sandbox = try await SandboxServer.start(
            .init(authId: Self.authId, authToken: "t", rateLimit: rateLimit, faults: faults)
        )
        baseURL = await sandbox.baseURL
        transport = CurlTransport(configuration: .init(timeout: .seconds(5)))
        client = PlivoClient(
            configuration: .init(authId: Self.authId, authToken: "t", baseURL: baseURL),
            transport: transport
        )
        store = try backend.makeStore()
    }

    /// A poller over the sandbox with fast retries.
    public func poller(
        sinks: [SinkRoute] = [SinkRoute(name: "test", filter: EventFilter())],
        announceExisting: Bool = false,
        maxAttempts: Int = 50
    ) -> Poller {
        Poller(
            source: client,
            store: store,
            bucket: TokenBucket(rate: 1000, burst: 50),
            settings: .init(
                concurrency: 4,
                maxAttempts: maxAttempts,
                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(20)),
                announceExisting: announceExisting
            ),
            sinks: sinks
        )
    }

    /// POSTs to a sandbox control endpoint.
    @discardableResult
    public func control(_ path: String, _ body: String = "{}") async throws -> [String: Any] {
        let response = try await transport.send(
            HTTPRequest(
                method: .post,
                url: baseURL + path,
                body: .data(Data(body.utf8), contentType: "application/json")
            )
        )
        return (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
    }

    /// Seeds `count` applications; returns their ids.
    public func seed(_ count: Int, statuses: String = #"{"submitted": 1}"#) async throws -> [String] {
        try await control("/_sandbox/seed", #"{"count": \#(count), "statuses": \#(statuses)}"#)["application_ids"]
            as? [String] ?? []
    }

    /// Decides an application as Plivo's reviewers would.
    public func review(_ id: String, _ status: String, reason: String? = nil) async throws {
        let body = reason.map { #"{"status":"\#(status)","rejection_reason":"\#($0)"}"# } ?? #"{"status":"\#(status)"}"#
        try await control("/_sandbox/applications/\(id)/review", body)
    }

    /// Replaces the sandbox's faults.
    public func setFaults(_ json: String) async throws {
        try await control("/_sandbox/faults", json)
    }

    /// Stops the sandbox.
    public func stop() { sandbox.stop() }
}

extension Logger {
    /// A logger that prints nothing.
    public static let quiet: Logger = {
        var logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }()
}
