import Foundation

/// Waits until `condition` holds, checking every 50 ms, for at most `seconds`; `false` if it never
/// did. Errors before the deadline are retried (a state file busy while a daemon writes it); the
/// last check's error is thrown.
@discardableResult
public func eventually(within seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
