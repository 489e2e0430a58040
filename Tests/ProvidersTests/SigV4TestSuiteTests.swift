import CloudcCore
import Foundation
@testable import Providers
import Testing
import TestSupport

/// Every case of AWS's own SigV4 test suite, checked stage by stage: the canonical request
/// (`.creq`), the string to sign (`.sts`) and the `Authorization` header (`.authz`).
///
/// The suite comes from botocore's sdist on PyPI (pinned, see Tests/peers/fetch-aws4-testsuite.sh)
/// and lives in `.peers/aws4_testsuite`, never committed. A missing suite fails these tests.
@Suite(.needsDownload) struct SigV4TestSuiteTests {
    /// The credentials, scope and time every case of the suite was signed with.
    static let accessKeyID = "AKIDEXAMPLE"
    static let secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    @Test("AWS SigV4 test suite", arguments: try AWS4TestSuite.cases())
    func suiteCase(_ testCase: AWS4TestSuite.Case) throws {
        let raw = try RawHTTPRequest(parsing: testCase.read("req"))
        let expectedCanonical = try testCase.read("creq").replacingOccurrences(of: "\r", with: "")
        let expectedStringToSign = try testCase.read("sts").replacingOccurrences(of: "\r", with: "")
        let expectedAuthorization = try testCase.read("authz").replacingOccurrences(of: "\r", with: "")

        // As botocore's runner does: a case signed with a session token shows it in its
        // canonical request (get-vanilla-with-session-token, post-sts-header-before); the
        // signer adds the token header itself and signs it.
        let token = expectedCanonical.split(separator: "\n")
            .first { $0.hasPrefix("x-amz-security-token:") }
            .map { String($0.dropFirst("x-amz-security-token:".count)) }
        let credentials = AWSCredentials(accessKeyID: Self.accessKeyID, secretAccessKey: Secret(Self.secretAccessKey),
                                         sessionToken: token.map(Secret.init), source: "the AWS SigV4 test suite")
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "service")
        let request = SigV4Request(method: raw.method, path: raw.path, query: raw.query,
                                   headers: raw.headers, body: raw.body)

        let signed = signer.sign(request, at: Self.date)
        #expect(signed.canonicalRequest == expectedCanonical)
        #expect(signed.stringToSign == expectedStringToSign)
        #expect(signed.authorization == expectedAuthorization)

        let headers = signer.signingHeaders(for: request, at: Self.date)
        #expect(headers.first { $0.name == "Authorization" }?.value == expectedAuthorization)
        #expect(headers.first { $0.name == "X-Amz-Date" }?.value == "20150830T123600Z")
        #expect(headers.first { $0.name == "X-Amz-Security-Token" }?.value == token)
    }

    /// Guards against a vacuous run: a parameterised test over zero cases passes.
    @Test func suiteIsComplete() throws {
        let names = try AWS4TestSuite.cases().map(\.name)
        #expect(names.count >= 30)
        for name in ["get-vanilla", "get-header-value-multiline", "get-vanilla-query-order-key",
                     "normalize-path/get-space", "post-sts-token/post-sts-header-before",
                     "post-x-www-form-urlencoded"] {
            #expect(names.contains(name), "the suite lacks \(name)")
        }
    }

    @Test func rawRequestParser() throws {
        let raw = try RawHTTPRequest(parsing: """
            POST /a b/?x=1&y HTTP/1.1
            Host:example.com
            My-Header: one
              two
            My-Header:three

            body line 1
            body line 2
            """)
        #expect(raw.method == "POST")
        #expect(raw.path == "/a b/")
        #expect(raw.query == "x=1&y")
        #expect(raw.headers.map(\.name) == ["Host", "My-Header", "My-Header"])
        #expect(raw.headers.map(\.value) == ["example.com", " one\n  two", "three"])
        #expect(raw.body == Array("body line 1\nbody line 2".utf8))
    }
}

