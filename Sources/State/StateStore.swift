import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The cluster state files under `$CLOUDC_HOME/clusters/`.
///
/// Each cluster is one JSON file, `<name>.json`, mode 0600 in a 0700 directory, replaced
/// atomically (temporary file, fsync, rename, fsync of the directory). A corrupt file or
/// one written by a newer schema is reported and never overwritten. Mutating commands
/// hold `<name>.lock` (flock) for their whole run; see `withLock`.
public struct StateStore: Sendable {
    public let home: String
    public var directory: String { home + "/clusters" }

    public init(home: String) {
        self.home = home
    }

    public func path(of name: String) -> String { "\(directory)/\(name).json" }
    func lockPath(of name: String) -> String { "\(directory)/\(name).lock" }

    // MARK: reading

    /// The state of `name`, or nil when no such cluster exists.
    public func load(_ name: String) throws -> ClusterState? {
        try Self.validate(name: name)
        let file = path(of: name)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CloudcError(.io, "cannot read the state file \(file)",
                              fix: "check its permissions (it should be readable by you, mode 0600)")
        }
        return try Self.decode(data, file: file)
    }

    /// The names of all clusters with a state file, sorted.
    public func names() throws -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(5)) }
            .sorted()
    }

    static func decode(_ data: Data, file: String) throws -> ClusterState {
        struct SchemaProbe: Decodable { var schema: Int? }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let probe: SchemaProbe
        do {
            probe = try decoder.decode(SchemaProbe.self, from: data)
        } catch {
            throw CloudcError(.state, "the state file \(file) is corrupt: it is not a JSON object",
                              fix: "it was left untouched; restore it from a backup, or move it aside and clean up the cluster's cloud resources by hand (they carry the tag cloudc:cluster)")
        }
        guard let schema = probe.schema else {
            throw CloudcError(.state, "the state file \(file) has no schema version",
                              fix: "it was left untouched; it was not written by cloudc, or was edited by hand: restore it or move it aside")
        }
        guard schema <= ClusterState.currentSchema else {
            throw CloudcError(.state, "the state file \(file) has schema version \(schema), newer than this cloudc understands (\(ClusterState.currentSchema))",
                              fix: "use the newer cloudc that wrote it; the file was left untouched")
        }
        do {
            return try decoder.decode(ClusterState.self, from: data)
        } catch {
            throw CloudcError(.state, "the state file \(file) is corrupt: \(Self.describe(decodingError: error))",
                              fix: "it was left untouched; restore it from a backup, or move it aside and clean up the cluster's cloud resources by hand (they carry the tag cloudc:cluster)")
        }
    }

    static func describe(decodingError error: Error) -> String {
        guard let error = error as? DecodingError else { return "unreadable" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key \(path(context)).\(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "bad value at \(path(context)): \(context.debugDescription)"
        @unknown default: return "unreadable"
        }
    }

    // MARK: writing

    /// Writes the state atomically. A crash leaves either the old file or the new one.
    public func save(_ state: ClusterState) throws {
        try Self.validate(name: state.name)
        try ensureDirectory()
        var state = state
        state.updatedAt = Date()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do {
            data = try encoder.encode(state)
        } catch {
            throw CloudcError(.internalError, "cannot encode the state of \(state.name)", cause: "\(error)")
        }
        try Self.atomicWrite(data + Data("\n".utf8), to: path(of: state.name), directory: directory)
    }

    /// Removes the state of `name` (after its cloud resources are verified gone).
    public func remove(_ name: String) throws {
        try Self.validate(name: name)
        let file = path(of: name)
        if unlink(file) != 0 && errno != ENOENT {
            throw CloudcError(.io, "cannot remove the state file \(file)", cause: String(cString: strerror(errno)))
        }
        AtomicFile.syncFolder(directory)
        if currentCluster() == name { try? setCurrentCluster(nil) }
    }

    func ensureDirectory() throws {
        for dir in [home, directory] {
            var info = stat()
            if stat(dir, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw CloudcError(.io, "\(dir) exists but is not a directory", fix: "move it aside, or set CLOUDC_HOME to another directory")
                }
                continue
            }
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw CloudcError(.io, "cannot create the directory \(dir)", fix: "check that its parent is writable, or set CLOUDC_HOME", cause: String(cString: strerror(errno)))
            }
        }
        // The state can name hosts and key paths: keep it private.
        chmod(directory, 0o700)
    }

    static func atomicWrite(_ data: Data, to file: String, directory: String) throws {
        try AtomicFile.write(data, to: file, mode: 0o600, what: "the state file")
    }

    // MARK: names

    /// Cluster names become file names and cloud tags: keep them simple.
    public static func validate(name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
        }
        guard !name.isEmpty, name.count <= 40, allowed,
              let first = name.unicodeScalars.first, ("a"..."z").contains(first) else {
            throw CloudcError(.usage, "'\(name)' is not a valid cluster name",
                              fix: "use 1 to 40 lowercase letters, digits and '-', starting with a letter")
        }
    }

    // MARK: the current cluster (`cloudc use`)

    var currentPath: String { home + "/current" }

    public func currentCluster() -> String? {
        guard let data = FileManager.default.contents(atPath: currentPath),
              let name = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !name.isEmpty else { return nil }
        return name
    }

    public func setCurrentCluster(_ name: String?) throws {
        try ensureDirectory()
        if let name {
            try Self.atomicWrite(Data((name + "\n").utf8), to: currentPath, directory: home)
        } else {
            unlink(currentPath)
        }
    }
}
