import ArgumentParser
import CurlHTTP
import Foundation
import WatchCore
import WatchSinks

extension ComplianceWatchCommand {
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print a summary with secrets redacted.",
            discussion: "Exits 0 when valid, 78 (EX_CONFIG) with every problem listed when not."
        )

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let c = try options.loadConfiguration()
            print("configuration \(c.sourcePath) is valid")
            for account in c.accounts {
                let table = c.accounts.count > 1 ? "[account \(account.name)]" : "[plivo]"
                print("\(table) auth_id = \(account.authId)")
                print("\(table) auth token = <redacted> (from \(account.authTokenSource))")
                print("\(table) base_url = \(account.baseURL)")
                print(
                    "\(table) max_requests_per_second = \(account.maxRequestsPerSecond), concurrency = \(account.concurrency)"
                )
                if account.maxRequestsPerSecond > 60 {
                    print(
                        "warning: \(table) max_requests_per_second above 60 exceeds Plivo's limit of 300 requests per 5 s; expect 429s"
                    )
                }
            }
            let d = DaemonConfiguration.formatDuration
            print(
                "[poll] interval = \(d(c.poll.interval)), settled_interval = \(d(c.poll.settledInterval)), jitter = \(c.poll.jitter), announce_existing = \(c.poll.announceExisting)"
            )
            if let url = c.state.url {
                // The URL holds no password (the loader refuses one); say where it comes from.
                let password =
                    c.state.password != nil
                    ? "<redacted> (from password_file or password_credential)"
                    : "from PGPASSFILE or ~/.pgpass, if it has a line for this server"
                print("[state] url = \(url); password \(password)")
                print(
                    "[ha] lease = \(d(c.ha.lease)): one instance leads; the others stand by (README, \"Running two instances\")"
                )
            } else {
                print("[state] path = \(c.state.path)")
            }
            print(
                "[delivery] max_attempts = \(c.delivery.maxAttempts.map(String.init) ?? "unlimited"), max_age = \(d(c.delivery.maxAge)), concurrency = \(c.delivery.concurrency)"
            )
            for configured in c.sinks {
                var filter: [String] = []
                if !configured.filter.types.isEmpty {
                    filter.append("types \(configured.filter.types.map(\.rawValue).joined(separator: ","))")
                }
                if !configured.filter.from.isEmpty {
                    filter.append("from \(configured.filter.from.map(\.rawValue).joined(separator: ","))")
                }
                if !configured.filter.to.isEmpty {
                    filter.append("to \(configured.filter.to.map(\.rawValue).joined(separator: ","))")
                }
                if !configured.filter.accounts.isEmpty {
                    filter.append("accounts \(configured.filter.accounts.joined(separator: ","))")
                }
                var target = ""
                if let webhook = configured.settings as? WebhookSink.Configuration {
                    target = "; url = \(HTTPTransportError.redact(webhook.url))"
                    if webhook.secretCount == 0, webhook.format == .json {
                        print(
                            "warning: sink \(configured.name) has no secret: its requests are unsigned and receivers cannot verify them"
                        )
                    }
                }
                print(
                    "[sink \(configured.name)] type = \(configured.kind.rawValue)\(target)\(filter.isEmpty ? "" : "; filter: " + filter.joined(separator: "; "))"
                )
            }
            if let warning = Self.exposedURLWarning(c) { print(warning) }
            for warning in Self.sendmailWarnings(c) { print(warning) }
        }

        /// Under `NoNewPrivileges=` (the shipped unit) a queueing MTA's sendmail cannot queue:
        /// nullmailer's and exim's setuid and postfix's setgid helper lose their privileges, and
        /// `/var/spool` is read-only. msmtp talks SMTP itself and works.
        static func sendmailWarnings(
            _ c: DaemonConfiguration,
            status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        ) -> [String] {
            guard let status,
                status.split(separator: "\n").contains(where: { $0.hasPrefix("NoNewPrivs:") && $0.hasSuffix("1") })
            else { return [] }
            return c.sinks.compactMap { sink in
                guard let mail = sink.settings as? MailSink.Configuration, case .command(let argv, _) = mail.transport
                else { return nil }
                let program = URL(fileURLWithPath: argv[0]).resolvingSymlinksInPath().lastPathComponent
                guard !program.contains("msmtp") else { return nil }
                return
                    "warning: sink \(sink.name) runs \(argv[0]), but this process has no_new_privs set (NoNewPrivileges=): "
                    + "a queueing MTA's sendmail (nullmailer, postfix, exim) cannot queue under it. Use transport = \"smtp\" with "
                    + "url = \"smtp://localhost:25\" and starttls = \"none\", or msmtp as the command (README, \"Mail\")"
            }
        }

        /// A webhook URL with a path is a bearer secret for chat platforms; in a file others can
        /// read it leaks. `url_file` or `url_credential` keep it out.
        static func exposedURLWarning(_ c: DaemonConfiguration) -> String? {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: c.sourcePath),
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o004 != 0
            else { return nil }
            let exposed = c.sinks.filter { sink in
                guard let webhook = sink.settings as? WebhookSink.Configuration, webhook.urlSource == .inline,
                    let path = URLComponents(string: webhook.url)?.path
                else { return false }
                return !(path.isEmpty || path == "/")
            }
            guard !exposed.isEmpty else { return nil }
            return
                "warning: \(c.sourcePath) is readable by other users (mode \(String(mode & 0o777, radix: 8))) and holds the webhook URL of "
                + exposed.map { "sink \($0.name)" }.joined(separator: ", ")
                + "; a chat webhook URL is a bearer secret: use url_file or url_credential, or chmod o-r the file"
        }
    }
}
