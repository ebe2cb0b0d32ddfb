import Foundation
import GRDB

extension StateStore {
    /// What one pruning removed.
    public struct Pruned: Sendable, Equatable {
        /// Delivered delivery rows removed.
        public var deliveries: Int
        /// Events removed (with their remaining delivered or skipped rows).
        public var events: Int
    }

    /// Removes delivered deliveries delivered before `deliveredBefore` and, when
    /// `eventsBefore` is given, events recorded before it that have nothing pending or dead.
    /// Pending and dead rows, and the events they belong to, are never removed; nor are
    /// snapshots, which hold each application's event count (its next event id).
    @discardableResult
    public func prune(deliveredBefore: Date, eventsBefore: Date? = nil) throws -> Pruned {
        try writer.write { db in
            let open: [DeliveryRecord.State] = [.pending, .dead]
            try db.execute(literal: """
                DELETE FROM delivery WHERE state = \(DeliveryRecord.State.delivered)
                  AND deliveredAt < \(deliveredBefore.timeIntervalSince1970)
                """)
            let deliveries = db.changesCount
            var events = 0
            if let eventsBefore {
                try db.execute(literal: """
                    DELETE FROM event WHERE createdAt < \(eventsBefore.timeIntervalSince1970)
                      AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.eventSeq = event.seq AND d.state IN \(open))
                    """)
                events = db.changesCount
            }
            return Pruned(deliveries: deliveries, events: events)
        }
    }
}