/// Where the suite lives, and fetching it when it is not there yet.
enum AWS4TestSuite {
    struct Case: Sendable, CustomTestStringConvertible {
        /// The case's directory relative to the suite, e.g. `normalize-path/get-slash`.
        var name: String
        var directory: URL

        var testDescription: String { name }

        /// The case's file with this extension (`req`, `creq`, `sts`, `authz`).
        func read(_ fileExtension: String) throws -> String {
            let file = directory.appendingPathComponent(directory.lastPathComponent + "." + fileExtension)
            return try String(contentsOf: file, encoding: .utf8)
        }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// The repository's root: this file is `<root>/Tests/ProvidersTests/SigV4TestSuiteTests.swift`.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = repositoryRoot.appendingPathComponent(".peers/aws4_testsuite")
    static let fetchScript = repositoryRoot.appendingPathComponent("Tests/peers/fetch-aws4-testsuite.sh")

    /// Every directory of the suite holding a `.req` file, sorted; fetches the suite first
    /// when it is missing, and throws when it still cannot be found.
    static func cases() throws -> [Case] {
        if !FileManager.default.fileExists(atPath: directory.path) {
            try fetch()
        }
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            throw Missing(description: "cannot list \(directory.path)")
        }
        let root = directory.standardizedFileURL.path + "/"
        var cases: [Case] = []
        for case let file as URL in walker where file.pathExtension == "req" {
            let caseDirectory = file.deletingLastPathComponent().standardizedFileURL
            cases.append(Case(name: String(caseDirectory.path.dropFirst(root.count)), directory: caseDirectory))
        }
        guard !cases.isEmpty else {
            throw Missing(description: "no *.req files under \(directory.path): remove it and run \(fetchScript.path)")
        }
        return cases.sorted { $0.name < $1.name }
    }

    /// Runs the fetch script, under a hard time limit (a child of the test runner may not
    /// receive SIGTERM, so the limit kills).
    static func fetch() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-s", "KILL", "300", "/bin/bash", fetchScript.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: directory.path) else {
            throw Missing(description: "the AWS SigV4 test suite is not in \(directory.path) and "
                + "\(fetchScript.path) failed (exit \(process.terminationStatus)); it needs python3, pip and PyPI")
        }
    }
}

/// A raw HTTP/1.1 request as the suite's `.req` files write it, parsed by hand: the files
/// are deliberately unusual (a space in the path, raw UTF-8, folded header lines, repeated
/// headers), which general HTTP parsers reject or normalise away.
struct RawHTTPRequest {
    var method: String
    var path: String
    var query: String
    /// Names and values as written, in order; a folded value keeps its line breaks and
    /// indentation (folding them is the signer's job).
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing text: String) throws {
        // "\r\n" is one Character in Swift: split on it as well as on "\n".
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }[...]
        guard let requestLine = lines.popFirst() else { throw Malformed(description: "empty request") }

        // METHOD SP target SP HTTP/x.y, where the target itself may contain spaces (get-space).
        guard let firstSpace = requestLine.firstIndex(of: " "), let lastSpace = requestLine.lastIndex(of: " "),
              firstSpace < lastSpace, requestLine[requestLine.index(after: lastSpace)...].hasPrefix("HTTP/")
        else { throw Malformed(description: "bad request line: \(requestLine)") }
        method = String(requestLine[..<firstSpace])
        let target = requestLine[requestLine.index(after: firstSpace)..<lastSpace]
        if let question = target.firstIndex(of: "?") {
            path = String(target[..<question])
            query = String(target[target.index(after: question)...])
        } else {
            path = String(target)
            query = ""
        }

        headers = []
        while let line = lines.popFirst(), !line.isEmpty {
            if line.first == " " || line.first == "\t" {
                guard let last = headers.indices.last else {
                    throw Malformed(description: "continuation line before any header")
                }
                headers[last].value += "\n" + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { throw Malformed(description: "bad header: \(line)") }
            headers.append((name: String(line[..<colon]), value: String(line[line.index(after: colon)...])))
        }
        body = Array(lines.joined(separator: "\n").utf8)
    }
}
