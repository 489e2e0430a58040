/// Where a value sits in the config's tree, as a user would name it:
/// `clusters.gce.groups.compute.count`, `clouds.gce.zones[1]`.
struct KeyPath: Sendable, Equatable, CustomStringConvertible {
    private(set) var components: [String] = []

    static let root = KeyPath()

    /// The path of a key inside this mapping.
    func key(_ name: String) -> KeyPath {
        var copy = self
        copy.components.append(name)
        return copy
    }

    /// The path of an element of this list.
    func index(_ position: Int) -> KeyPath {
        var copy = self
        if let last = copy.components.popLast() {
            copy.components.append("\(last)[\(position)]")
        } else {
            copy.components.append("[\(position)]")
        }
        return copy
    }

    /// The last key, without a list index.
    var lastKey: String? { components.last }

    var description: String {
        components.isEmpty ? "(top level)" : components.joined(separator: ".")
    }
}
