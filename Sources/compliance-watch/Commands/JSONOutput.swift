import Foundation
import WatchCore

/// The documented `--json` shapes of `status` and `deliveries list` (README, "Operations").
/// Keys are snake_case and sorted; times are RFC 3339; absent values are `null`, never missing.
enum JSONOutput {
    struct Status: Encodable {
        var state: String
        var daemon: Daemon
        var accounts: [Account]
        var applications: Applications
        var events: Int
        var deliveries: [DeliveryCount]
        var sinks: [Sink]
        var unconfirmed: [Unconfirmed]
        var stalled: Bool
        /// PostgreSQL only: who leads.
        var ha: HA? = nil

        struct Daemon: Encodable {
            /// `running`, `stopped` or `unknown`.
            var state: String
            var pid: Nullable<Int32>
            var since: Nullable<String>
        }

        /// With several instances on PostgreSQL.
        struct HA: Encodable {
            var leader: Nullable<String>
            var since: Nullable<String>
            var token: Int64
            var standbys: [String]
        }

        struct Account: Encodable {
            var account: String
            /// The configured name; the auth id when there is no configuration or no name.
            var name: String
            var applications: Int
            var lastPollAt: Nullable<String>
            var lastPollOk: Nullable<Bool>
            var lastError: Nullable<String>
            var lastFullSyncAt: Nullable<String>
            var lastSuccessAt: Nullable<String>
            var stalled: Bool
        }

        struct Applications: Encodable {
            var total: Int
            var byStatus: [String: Int]
        }

        struct DeliveryCount: Encodable {
            var sink: String
            var state: String
            var count: Int
        }

        struct Sink: Encodable {
            var name: String
            /// `delivering`, `retrying` or `disabled`.
            var health: String
            var retrying: Int
            var lastError: Nullable<String>
            var disabledAt: Nullable<String>
            var blocked: [Blocked]
        }

        struct Blocked: Encodable {
            var applicationId: String
            var blockingEventId: String
            var reason: String
            var waiting: Int
        }

        struct Unconfirmed: Encodable {
            var account: String
            var applicationId: String
            var problem: String
            var since: String
            var stalled: Bool
        }
    }

    /// One transition in `history --json`.
    struct HistoryEntry: Encodable {
        var detectedAt: String
        var type: String
        var account: String
        var applicationId: String
        var alias: Nullable<String>
        var from: Nullable<String>
        var to: String
        var rejectionReason: Nullable<String>
        var eventId: String
        var deliveries: [SinkDelivery]

        struct SinkDelivery: Encodable {
            var sink: String
            var state: String
            var attempts: Int
            var lastError: Nullable<String>
        }
    }

    struct Delivery: Encodable {
        var eventId: String
        var sink: String
        var state: String
        var attempts: Int
        var type: String
        var applicationId: String
        var from: Nullable<String>
        var to: String
        var lastError: Nullable<String>
        var createdAt: String
        var nextAttemptAt: Nullable<String>
        var deliveredAt: Nullable<String>
        var blockedBy: Nullable<String>
    }

    /// Sorted keys, snake_case, `null` for absent values.
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = try encoder.encode(value)
        Swift.print(String(decoding: data, as: UTF8.self))
    }
}

/// An optional that encodes `nil` as `null`: synthesized encoding leaves absent optionals out,
/// and scripts should find every documented key.
struct Nullable<Wrapped: Encodable>: Encodable {
    let value: Wrapped?
    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
