internal import CSystemd
import Foundation
import Logging
import WatchCore

/// Logs to journald through `sd_journal_sendv`: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, and
/// each metadata key as a field (`cw.application.id` → `CW_APPLICATION_ID`), so
/// `journalctl CW_APPLICATION_ID=…` finds an application's history.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let identifier: String

    /// A handler that tags every entry with `SYSLOG_IDENTIFIER=identifier`.
    public init(identifier: String) { self.identifier = identifier }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)", "PRIORITY=\(Self.priority(event.level))", "SYSLOG_IDENTIFIER=\(identifier)",
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        // sd_journal_sendv copies the iovecs' bytes; keep them alive for the call.
        var buffers = fields.map { Array($0.utf8) }
        var vectors = [iovec]()
        for index in buffers.indices {
            buffers[index].withUnsafeMutableBytes { raw in
                vectors.append(iovec(iov_base: raw.baseAddress, iov_len: raw.count))
            }
        }
        withExtendedLifetime(buffers) {
            _ = sd_journal_sendv(vectors, Int32(vectors.count))
        }
    }

    /// swift-log levels to syslog priorities.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Journal field names are uppercase letters, digits and `_`, not starting with `_`.
    public static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        if !name.hasPrefix("CW_") { name = "CW_" + name }
        return name
    }
}

/// Logs one line per event to stderr: with a `<N>` priority prefix under a service manager
/// (journald reads it as PRIORITY), plain with a timestamp on a terminal.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let prefixPriority: Bool

    /// A handler; with `prefixPriority` each line starts `<N>` for the journal's stdout stream.
    public init(prefixPriority: Bool) { self.prefixPriority = prefixPriority }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = pairs.isEmpty ? "\(event.message)" : "\(event.message) \(pairs)"
        let line: String
        if prefixPriority {
            line = "<\(JournalLogHandler.priority(event.level))>\(event.level): \(text)\n"
        } else {
            line = "\(EventTimeFormat.now()) \(event.level): \(text)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}

enum EventTimeFormat {
    static func now() -> String {
        TextFormat.rfc3339(Date())
    }
}

/// Which log backend to use.
public enum LogFormat: String, Sendable, CaseIterable {
    case auto, journal, text

    /// `auto`: the journal when stderr is the journal stream systemd gave us (JOURNAL_STREAM
    /// matches stderr's device and inode), else text.
    public func resolved(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat {
        guard self == .auto else { return self }
        if let stream = environment["JOURNAL_STREAM"] {
            var info = stat()
            if fstat(2, &info) == 0, stream == "\(info.st_dev):\(info.st_ino)" { return .journal }
        }
        return .text
    }
}
