import CurlHTTP
import Foundation
import PlivoCompliance
import Testing
import WatchTesting

/// Runs the real `plivo-sandbox` binary as a child process.
@Suite("plivo-sandbox executable", .timeLimit(.minutes(1)))
struct SandboxCommandTests {
    static var binary: URL {
        // The product sits beside the test bundle in the build directory.
        TestBinaries.plivoSandbox
    }

    /// Starts the binary and returns it with the one line it printed once ready.
    static func launch(_ arguments: [String]) throws -> (Process, String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        var buffer = Data()
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
        }
        return (process, String(decoding: buffer, as: UTF8.self))
    }

    static func stop(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    @Test("--seed 1000 serves 50 pages and prints exactly one line once ready")
    func seededBinary() async throws {
        let (process, line) = try Self.launch([
            "--port", "0", "--auth-id", "MACMD000000000000000", "--auth-token", "cmd-token", "--seed", "1000",
        ])
        defer { Self.stop(process) }
        let match = try #require(line.firstMatch(of: /^listening on (http:\/\/127\.0\.0\.1:(\d+))\n$/))
        let client = PlivoClient(
            configuration: .init(authId: "MACMD000000000000000", authToken: "cmd-token", baseURL: String(match.1)),
            transport: CurlTransport()
        )
        var pages = 0, seen = Set<String>(), offset = 0
        while true {
            let page = try await client.applications.list(offset: offset)
            if page.objects.isEmpty { break }
            pages += 1
            seen.formUnion(page.objects.map(\.id))
            offset += page.objects.count
            if page.meta.next == nil { break }
        }
        #expect(pages == 50)
        #expect(seen.count == 1000)
    }

    @Test("faults can be set at start from the command line")
    func faultsAtStart() async throws {
        let (process, line) = try Self.launch([
            "--auth-id", "MACMD000000000000001", "--auth-token", "t", "--rate-429", "1", "--retry-after", "3",
        ])
        defer { Self.stop(process) }
        let base = try #require(line.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = PlivoClient(
            configuration: .init(authId: "MACMD000000000000001", authToken: "t", baseURL: base),
            transport: CurlTransport()
        )
        let error = await #expect(throws: PlivoError.self) { try await client.applications.list() }
        #expect(error?.status == 429)
        #expect(error?.retryAfter == .seconds(3))
    }

    @Test("bad arguments are refused with the option named")
    func badArguments() throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["--auth-id", "MA1", "--auth-token", "t", "--review-after", "soon"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus != 0)
        #expect(text.contains("--review-after"))
    }
}
