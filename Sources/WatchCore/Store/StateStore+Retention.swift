import Foundation

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
        try database.write { db in
            let deliveries = try db.execute(
                "DELETE FROM delivery WHERE state = ? AND deliveredAt < ?",
                DeliveryRecord.State.delivered,
                deliveredBefore
            )
            var events = 0
            if let eventsBefore {
                events = try db.execute(
                    """
                    DELETE FROM event WHERE createdAt < ?
                      AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.eventSeq = event.seq AND d.state IN (?, ?))
                    """,
                    eventsBefore,
                    DeliveryRecord.State.pending,
                    DeliveryRecord.State.dead
                )
            }
            return Pruned(deliveries: deliveries, events: events)
        }
    }
}
