import Foundation
import PackagePlugin

/// Writes `Version.swift` for the target that uses it, before every build, from the `VERSION` file
/// and the git commit (`scripts/version-stamp.sh`). The script rewrites the file only when its
/// text changes, so an unchanged version recompiles nothing.
@main
struct VersionStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let package = context.package.directoryURL
        // `CW_VERSION` overrides the file for one build (the package test builds an older version).
        var environment: [String: String] = [:]
        if let version = ProcessInfo.processInfo.environment["CW_VERSION"] {
            environment["CW_VERSION"] = version
        }
        return [
            .prebuildCommand(
                displayName: "Stamping the compliance-watch version",
                executable: URL(filePath: "/bin/sh"),
                arguments: [
                    package.appending(path: "scripts/version-stamp.sh").path(),
                    package.path(),
                    output.appending(path: "Version.swift").path(),
                ],
                environment: environment,
                outputFilesDirectory: output
            )
        ]
    }
}
