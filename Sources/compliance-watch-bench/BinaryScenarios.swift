import CurlHTTP
import Foundation
import WatchTesting

/// The `binaries` scenario: the dynamic and the static release builds (and any variant named in
/// `BENCH_BINARIES`) side by side — size, start-up to READY=1, idle RSS, steady RSS at 10,000
/// applications — beside a naive poller written with Plivo's Python SDK, measured the same way.
extension Bench {
    /// A daemon binary under test: `path` as built; `runPath` what is run (a stripped copy,
    /// except for `dynamic`, which runs as `swift build -c release` leaves it).
    struct BinaryUnderTest {
        var label: String
        var path: URL
        var runPath: URL
    }

    /// `BENCH_BINARIES=label=path,label=path` (default: `dynamic` beside the bench and `static`
    /// from `BENCH_STATIC_BINARY`, `.build-static/release/compliance-watch`). Each one but
    /// `dynamic` is stripped into `directory` and run from there.
    static func binariesUnderTest(in directory: URL) throws -> [BinaryUnderTest] {
        let environment = ProcessInfo.processInfo.environment
        let staticPath = environment["BENCH_STATIC_BINARY"] ?? ".build-static/release/compliance-watch"
        let spec = environment["BENCH_BINARIES"] ?? "dynamic=\(sibling("compliance-watch").path),static=\(staticPath)"
        return try spec.split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw BenchError("BENCH_BINARIES: \(entry) is not label=path") }
            let path = URL(fileURLWithPath: parts[1]).standardizedFileURL
            guard FileManager.default.isExecutableFile(atPath: path.path) else {
                throw BenchError("BENCH_BINARIES: no binary at \(path.path)")
            }
            var runPath = path
            if parts[0] != "dynamic" {
                let folder = directory.appendingPathComponent(parts[0])
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                runPath = folder.appendingPathComponent("compliance-watch")
                try tool("/usr/bin/strip", ["-o", runPath.path, path.path])
            }
            return BinaryUnderTest(label: parts[0], path: path, runPath: runPath)
        }
    }

    /// Runs `executable` and returns its standard output; throws when it fails.
    @discardableResult
    static func tool(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("\(executable) \(arguments.joined(separator: " ")) failed")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The whole of a /proc file (`String(contentsOfFile:)` stops after the first read of one,
    /// since /proc files report a size of 0).
    static func readProcFile(_ path: String) -> String? {
        readProcData(path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func readProcData(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    static func fileSize(_ url: URL) -> Double {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.doubleValue ?? 0)
            / 1_048_576
    }

    /// Size, stripped size, dynamic relocations (by type), whether it is PIE, linked libraries.
    static func binaryFacts(_ binary: BinaryUnderTest, scratch: URL) throws -> [String: Any] {
        let stripped = scratch.appendingPathComponent("size-\(binary.label)")
        try tool("/usr/bin/strip", ["-o", stripped.path, binary.path.path])
        defer { try? FileManager.default.removeItem(at: stripped) }
        var byType: [String: Int] = [:]
        for line in try tool("/usr/bin/readelf", ["-rW", binary.runPath.path]).split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 3, parts[0].allSatisfy(\.isHexDigit), parts[2].hasPrefix("R_") {
                byType[String(parts[2]), default: 0] += 1
            }
        }
        let header = try tool("/usr/bin/readelf", ["-hW", binary.runPath.path])
        let needed = try tool("/usr/bin/readelf", ["-dW", binary.runPath.path]).split(separator: "\n")
            .filter { $0.contains("(NEEDED)") }.compactMap { $0.split(separator: "[").last?.dropLast() }.map(
                String.init
            )
        // Relative relocations packed as RELR (lld's -z pack-relative-relocs) are not listed one by one.
        let relr =
            try tool("/usr/bin/readelf", ["-SW", binary.runPath.path]).split(separator: "\n").first {
                $0.contains(".relr.dyn")
            }
            .flatMap { line in
                line.split(separator: " ").drop { !$0.hasPrefix(".relr") }.dropFirst(4).first.flatMap {
                    UInt64($0, radix: 16)
                }
            } ?? 0
        return [
            "binary": binary.path.path, "size_mib": fileSize(binary.path), "stripped_mib": fileSize(stripped),
            "pie": header.contains("DYN ("), "dynamic_relocations": byType.values.reduce(0, +), "relr_bytes": relr,
            "relocations_by_type": byType, "needed": needed,
        ]
    }

    /// Starts `binary run` with `NOTIFY_SOCKET` at a fake service manager; returns the process
    /// and the seconds from launch to READY=1.
    static func startNotified(_ binary: URL, config: String, socket: FakeNotifySocket) async throws -> (Process, Double)
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", "--config", config]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": socket.environmentValue]) {
            $1
        }
        process.standardOutput = FileHandle.nullDevice
        let start = ContinuousClock.now
        try process.run()
        let ready = await socket.wait(.seconds(30)) { $0.contains { $0.split(separator: "\n").contains("READY=1") } }
        guard ready, let at = socket.all.first(where: { $0.text.split(separator: "\n").contains("READY=1") })?.at else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw BenchError("\(binary.path) sent no READY=1 within 30 s")
        }
        return (process, seconds(at - start))
    }

    /// Start-up to READY=1 (median of `runs` starts, each on a fresh state directory, against an
    /// empty sandbox), then the idle RSS of the last one 3 s after READY=1, with its smaps.
    static func startupAndIdle(
        _ binary: BinaryUnderTest,
        runs: Int,
        resultsDirectory: URL
    ) async throws -> [String: Any] {
        let sandbox = try SandboxProcess.start(seed: 0)
        defer { sandbox.stop() }
        var times: [Double] = []
        var result: [String: Any] = [:]
        for index in 0..<runs {
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = try daemonConfig(
                in: directory,
                name: "idle",
                base: sandbox.baseURL,
                tables: """
                    [poll]
                    interval = "1h"
                    [state]
                    path = "idle.db"
                    [log]
                    level = "error"
                    """
            )
            let socket = try FakeNotifySocket(abstract: true)
            let (daemon, seconds) = try await startNotified(binary.runPath, config: config, socket: socket)
            times.append(seconds)
            if index == runs - 1 {
                try await Task.sleep(for: .seconds(3))
                result = ["rss_idle_mib": rss(daemon.processIdentifier)]
                    .merging(
                        memoryBreakdown(
                            daemon.processIdentifier,
                            binary: binary,
                            dump: resultsDirectory.appendingPathComponent("smaps-\(binary.label)-idle.txt")
                        )
                    ) { a, _ in a }
            }
            kill(daemon.processIdentifier, SIGTERM)
            daemon.waitUntilExit()
        }
        return result.merging(["startup_ready_s": percentile(times, 0.5), "startup_runs_s": times]) { a, _ in a }
    }

    /// Where a process's resident memory is: the smaps rollup, RSS by mapping, resident MiB by
    /// section of `binary` (from /proc/PID/pagemap; root only), and /proc/PID/smaps saved in `dump`.
    static func memoryBreakdown(_ pid: Int32, binary: BinaryUnderTest, dump: URL) -> [String: Any] {
        if let smaps = readProcFile("/proc/\(pid)/smaps") {
            try? smaps.write(to: dump, atomically: true, encoding: .utf8)
        }
        let rollup = smapsRollup(pid)
        var result: [String: Any] = [
            "smaps_rollup": rollup,
            "rss_by_mapping": rssByMapping(pid).prefix(12).map { ["mapping": $0.0, "mib": $0.1] },
        ]
        if let sections = residentSections(pid, binary: binary) {
            result["resident_by_section"] = sections.filter { $0.1 >= 0.05 }.map { ["section": $0.0, "mib": $0.1] }
        }
        if let libraries = residentTextByLibrary(pid, binary: binary) {
            result["resident_text_by_library"] = libraries.filter { $0.1 >= 0.05 }.map {
                ["library": $0.0, "mib": $0.1]
            }
        }
        return result
    }

    /// Resident MiB of each allocated section of the running `binary` in `pid`, largest first;
    /// the ICU data blob (`icudt*_dat`, found in the unstripped binary's symbols) counts apart
    /// from the rest of `.rodata`. `nil` when /proc/PID/pagemap cannot be read.
    static func residentSections(_ pid: Int32, binary: BinaryUnderTest) -> [(String, Double)]? {
        guard let bias = loadBias(pid, binary: binary),
            let sectionText = try? tool("/usr/bin/readelf", ["-SW", binary.runPath.path])
        else { return nil }
        // Allocated sections: [Nr] Name Type Address Off Size ES Flg ...
        var sections: [(name: String, start: UInt64, end: UInt64)] = []
        for line in sectionText.split(separator: "\n") {
            guard let close = line.firstIndex(of: "]"), line.contains("[") else { continue }
            let parts = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 7, let address = UInt64(parts[2], radix: 16), let size = UInt64(parts[4], radix: 16),
                address > 0, size > 0, parts[6].contains("A")
            else { continue }
            sections.append((String(parts[0]), address + bias, address + bias + size))
        }
        for symbol in symbols(of: binary) where symbol.name.contains("icudt") && symbol.size > 1_000_000 {
            sections.insert(
                ("ICU data (\(symbol.name))", symbol.address + bias, symbol.address + bias + symbol.size),
                at: 0
            )
        }
        var owner: [UInt64: String] = [:]  // page number → the first section claiming it
        for section in sections {
            for page in pages(section.start, section.end) where owner[page] == nil { owner[page] = section.name }
        }
        return residentMiB(pid, pages: owner)
    }

    /// Resident MiB of the binary's `.text` by the library its code comes from (our modules,
    /// Foundation, ICU, SwiftNIO, …), from the unstripped binary's function symbols: which code
    /// the daemon's resident text pages hold. `nil` when /proc/PID/pagemap cannot be read.
    static func residentTextByLibrary(_ pid: Int32, binary: BinaryUnderTest) -> [(String, Double)]? {
        guard let bias = loadBias(pid, binary: binary) else { return nil }
        var owner: [UInt64: String] = [:]  // page number → the library of the first function on it
        for symbol in symbols(of: binary).filter({ "tTwW".contains($0.kind) }).sorted(by: { $0.address < $1.address }) {
            for page in pages(symbol.address + bias, symbol.address + bias + max(symbol.size, 1))
            where owner[page] == nil {
                owner[page] = library(ofSymbol: symbol.name)
            }
        }
        return residentMiB(pid, pages: owner)
    }

    /// Which library a function symbol of the static binary belongs to, from its name.
    static func library(ofSymbol name: String) -> String {
        let ours: Set = [
            "WatchCore", "WatchDaemon", "WatchSinks", "WatchSystemd", "WatchPostgres", "PlivoCompliance", "CurlHTTP",
            "compliance_watch", "BuildInfo",
        ]
        if name.hasPrefix("$s") {
            let rest = name.dropFirst(2)
            let digits = rest.prefix { $0.isNumber }
            guard let length = Int(digits), length > 0 else { return "Swift standard library" }
            let module = String(rest.dropFirst(digits.count).prefix(length))
            if ours.contains(module) { return "compliance-watch" }
            if module.hasPrefix("NIO") || module.hasPrefix("_NIO") { return "SwiftNIO" }
            if module.hasPrefix("Foundation") || module == "_FoundationCollections" { return "Foundation (Swift)" }
            if module.hasPrefix("Crypto") || module.hasPrefix("_Crypto") { return "swift-crypto" }
            if module.hasPrefix("Swift") || module.hasPrefix("_") { return "Swift standard library" }
            return module
        }
        // ICU renames its C functions with its version (u_strlen_76) and its C++ namespace (icu_76).
        if name.contains("icu_")
            || (name.first == "u" && name.range(of: #"_[0-9]{2}$"#, options: .regularExpression) != nil)
        {
            return "ICU"
        }
        if name.hasPrefix("swift_") || name.hasPrefix("_swift") || name.hasPrefix("_ZN5swift")
            || name.hasPrefix("_ZNK5swift")
        {
            return "Swift runtime (C++)"
        }
        if name.contains("dispatch") { return "libdispatch" }
        if name.hasPrefix("CF") || name.hasPrefix("__CF") || name.hasPrefix("_CF") { return "CoreFoundation" }
        if name.contains("BoringSSL") || name.hasPrefix("CRYPTO_") { return "BoringSSL" }
        if name.hasPrefix("c_nio") || name.hasPrefix("CNIO") { return "SwiftNIO" }
        return "other C/C++"
    }

    /// The address the running `binary` was loaded at, less its link-time address: AT_ENTRY (9)
    /// in the auxiliary vector less the ELF header's entry point.
    static func loadBias(_ pid: Int32, binary: BinaryUnderTest) -> UInt64? {
        guard let headerText = try? tool("/usr/bin/readelf", ["-hW", binary.runPath.path]),
            let auxv = readProcData("/proc/\(pid)/auxv")
        else { return nil }
        let words = auxv.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        var entry: UInt64 = 0
        for index in stride(from: 0, to: words.count - 1, by: 2) where words[index] == 9 { entry = words[index + 1] }
        guard let entryLine = headerText.split(separator: "\n").first(where: { $0.contains("Entry point address:") }),
            let declared = UInt64(entryLine.split(separator: " ").last?.dropFirst(2) ?? "", radix: 16),
            entry >= declared
        else { return nil }
        return entry - declared
    }

    /// The unstripped binary's defined symbols with a size: name, address, size, `nm` kind letter.
    static func symbols(of binary: BinaryUnderTest) -> [(name: String, address: UInt64, size: UInt64, kind: Character)]
    {
        guard let text = try? tool("/usr/bin/nm", ["-S", "--defined-only", binary.path.path]) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 4, let address = UInt64(parts[0], radix: 16), let size = UInt64(parts[1], radix: 16),
                let kind = parts[2].first
            else { return nil }
            return (String(parts[3]), address, size, kind)
        }
    }

    static let pageSize: UInt64 = 4096

    /// The page numbers that [start, end) touches.
    static func pages(_ start: UInt64, _ end: UInt64) -> StrideThrough<UInt64> {
        stride(from: start / pageSize, through: (end - 1) / pageSize, by: 1)
    }

    /// Resident MiB by owner, largest first, of the pages in `owner` (page number → owner), from
    /// /proc/PID/pagemap (bit 63: present); `nil` when it cannot be read.
    static func residentMiB(_ pid: Int32, pages owner: [UInt64: String]) -> [(String, Double)]? {
        guard let pagemap = FileHandle(forReadingAtPath: "/proc/\(pid)/pagemap") else { return nil }
        defer { try? pagemap.close() }
        var resident: [String: Double] = [:]
        for page in owner.keys.sorted() {
            guard (try? pagemap.seek(toOffset: page * 8)) != nil, let data = try? pagemap.read(upToCount: 8),
                data.count == 8
            else { continue }
            let word = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if word & (1 << 63) != 0 { resident[owner[page]!, default: 0] += Double(pageSize) / 1_048_576 }
        }
        return resident.sorted { $0.value > $1.value }
    }

    /// The naive baseline: `scripts/naive-sdk-poller.py` (Plivo's Python SDK, list every page every
    /// interval, statuses in a dict) over `n` applications, RSS sampled as for the daemon.
    static func naiveSteadyRun(
        n: Int,
        changeableShare: Double,
        duration: Duration,
        warmup: Duration,
        python: String,
        script: String
    ) async throws -> [String: Any] {
        let (sandbox, transport) = try await seededSandbox(n: n, changeableShare: changeableShare)
        defer { sandbox.stop() }
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("naive.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            script, "--base-url", sandbox.baseURL, "--auth-id", authId,
            "--auth-token-file", directory.appendingPathComponent("token").path, "--interval", "1",
        ]
        process.standardOutput = try FileHandle(forWritingTo: output)
        try process.run()
        defer {
            // A child of the bench starts with SIGTERM blocked (the bench's threads block it), so
            // the poller unblocks it itself; SIGKILL in case it could not.
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<20 where process.isRunning { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        func lines(_ prefix: String) -> [Substring] {
            String(decoding: FileManager.default.contents(atPath: output.path) ?? Data(), as: UTF8.self).split(
                separator: "\n"
            ).filter { $0.hasPrefix(prefix) }
        }
        let deadline = ContinuousClock.now + .seconds(300)
        while lines("BASELINE").isEmpty {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw BenchError("naive SDK poller: no first listing (\(lines("").suffix(3)))")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        try await Task.sleep(for: warmup)
        let (cpuStart, cyclesStart) = (ProcStat.cpuSeconds(of: process.processIdentifier), lines("CYCLE").count)
        let samples = try await sampleRSS(
            process.processIdentifier,
            duration: duration,
            base: sandbox.baseURL,
            transport: transport
        )
        let cpu = ProcStat.cpuSeconds(of: process.processIdentifier) - cpuStart
        let cycleTimes = lines("CYCLE").compactMap { $0.split(separator: "=").last.flatMap { Double($0) } }
        return rssSummary(
            samples,
            n: n,
            duration: duration,
            cycles: Double(lines("CYCLE").count - cyclesStart),
            cpu: cpu,
            pid: process.processIdentifier
        )
        .merging([
            "changes_printed": lines("CHANGE").count, "cycle_wall_s_p50": percentile(cycleTimes, 0.5),
            "baseline": String(lines("BASELINE").first ?? ""),
        ]) { a, _ in a }
    }

    /// The whole scenario; records one `binary` result per binary and one `naive_sdk_poller`.
    @MainActor
    static func binariesScenario(
        n: Int,
        minutes: Double,
        resultsDirectory: URL,
        quick: Bool,
        record: @MainActor (String, [String: Any], String) -> Void,
        target: @MainActor (String, String, Bool) -> Void
    ) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cw-bench-binaries-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: resultsDirectory, withIntermediateDirectories: true)
        let duration = Duration.seconds(minutes * 60), warmup = Duration.seconds(20)
        var steadyByLabel: [String: Double] = [:]
        for binary in try binariesUnderTest(in: scratch) {
            let facts = try binaryFacts(binary, scratch: scratch)
            let idle = try await startupAndIdle(binary, runs: quick ? 3 : 5, resultsDirectory: resultsDirectory)
            let steady = try await steadyRun(
                n: n,
                changeableShare: 0.025,
                duration: duration,
                warmup: warmup,
                binary: binary.runPath
            ) { pid in
                [
                    "steady_breakdown": memoryBreakdown(
                        pid,
                        binary: binary,
                        dump: resultsDirectory.appendingPathComponent("smaps-\(binary.label)-steady.txt")
                    )
                ]
            }
            let mean = steady["rss_mean_mib"] as! Double
            steadyByLabel[binary.label] = mean
            let values: [String: Any] = ["label": binary.label, "run": binary.runPath.lastPathComponent].merging(facts)
            { a, _ in a }
            .merging(idle) { a, _ in a }.merging(["steady": steady]) { a, _ in a }
            record(
                "binary",
                values,
                String(
                    format:
                        "%-8@ %7.1f MiB (stripped %5.1f MiB, %@, %6d RELA relocs, RELR %3.0f KiB): READY=1 after %4.0f ms; RSS idle %5.1f MiB; N=%d steady %g min: RSS mean %5.1f MiB (max %.1f, slope %+.3f MiB/min)",
                    binary.label as NSString,
                    facts["size_mib"] as! Double,
                    facts["stripped_mib"] as! Double,
                    (facts["pie"] as! Bool ? "PIE" : "non-PIE") as NSString,
                    facts["dynamic_relocations"] as! Int,
                    Double(facts["relr_bytes"] as! UInt64) / 1024,
                    (idle["startup_ready_s"] as! Double) * 1000,
                    idle["rss_idle_mib"] as! Double,
                    n,
                    minutes,
                    mean,
                    steady["rss_max_mib"] as! Double,
                    steady["rss_slope_mib_per_min"] as! Double
                )
            )
        }
        let python = ProcessInfo.processInfo.environment["BENCH_PYTHON"] ?? ".build/bench-venv/bin/python"
        let script = ProcessInfo.processInfo.environment["BENCH_NAIVE_SCRIPT"] ?? "scripts/naive-sdk-poller.py"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            record(
                "naive_sdk_poller",
                ["unavailable": "no \(python) (make bench makes the venv)"],
                "naive SDK poller: skipped, no \(python)"
            )
            return
        }
        let naive = try await naiveSteadyRun(
            n: n,
            changeableShare: 0.025,
            duration: duration,
            warmup: warmup,
            python: python,
            script: script
        )
        let naiveMean = naive["rss_mean_mib"] as! Double
        record(
            "naive_sdk_poller",
            naive,
            String(
                format:
                    "naive SDK poller (Python, plivo SDK), N=%d, %g min: RSS mean %.1f MiB (max %.1f, slope %+.3f MiB/min); %.0f listings of every page, %.2f s each (p50), %.1f ms CPU each",
                n,
                minutes,
                naiveMean,
                naive["rss_max_mib"] as! Double,
                naive["rss_slope_mib_per_min"] as! Double,
                naive["cycles"] as! Double,
                naive["cycle_wall_s_p50"] as! Double,
                naive["daemon_cpu_ms_per_cycle"] as! Double
            )
        )
        if let staticMean = steadyByLabel["static"] {
            target(
                "static steady RSS ≤ naive SDK poller's",
                String(format: "%.1f vs %.1f MiB", staticMean, naiveMean),
                staticMean <= naiveMean
            )
        }
    }
}
