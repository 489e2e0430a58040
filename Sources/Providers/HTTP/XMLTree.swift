import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small read-only XML tree: enough for AWS Query API responses.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var text: String
    public var children: [XMLElement]

    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    public func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The element at a path of child names.
    public func at(_ path: String...) -> XMLElement? {
        var node: XMLElement? = self
        for step in path { node = node?.child(step) }
        return node
    }

    /// The trimmed text of the child at `path`, nil if absent or empty.
    public func string(_ path: String...) -> String? {
        var node: XMLElement? = self
        for step in path { node = node?.child(step) }
        guard let text = node?.text.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }

    /// The `<item>` children of the child `set` (AWS's list encoding).
    public func items(_ set: String) -> [XMLElement] { child(set)?.children("item") ?? [] }

    /// Parses a document; nil if it is not well-formed XML.
    public static func parse(_ data: Data) -> XMLElement? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLElement] = []
    var root: XMLElement?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        stack.append(XMLElement(name: elementName, text: "", children: []))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard let element = stack.popLast() else { return }
        if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
    }
}
