extension StringProtocol {
    /// The text without leading and trailing whitespace (newlines included), in the standard
    /// library: Foundation's `trimmingCharacters(in:)` bridges through NSString, and every
    /// header line of every response went through it.
    package func trimmingWhitespace() -> SubSequence {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
