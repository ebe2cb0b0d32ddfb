/// What this binary is: one version, from the `VERSION` file (or `CW_VERSION` at build time),
/// used by `--version`, the `User-Agent`, the `build_info` metric and the Debian package.
public enum BuildInfo {
    /// The release version, for example `0.2.0`.
    public static let version = stampedVersion
    /// The git commit the binary was built from (12 hex digits, `-dirty` with local changes), or
    /// `unknown` when built outside a git checkout.
    public static let commit = stampedCommit
}
