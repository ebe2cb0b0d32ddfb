import Foundation

/// Resolves secrets in the documented order: the `*_file` key, then the systemd credential,
/// then an environment variable. Values are trimmed of a trailing newline.
public struct SecretReader: Sendable {
    /// Supplies `CREDENTIALS_DIRECTORY` and the variables.
    public var environment: [String: String]

    /// A reader over `environment`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// A secret and where it came from (never the value itself).
    public struct Secret: Sendable {
        /// The secret.
        public var value: String
        /// Where it came from, for messages (a path, a credential or a variable name).
        public var source: String
    }

    func read(
        fileKey: String,
        in table: ConfigReader,
        credential: String?,
        environmentVariable: String?,
        what: String,
        required: Bool = true
    ) -> Secret? {
        let file = table.path(fileKey)
        switch read(file: file, credential: credential, environmentVariable: environmentVariable) {
        case .success(let secret?):
            return secret
        case .success(nil):
            if required {
                let options = [
                    file.map { "\(table.keyPath(fileKey)) (\($0))" } ?? table.keyPath(fileKey),
                    credential.map { "$CREDENTIALS_DIRECTORY/\($0)" }, environmentVariable.map { "$\($0)" },
                ]
                var message = "missing \(what): set one of \(options.compactMap { $0 }.joined(separator: ", "))"
                // Under systemd the usual cause is a credential the unit did not pass: say which.
                if let credential, file == nil {
                    if let directory = environment["CREDENTIALS_DIRECTORY"] {
                        message +=
                            "; the credential \(credential) is not in $CREDENTIALS_DIRECTORY (\(directory)): check"
                            + " LoadCredentialEncrypted=\(credential) (or LoadCredential=\(credential):…) in the unit"
                    } else if environment["INVOCATION_ID"] != nil {
                        message +=
                            "; systemd passed no credentials: check LoadCredentialEncrypted=\(credential)"
                            + " (or LoadCredential=\(credential):…) in the unit"
                    }
                }
                table.problem(fileKey, message)
            }
            return nil
        case .failure(let message):
            table.problem(fileKey, message.message)
            return nil
        }
    }

    /// Reads a secret; `.success(nil)` when no source has it, `.failure` when a named file is unusable.
    public func read(file: String?, credential: String?, environmentVariable: String?) -> Result<Secret?, SecretError> {
        if let file {
            if let message = Self.looseModeProblem(file) { return .failure(SecretError(message: message)) }
            do {
                let value = try TextFile.contents(of: file).trimmingCharacters(in: .newlines)
                guard !value.isEmpty else { return .failure(SecretError(message: "\(file) is empty")) }
                return .success(Secret(value: value, source: file))
            } catch {
                return .failure(SecretError(message: "cannot read \(file): \(error.reason)"))
            }
        }
        if let credential, let directory = environment["CREDENTIALS_DIRECTORY"] {
            let path = directory + "/" + credential
            if let value = try? TextFile.contents(of: path).trimmingCharacters(in: .newlines), !value.isEmpty {
                return .success(Secret(value: value, source: "credential \(credential)"))
            }
        }
        if let environmentVariable, let value = environment[environmentVariable], !value.isEmpty {
            return .success(Secret(value: value, source: "$\(environmentVariable)"))
        }
        return .success(nil)
    }

    /// Why a secret file that group or others may access is refused, or `nil`. As OpenSSH does with
    /// private keys and libpq with `.pgpass`: whoever can read the token acts as the account, and
    /// whoever can read a sealing seed can forge the audit trail. Credentials are exempt: systemd
    /// makes `$CREDENTIALS_DIRECTORY` readable by the service alone.
    static func looseModeProblem(_ file: String) -> String? {
        var info = stat()
        guard stat(file, &info) == 0 else { return nil }  // reading it reports why
        let mode = info.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        let octal = "0" + String(mode, radix: 8)
        return
            "\(file) is accessible by group or others (mode \(octal)); secret files must be private: chmod 600 \(file)"
    }

    /// A named secret file that cannot be used.
    public struct SecretError: Error, Sendable {
        /// Why, naming the file.
        public var message: String
    }
}
