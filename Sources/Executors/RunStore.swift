import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The run records under `$CLOUDC_HOME/runs/<cluster>/`: one `<id>.json` per submission
/// (mode 0600, in 0700 folders, replaced atomically), and beside them the run directories of
/// the local executor (`<id>/`).
public struct RunStore: Sendable {
    public let home: String

    /// `home`: `$CLOUDC_HOME`.
    public init(home: String) {
        self.home = home
    }

    public var directory: String { home + "/runs" }
    public func directory(cluster: String) -> String { "\(directory)/\(cluster)" }
    public func path(cluster: String, id: String) -> String { "\(directory(cluster: cluster))/\(id).json" }

    /// Where the local executor keeps the run directory of `id`.
    public func localRunDirectory(cluster: String, id: String) -> String {
        "\(directory(cluster: cluster))/\(id)"
    }

    // MARK: ids

    /// `r20261122-041502-3fa9`: the UTC date and time, then 4 random hex digits. Ids sort by time.
    public static func newID(now: Date) -> String {
        var seconds = time_t(now.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        let time = "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))"
        return "r\(date)-\(time)-\(Hex.random(bytes: 2))"
    }

    /// Cluster names and ids become paths: no separators, no dot files.
    static func validate(_ component: String, what: String) throws {
        guard !component.isEmpty, !component.hasPrefix("."), !component.contains("/"), !component.contains("\0"),
              component.utf8.count <= 200 else {
            throw CloudcError(.usage, "'\(component)' is not a valid \(what)",
                              fix: "a \(what) has no '/' and does not start with '.'")
        }
    }

    // MARK: writing

    /// Writes the record atomically: a crash leaves the old file or the new one.
    public func save(_ run: RunRecord) throws {
        try Self.validate(run.cluster, what: "cluster name")
        try Self.validate(run.id, what: "run id")
        let folder = directory(cluster: run.cluster)
        try Self.makeDirectories([home, directory, folder])
        let data: Data
        do {
            data = try Self.encoder().encode(run)
        } catch {
            throw CloudcError(.internalError, "cannot encode run \(run.id)", cause: "\(error)")
        }
        try AtomicFile.write(data + Data("\n".utf8), to: path(cluster: run.cluster, id: run.id), mode: 0o600)
    }

    /// Removes every record of `cluster` and the local executor's run directories beside them
    /// (after the cluster is gone). Local tasks still running are not stopped: cancel them first.
    public func removeAll(cluster: String) throws {
        try Self.validate(cluster, what: "cluster name")
        let folder = directory(cluster: cluster)
        guard FileManager.default.fileExists(atPath: folder) else { return }
        do {
            try FileManager.default.removeItem(atPath: folder)
        } catch {
            throw CloudcError(.io, "cannot remove the runs of \(cluster) in \(folder)",
                              fix: "check the folder's permissions, or remove it by hand", cause: "\(error)")
        }
    }

    static func makeDirectories(_ folders: [String]) throws {
        for folder in folders {
            var info = stat()
            if stat(folder, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw CloudcError(.io, "\(folder) exists but is not a directory",
                                      fix: "move it aside, or set CLOUDC_HOME to another directory")
                }
                continue
            }
            if mkdir(folder, 0o700) != 0 && errno != EEXIST {
                throw CloudcError(.io, "cannot create the directory \(folder)",
                                  fix: "check that its parent is writable, or set CLOUDC_HOME",
                                  cause: String(cString: strerror(errno)))
            }
        }
    }

    // MARK: reading

    /// The record of `id`, or nil when there is none.
    public func load(cluster: String, id: String) throws -> RunRecord? {
        try Self.validate(cluster, what: "cluster name")
        try Self.validate(id, what: "run id")
        let file = path(cluster: cluster, id: id)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        return try Self.decode(file)
    }

    /// Every record of `cluster`, oldest first.
    public func list(cluster: String) throws -> [RunRecord] {
        try Self.validate(cluster, what: "cluster name")
        let folder = directory(cluster: cluster)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        let runs = try entries.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { try Self.decode("\(folder)/\($0)") }
        return runs.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// The newest record of `cluster`.
    public func latest(cluster: String) throws -> RunRecord? {
        try list(cluster: cluster).last
    }

    /// The run a user named: its whole id, or a prefix of exactly one id (the leading `r` may
    /// be left out: `20261122-04` finds `r20261122-041502-3fa9`).
    public func resolve(cluster: String, _ text: String) throws -> RunRecord {
        let runs = try list(cluster: cluster)
        if let exact = runs.first(where: { $0.id == text }) { return exact }
        let matches = text.isEmpty ? [] : runs.filter { $0.id.hasPrefix(text) || $0.id.hasPrefix("r" + text) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty {
            let recent = runs.suffix(5).map(\.id)
            throw CloudcError(.notFound, "cluster \(cluster) has no run '\(text)'",
                              fix: recent.isEmpty ? "submit one with 'cloudc submit -- COMMAND'"
                                                  : "use one of its runs (latest last): \(recent.joined(separator: ", ")); 'cloudc jobs' lists them all")
        }
        let shown = matches.suffix(10).map(\.id)
        let more = matches.count > shown.count ? " and \(matches.count - shown.count) more" : ""
        throw CloudcError(.usage, "'\(text)' matches \(matches.count) runs of cluster \(cluster): \(shown.joined(separator: ", "))\(more)",
                          fix: "give more of the id")
    }

    // MARK: JSON

    /// ISO 8601 with milliseconds, so runs made within one second still sort by time.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            var container = encoder.singleValueContainer()
            try container.encode(formatter.string(from: date))
        }
        return encoder
    }

    /// Reads ISO 8601 dates with or without fractional seconds.
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions = [.withInternetDateTime]
            if let date = formatter.date(from: text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 date")
        }
        return decoder
    }

    static func decode(_ file: String) throws -> RunRecord {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CloudcError(.io, "cannot read the run record \(file)", fix: "check its permissions (it should be yours, mode 0600)")
        }
        do {
            return try decoder().decode(RunRecord.self, from: data)
        } catch {
            throw CloudcError(.state, "the run record \(file) is corrupt",
                              fix: "move it aside (the run's outputs are not affected)", cause: "\(error)")
        }
    }
}
