import ArgumentParser
import Foundation
import PlivoCompliance
import WatchCore
import WatchSinks

extension ComplianceWatchCommand.Audit {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the approvals and rejections in a time window, from audit files that verify.",
            discussion: """
                Verifies the files first (as audit verify; with --config also against the recorded head) and refuses \
                to report from a chain that does not verify, unless --unverified is given, in which case the output \
                says so. Rows are the events whose application reached one of --status (status changes, and \
                applications first seen in that status), detected in [--from, --to). A date alone means midnight UTC. \
                Exits 0, 1 when the files do not verify (without --unverified), 2 when a file cannot be read.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, csv, json }

        @Argument(help: "Audit files, oldest first.") var files: [String]
        @Option(help: "Start of the window, inclusive: 2026-11-01 or 2026-11-01T08:00:00Z.") var from: String
        @Option(help: "End of the window, exclusive.") var to: String
        @Option(help: "Statuses to report, comma-separated.") var status = "accepted,rejected"
        @Option(help: "text, csv or json.") var format: Format = .text
        @Option(name: .shortAndLong, help: "A configuration file whose state database holds the chain's head.")
        var config: String?
        @Flag(help: "Report even when the files do not verify (the output says so).") var unverified = false

        /// `2026-11-01` (midnight UTC) or an RFC 3339 time.
        static func parseDate(_ text: String) -> Date? {
            let full = ISO8601DateFormatter()
            full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let plain = ISO8601DateFormatter()
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            return full.date(from: text) ?? plain.date(from: text) ?? day.date(from: text)
        }

        func validate() throws {
            guard let start = Self.parseDate(from) else {
                throw ValidationError("--from: '\(from)' is not a date (2026-11-01) or time")
            }
            guard let end = Self.parseDate(to) else {
                throw ValidationError("--to: '\(to)' is not a date (2026-11-01) or time")
            }
            guard start < end else { throw ValidationError("--from must be before --to") }
        }

        struct Row: Encodable {
            var seq: Int
            var eventId: String
            var detectedAt: String
            var applicationId: String
            var alias: String?
            var countryIso2: String?
            var numberType: String?
            var endUserType: String?
            var from: String?
            var to: String
            var rejectionReason: String?

            var cells: [String] {
                [
                    applicationId, alias ?? "", countryIso2 ?? "", numberType ?? "", endUserType ?? "", from ?? "", to,
                    rejectionReason ?? "", detectedAt, eventId, String(seq),
                ]
            }
            static let header = [
                "application_id", "alias", "country_iso2", "number_type", "end_user_type", "from", "to",
                "rejection_reason", "detected_at", "event_id", "seq",
            ]
        }

        func run() async throws {
            let inputs = try ComplianceWatchCommand.Audit.read(files)
            let head =
                try config.map { try ComplianceWatchCommand.Audit.recordedHead(config: $0, files: files).head } ?? nil
            let verdict = AuditChain.verify(files: inputs, head: head)
            if !verdict.isIntact, !unverified {
                printError(
                    "refusing to report from files that do not verify (--unverified to report anyway): \(verdict)"
                )
                throw ExitCode(1)
            }
            let start = Self.parseDate(from)!, end = Self.parseDate(to)!
            let wanted = Set(
                status.split(separator: ",").map { ApplicationStatus($0.trimmingCharacters(in: .whitespaces)) }
            )
            var rows: [Row] = []
            for (_, data) in inputs {
                for line in data.split(separator: 0x0A) {
                    guard let (seq, event) = AuditChain.decode(line: line) else { continue }
                    guard event.type == .statusChanged || event.type == .created,
                        wanted.contains(event.toStatus),
                        let detected = Self.parseDate(event.data.detectedAt), detected >= start, detected < end
                    else { continue }
                    let application = event.data.application
                    rows.append(
                        Row(
                            seq: seq,
                            eventId: event.id,
                            detectedAt: event.data.detectedAt,
                            applicationId: application.complianceApplicationId,
                            alias: application.alias,
                            countryIso2: application.countryISO2,
                            numberType: application.numberType,
                            endUserType: application.endUserType,
                            from: event.fromStatus?.rawValue,
                            to: event.toStatus.rawValue,
                            rejectionReason: application.rejectionReason
                        )
                    )
                }
            }
            let note = verdict.isIntact ? nil : "UNVERIFIED: \(verdict)"
            switch format {
            case .text:
                if let note { print(note) }
                print(
                    "\(rows.count) decision\(rows.count == 1 ? "" : "s") from \(from) to \(to) (\(status)); \(verdict.isIntact ? "files verified" : "files NOT verified")"
                )
                for row in rows {
                    let reason = row.rejectionReason.map { ": \($0)" } ?? ""
                    let scope = [row.countryIso2, row.numberType, row.endUserType].compactMap { $0 }.joined(
                        separator: " · "
                    )
                    print(
                        "\(row.detectedAt)  \(row.alias ?? row.applicationId)  \(row.from.map { "\($0) → " } ?? "")\(row.to)\(reason)  [\(scope)]  \(row.eventId) seq \(row.seq)"
                    )
                }
            case .csv:
                if let note { print("# " + note) }
                print(Row.header.joined(separator: ","))
                for row in rows { print(row.cells.map(Self.csvField).joined(separator: ",")) }
            case .json:
                struct Report: Encodable {
                    var verified: Bool
                    var verdict: String
                    var rows: [Row]
                }
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                let data = try encoder.encode(
                    Report(verified: verdict.isIntact, verdict: verdict.description, rows: rows)
                )
                print(String(decoding: data, as: UTF8.self))
            }
        }

        /// RFC 4180: quoted when it holds a comma, quote or line break; a leading = + - @ is
        /// prefixed with ' so a spreadsheet never runs a value from the API as a formula.
        static func csvField(_ value: String) -> String {
            var text = value
            if let first = text.first, "=+-@".contains(first) { text = "'" + text }
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }
}
