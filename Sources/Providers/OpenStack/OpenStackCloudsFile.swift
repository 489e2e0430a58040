import CloudcCore
import Foundation
import Yams

/// A value of a clouds.yaml file, reduced to what the credential resolver reads: text (every
/// scalar as written, so a password `0123` stays `0123`), lists and mappings. Nulls are dropped.
indirect enum CloudsYAMLValue: Sendable, Equatable {
    case text(String)
    case list([CloudsYAMLValue])
    case map([String: CloudsYAMLValue])

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    var map: [String: CloudsYAMLValue]? {
        if case .map(let value) = self { return value }
        return nil
    }

    var list: [CloudsYAMLValue]? {
        if case .list(let value) = self { return value }
        return nil
    }

    subscript(key: String) -> CloudsYAMLValue? { map?[key] }

    /// `other` laid over `self`: mappings merge key by key, all the way down; anything else is
    /// replaced. This is how openstacksdk lays secure.yaml over clouds.yaml.
    func merging(_ other: CloudsYAMLValue) -> CloudsYAMLValue {
        guard case .map(let mine) = self, case .map(let theirs) = other else { return other }
        return .map(mine.merging(theirs) { old, new in old.merging(new) })
    }

    /// Converts a composed YAML node; nil for a null (and for aliases, which clouds files do not use).
    init?(_ node: Node) {
        switch node {
        case .scalar(let scalar):
            if node.null != nil { return nil }
            self = .text(scalar.string)
        case .sequence(let sequence):
            self = .list(sequence.compactMap(CloudsYAMLValue.init))
        case .mapping(let mapping):
            var values: [String: CloudsYAMLValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let name) = key, let converted = CloudsYAMLValue(value) else { continue }
                values[name.string] = converted
            }
            self = .map(values)
        case .alias:
            return nil
        }
    }
}

/// One `clouds.yaml` or `secure.yaml` (or their `.yml` / `.json` spellings: YAML reads JSON too).
///
/// Errors name the file, and the line and column of a syntax error, but never quote the file:
/// it holds passwords.
struct OpenStackCloudsFile: Sendable, Equatable {
    /// The path as shown in messages (`~/.config/openstack/clouds.yaml`).
    var displayPath: String
    /// The whole document; `clouds:` is the part that matters.
    var root: CloudsYAMLValue

    init(parsing text: String, displayPath: String) throws {
        self.displayPath = displayPath
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.syntaxError(error, displayPath: displayPath)
        }
        guard let node else {
            root = .map([:])   // an empty file: no clouds
            return
        }
        guard let value = CloudsYAMLValue(node), value.map != nil else {
            throw CloudcError(.config, "\(displayPath) is not a clouds.yaml file: its top level is not a mapping",
                              fix: "start it with `clouds:` and one entry per cloud, as `openstack` expects "
                                  + "(your cloud's dashboard offers one under API Access → Download clouds.yaml)")
        }
        if let clouds = value["clouds"], clouds.map == nil {
            throw CloudcError(.config, "\(displayPath): `clouds:` is not a mapping of cloud names to their settings",
                              fix: "write `clouds:` followed by indented entries such as `mycloud:` with `auth:` under each")
        }
        root = value
    }

    /// Reads and parses the file at `path`; nil when there is no file there.
    static func load(path: String, displayPath: String) throws -> OpenStackCloudsFile? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw CloudcError(.io, "Cannot read the OpenStack config file \(displayPath).",
                              fix: "make it a readable file (for example `chmod 600 \(displayPath)`), or move it away")
        }
        return try OpenStackCloudsFile(parsing: String(decoding: data, as: UTF8.self), displayPath: displayPath)
    }

    /// Cloud name → its entry, as written (keys not yet normalised).
    var clouds: [String: CloudsYAMLValue] { root["clouds"]?.map ?? [:] }

    /// The cloud names, sorted, for messages.
    var cloudNames: [String] { clouds.keys.sorted() }

    /// Yams's error as a config error: where, and what libyaml found, but no snippet of the file.
    static func syntaxError(_ error: YamlError, displayPath: String) -> CloudcError {
        let fix = "fix the YAML of \(displayPath) near that line (`openstack` reads the same file); "
            + "a value containing ': ' or ' #', or starting with [ { * & ! % @ or `, needs quotes"
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let around = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return CloudcError(.config, "\(displayPath):\(mark.line):\(mark.column): YAML syntax error: \(problem)\(around)",
                               fix: fix)
        case let .duplicatedKeysInMapping(duplicates, context):
            return CloudcError(.config, "\(displayPath):\(context.mark.line):\(context.mark.column): the key "
                                   + "'\(duplicates.sorted().first ?? "?")' is given twice in one mapping",
                               fix: "keep one of them")
        case let .reader(problem, _, _, _):
            return CloudcError(.config, "\(displayPath) is not valid YAML text: \(problem)", fix: "save it as UTF-8 text")
        default:
            return CloudcError(.config, "\(displayPath) could not be read as YAML", fix: fix)
        }
    }
}
