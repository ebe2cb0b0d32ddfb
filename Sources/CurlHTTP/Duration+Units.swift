extension Duration {
    /// The duration in seconds, as a `Double` (for timestamps, metrics and `TimeInterval`s).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds, rounded toward zero.
    public var inNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, rounded down, at least 1 for positive durations (libcurl's timeouts,
    /// where 0 means "none").
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return attoseconds > 0 && ms == 0 ? 1 : ms
    }
}
