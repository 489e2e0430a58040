import CloudcCore
import Foundation

/// A value a template can show: text, a flag, a list to repeat over, or a map of named values.
public indirect enum TemplateValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    case text(String)
    case flag(Bool)
    case list([TemplateValue])
    case map([String: TemplateValue])

    public init(stringLiteral value: String) { self = .text(value) }
    public init(booleanLiteral value: Bool) { self = .flag(value) }

    /// Whether a `{{#name}}` section over this value is shown.
    var isTruthy: Bool {
        switch self {
        case .text(let s): return !s.isEmpty
        case .flag(let b): return b
        case .list(let l): return !l.isEmpty
        case .map: return true
        }
    }
}

/// A small logic-less template language (a subset of Mustache, without HTML escaping,
/// since every template here is a configuration file):
///
/// - `{{name}}` or `{{a.b}}` inserts a value; an unknown name is an error, not an empty string.
/// - `{{#name}}…{{/name}}` repeats its body for each item of a list (the item's keys come
///   first in lookups, `{{.}}` is the item itself), shows it once for a true flag, non-empty
///   text or a map, and skips it otherwise; `{{^name}}…{{/name}}` shows it only when skipped.
/// - `{{! comment }}` is dropped.
/// - A line holding only a section tag or a comment disappears entirely, so section tags
///   can sit on their own lines without leaving blank lines behind.
public struct Template: Sendable {
    public let name: String
    private let nodes: [Node]

    indirect enum Node: Sendable {
        case text(String)
        case variable(String, line: Int)
        case section(String, inverted: Bool, body: [Node], line: Int)
    }

    public init(name: String, source: String) throws {
        self.name = name
        var parser = Parser(name: name, tokens: try Template.tokenize(name: name, source: source))
        self.nodes = try parser.parse(until: nil)
    }

    public func render(_ context: [String: TemplateValue]) throws -> String {
        var out = ""
        try render(nodes, stack: [.map(context)], into: &out)
        return out
    }

    private func render(_ nodes: [Node], stack: [TemplateValue], into out: inout String) throws {
        for node in nodes {
            switch node {
            case .text(let text):
                out += text
            case .variable(let path, let line):
                switch try lookup(path, in: stack, line: line) {
                case .text(let s): out += s
                case .flag(let b): out += b ? "true" : "false"
                case .list, .map:
                    throw error(line, "'\(path)' is a list or map; show it with {{#\(path)}}…{{/\(path)}}")
                }
            case .section(let path, let inverted, let body, let line):
                let value = try lookup(path, in: stack, line: line)
                if inverted {
                    if !value.isTruthy { try render(body, stack: stack, into: &out) }
                    continue
                }
                guard value.isTruthy else { continue }
                if case .list(let items) = value {
                    for item in items { try render(body, stack: stack + [item], into: &out) }
                } else {
                    try render(body, stack: stack + [value], into: &out)
                }
            }
        }
    }

    private func lookup(_ path: String, in stack: [TemplateValue], line: Int) throws -> TemplateValue {
        if path == "." {
            guard let top = stack.last else { throw error(line, "'.' outside a section") }
            return top
        }
        let parts = path.split(separator: ".").map(String.init)
        guard let first = parts.first else { throw error(line, "empty tag") }
        // The innermost context that knows the first name answers, as in Mustache.
        for frame in stack.reversed() {
            guard case .map(let map) = frame, var value = map[first] else { continue }
            for part in parts.dropFirst() {
                guard case .map(let inner) = value, let next = inner[part] else {
                    throw error(line, "unknown name '\(path)' ('\(part)' is not there)")
                }
                value = next
            }
            return value
        }
        throw error(line, "unknown name '\(path)'")
    }

    private func error(_ line: Int, _ message: String) -> CloudcError {
        CloudcError(.config, "template \(name), line \(line): \(message)",
                    fix: "edit the template or the playbook vars that feed it")
    }
}

// MARK: - Tokens and parsing

extension Template {
    enum Token {
        case text(String)
        case tag(kind: Character?, name: String, line: Int)   // kind: "#", "^", "/", "!" or nil
    }

    /// Splits the source into text and tags, removing lines that hold only a section tag or comment.
    static func tokenize(name: String, source: String) throws -> [Token] {
        var tokens: [Token] = []
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        for rawLine in lines.enumerated() {
            let lineNumber = rawLine.offset + 1
            let isLast = rawLine.offset == lines.count - 1
            var line = String(rawLine.element)
            var lineTokens: [Token] = []
            while let open = line.range(of: "{{") {
                guard let close = line.range(of: "}}", range: open.upperBound..<line.endIndex) else {
                    throw CloudcError(.config, "template \(name), line \(lineNumber): '{{' without '}}'",
                                      fix: "close the tag on the same line")
                }
                let before = String(line[..<open.lowerBound])
                if !before.isEmpty { lineTokens.append(.text(before)) }
                var inner = line[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                var kind: Character? = nil
                if let f = inner.first, "#^/!".contains(f) {
                    kind = f
                    inner = String(inner.dropFirst()).trimmingCharacters(in: .whitespaces)
                }
                if kind != "!" && inner.isEmpty {
                    throw CloudcError(.config, "template \(name), line \(lineNumber): empty tag", fix: "name a value inside {{ }}")
                }
                lineTokens.append(.tag(kind: kind, name: inner, line: lineNumber))
                line = String(line[close.upperBound...])
            }
            if !line.isEmpty { lineTokens.append(.text(line)) }
            // A standalone section/comment tag line vanishes with its newline.
            let tags = lineTokens.filter { if case .tag = $0 { return true } else { return false } }
            let blank = lineTokens.allSatisfy {
                if case .text(let t) = $0 { return t.allSatisfy { $0 == " " || $0 == "\t" } }
                return true
            }
            if tags.count == 1, blank, case .tag(let kind?, _, _) = tags[0], "#^/!".contains(kind) {
                tokens.append(tags[0])
                continue
            }
            tokens.append(contentsOf: lineTokens)
            if !isLast { tokens.append(.text("\n")) }
        }
        return tokens
    }

    struct Parser {
        let name: String
        let tokens: [Token]
        var index = 0

        init(name: String, tokens: [Token]) { self.name = name; self.tokens = tokens }

        mutating func parse(until closing: (name: String, line: Int)?) throws -> [Node] {
            var nodes: [Node] = []
            while index < tokens.count {
                let token = tokens[index]
                index += 1
                switch token {
                case .text(let text):
                    nodes.append(.text(text))
                case .tag(let kind, let tagName, let line):
                    switch kind {
                    case "!": continue
                    case "#", "^":
                        let body = try parse(until: (tagName, line))
                        nodes.append(.section(tagName, inverted: kind == "^", body: body, line: line))
                    case "/":
                        guard let closing, closing.name == tagName else {
                            throw CloudcError(.config, "template \(name), line \(line): {{/\(tagName)}} closes nothing open",
                                              fix: closing.map { "close {{#\($0.name)}} (line \($0.line)) first" } ?? "remove it")
                        }
                        return nodes
                    default:
                        nodes.append(.variable(tagName, line: line))
                    }
                }
            }
            if let closing {
                throw CloudcError(.config, "template \(name), line \(closing.line): {{#\(closing.name)}} is never closed",
                                  fix: "add {{/\(closing.name)}}")
            }
            return nodes
        }
    }
}
