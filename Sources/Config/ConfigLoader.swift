import CloudcCore
import Foundation
import Yams

/// Reads the config file into a validated `CloudcConfig`.
///
/// Every error is a `CloudcError(.config)` whose message starts with `FILE:LINE:COLUMN:`
/// and the key path, and whose fix says what to change. Secret values never appear in it.
public enum ConfigLoader {
    static let sections = ["clouds", "logins", "setups", "clusters"]

    /// `$CLOUDC_HOME/config.yaml`, `CLOUDC_HOME` defaulting to `~/.cloudc`.
    public static func defaultPath(environment: [String: String], homeDirectory: String) -> String {
        let context = ConfigContext(file: "", environment: environment, homeDirectory: homeDirectory)
        var folder = "~/.cloudc"
        if let home = environment["CLOUDC_HOME"], !home.isEmpty { folder = home }
        folder = context.expandingTilde(folder) ?? folder
        while folder.hasSuffix("/") { folder.removeLast() }
        return folder + "/config.yaml"
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String, environment: [String: String], homeDirectory: String) throws -> CloudcConfig {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            let setHome = environment["CLOUDC_HOME"].map { " (CLOUDC_HOME is \($0))" } ?? ""
            throw CloudcError(.config, "no config file at \(path)\(setHome)",
                              fix: "create one from the documented example: mkdir -p \(folder.isEmpty ? "." : folder) && "
                                  + "cp config.example.yaml \(path) (config.example.yaml is at the top of cloudc's source tree), "
                                  + "then edit it; or set CLOUDC_HOME to the folder that holds your config.yaml")
        }
        guard !isFolder.boolValue else {
            throw CloudcError(.config, "\(path) is a folder, not a config file",
                              fix: "put the config in \(path)/config.yaml and set CLOUDC_HOME=\(path)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CloudcError(.config, "cannot read the config file \(path)",
                              fix: "check that you may read it (ls -l \(path))", cause: error.localizedDescription)
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw CloudcError(.config, "\(path) is not UTF-8 text", fix: "save the config as UTF-8 text")
        }
        return try parse(yaml: yaml, path: path, environment: environment, homeDirectory: homeDirectory)
    }

    /// Parses config text; `path` names the file in messages, and relative key paths are taken from its folder.
    public static func parse(yaml: String, path: String, environment: [String: String],
                             homeDirectory: String) throws -> CloudcConfig {
        let context = ConfigContext(file: path, environment: environment, homeDirectory: homeDirectory)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw YAMLSyntax.error(error, yaml: yaml, context: context)
        }
        guard let root else { return CloudcConfig(path: path) }

        let top = try ConfigValue(node: root, path: .root, context: context, keyMark: nil).mapping()
        try top.rejectUnknownKeys(allowed: sections)
        let clouds = try CloudsSection.parse(top["clouds"])
        let logins = try LoginsSection.parse(top["logins"])
        let setups = try SetupsSection.parse(top["setups"])
        let templates = try ClustersSection(clouds: clouds, logins: logins, setups: setups).parse(top["clusters"])
        return CloudcConfig(
            path: path,
            clouds: Dictionary(clouds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            logins: Dictionary(logins.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            setups: Dictionary(setups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            clusters: Dictionary(templates.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            templateNames: templates.map(\.name))
    }
}
