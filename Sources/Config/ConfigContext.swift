import CloudcCore
import Yams

/// What every part of the config reader needs: the file's name for messages, the
/// environment for `${VAR}`, the home directory for `~`.
struct ConfigContext: Sendable {
    let file: String
    let environment: [String: String]
    let homeDirectory: String

    /// A config error that points at a place: `FILE:LINE:COLUMN: KEY.PATH: what`.
    func error(at mark: Mark?, _ path: KeyPath, _ what: String, fix: String) -> CloudcError {
        CloudcError(.config, "\(location(mark)): \(path): \(what)", fix: fix)
    }

    /// `FILE:LINE:COLUMN`; a value with no position (never in practice) points at the file's start.
    func location(_ mark: Mark?) -> String {
        location(mark.map { Position(line: $0.line, column: $0.column) })
    }

    func location(_ position: Position?) -> String {
        "\(file):\(position?.line ?? 1):\(position?.column ?? 1)"
    }

    /// `~` and `~/…` become the home directory; other paths are left as written.
    /// Returns nil for `~user/…`, which cloudc does not resolve.
    func expandingTilde(_ path: String) -> String? {
        HomePath.isOtherUsers(path) ? nil : HomePath.expand(path, home: homeDirectory)
    }
}

/// A line and column, both counted from 1 (Yams's `Mark` cannot be made outside Yams).
struct Position: Sendable, Equatable {
    var line: Int
    var column: Int
}
