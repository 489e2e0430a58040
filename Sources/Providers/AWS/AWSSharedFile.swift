import CloudcCore
import Foundation

/// One of the AWS shared files, `~/.aws/credentials` or `~/.aws/config`, read the way
/// botocore reads them (Python's `configparser`):
///
/// - `[section]` headers; `key = value` or `key: value` lines, keys case-insensitive;
/// - whole-line comments starting with `#` or `;` (a `#` later in a line is part of the value);
/// - an indented line continues the previous value (the config file's nested
///   `s3 =` / `  max_concurrent_requests = 20` blocks);
/// - a section given twice is merged, the later value of a key winning.
///
/// Errors name the file and line but never quote the line: it may hold a secret.
struct AWSSharedFile: Sendable, Equatable {
    /// The path as shown in messages (`~/.aws/config`).
    var displayPath: String
    /// Section header text (trimmed) → keys (lowercased) → values.
    var sections: [String: [String: String]]

    init(parsing text: String, displayPath: String) throws {
        self.displayPath = displayPath
        var sections: [String: [String: String]] = [:]
        var section: String?
        var lastKey: String?

        // "\r\n" is one Character in Swift: split on it as well as on "\n".
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }

            if let first = line.first, first == " " || first == "\t", let section, let lastKey {
                let previous = sections[section]?[lastKey] ?? ""
                sections[section, default: [:]][lastKey] = previous.isEmpty ? trimmed : previous + "\n" + trimmed
                continue
            }

            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    throw Self.lineError(displayPath, lineNumber, "has a section header without its closing ]")
                }
                let name = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                section = name
                lastKey = nil
                if sections[name] == nil { sections[name] = [:] }
                continue
            }

            guard let delimiter = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw Self.lineError(displayPath, lineNumber, "is neither a [section], a `key = value` line nor a comment")
            }
            guard let section else {
                throw Self.lineError(displayPath, lineNumber, "sets a key before any [section] header")
            }
            let key = trimmed[..<delimiter].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: delimiter)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw Self.lineError(displayPath, lineNumber, "has a value without a key")
            }
            sections[section, default: [:]][key] = value
            lastKey = key
        }
        self.sections = sections
    }

    /// Reads and parses the file at `path`; nil when there is no file there.
    static func load(path: String, displayPath: String) throws -> AWSSharedFile? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw CloudcError(.io, "Cannot read the AWS shared file \(displayPath).",
                              fix: "Make it a readable file (for example `chmod 600 \(displayPath)`), or point "
                                  + "AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE elsewhere.")
        }
        return try AWSSharedFile(parsing: String(decoding: data, as: UTF8.self), displayPath: displayPath)
    }

    /// The keys of a profile in a credentials file: section `[name]`.
    func credentialsProfile(_ name: String) -> [String: String]? {
        sections[name]
    }

    /// The keys of a profile in a config file: section `[profile name]`, or `[default]`
    /// for `default` (where `[profile default]`, also accepted, wins).
    func configProfile(_ name: String) -> [String: String]? {
        var found: [String: String]?
        if name == "default", let plain = sections["default"] { found = plain }
        for (header, keys) in sections {
            let words = header.split(whereSeparator: \.isWhitespace)
            guard words.count >= 2, words[0] == "profile",
                  header.dropFirst("profile".count).trimmingCharacters(in: .whitespaces) == name
            else { continue }
            found = (found ?? [:]).merging(keys) { _, new in new }
        }
        return found
    }

    /// The header that `configProfile(name)` looks for, for messages.
    static func configSectionHeader(for name: String) -> String {
        name == "default" ? "[default]" : "[profile \(name)]"
    }

    private static func lineError(_ path: String, _ line: Int, _ problem: String) -> CloudcError {
        CloudcError(.config, "\(path):\(line) \(problem).",
                    fix: "Fix or remove line \(line) of \(path): AWS shared files hold [section] headers, "
                        + "`key = value` lines and lines starting with # or ;.")
    }
}
