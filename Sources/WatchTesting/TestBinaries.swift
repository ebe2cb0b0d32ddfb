import Foundation

/// Finds the project's built executables from inside a test binary, so tests run the real
/// `compliance-watch` and `plivo-sandbox` as child processes.
public enum TestBinaries {
    /// The build directory (`.build/<triple>/debug`) that holds `name`: the nearest directory
    /// above the running test binary that has it.
    public static func directory(holding name: String) -> URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) {
            url.deleteLastPathComponent()
        }
        return url
    }

    /// The built `compliance-watch`.
    public static let complianceWatch = directory(holding: "compliance-watch").appendingPathComponent(
        "compliance-watch"
    )
    /// The built `plivo-sandbox`.
    public static let plivoSandbox = directory(holding: "plivo-sandbox").appendingPathComponent("plivo-sandbox")

    /// A file of the source tree (`scripts/test-receiver.py`), found from this file's location.
    public static func sourceFile(_ relativePath: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../\(relativePath)").standardized.path
    }
}

/// Runs the built `compliance-watch` and returns (status, stdout, stderr). The waiting happens
/// on a thread of its own: blocking the cooperative pool (two threads on two cores) would starve
/// an in-process sandbox the command talks to.
/// `executable` runs instead when given (e.g. `setpriv … compliance-watch …`).
public func runCLI(
    _ arguments: [String],
    environment: [String: String] = [:],
    executable: URL = TestBinaries.complianceWatch
) async throws -> (Int32, String, String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(
                with: Result { try runCLIBlocking(arguments, environment: environment, executable: executable) }
            )
        }
    }
}

private func runCLIBlocking(
    _ arguments: [String],
    environment: [String: String],
    executable: URL
) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}
