import CloudcCore
import Foundation
@testable import Config

/// Helpers for the config tests: parse text as if it were a file, catch the error.
enum Fixtures {
    static let path = "/tmp/cloudc-test/config.yaml"
    static let home = "/home/alice"

    /// The repository's config.example.yaml, found from this file's place.
    static var examplePath: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()   // ConfigTests
            .deletingLastPathComponent()   // Tests
            .deletingLastPathComponent()   // repository root
            .appendingPathComponent("config.example.yaml").path
    }

    static func parse(_ yaml: String, environment: [String: String] = [:]) throws -> CloudcConfig {
        try ConfigLoader.parse(yaml: yaml, path: path, environment: environment, homeDirectory: home)
    }

    /// Lines of YAML, each ending in a newline (columns are easy to count this way).
    static func lines(_ lines: String...) -> String {
        lines.map { $0 + "\n" }.joined()
    }

    /// The error parsing `yaml` throws, or nil if it parses.
    static func error(_ yaml: String, environment: [String: String] = [:]) -> CloudcError? {
        do {
            _ = try parse(yaml, environment: environment)
            return nil
        } catch let error as CloudcError {
            return error
        } catch {
            return CloudcError(.internalError, "not a CloudcError: \(error)")
        }
    }

    /// Clouds and a login that cluster tests build on: lines 1–8.
    static let preamble = """
        clouds:
          gce:
            provider: gce
            zone: us-central1-a
        logins:
          default:
            user: debian
            private_key: ~/.ssh/id_ed25519

        """

    /// `preamble` plus one gce cluster whose `groups:` is at line 13 and whose
    /// group entries start at line 14 (indented six spaces).
    static func cluster(groups: String) -> String {
        preamble + """
            clusters:
              gce:
                cloud: gce
                image: debian-12
                groups:

            """ + groups
    }
}

extension CloudcError {
    /// Everything a user could see of the error.
    var fullText: String { [message, fix ?? "", cause ?? ""].joined(separator: "\n") }
}
