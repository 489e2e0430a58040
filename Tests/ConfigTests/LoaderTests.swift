import CloudcCore
import Foundation
import Testing
@testable import Config

@Suite("loading files")
struct LoaderTests {
    @Test(arguments: [
        ([String: String](), "/home/alice/.cloudc/config.yaml"),
        (["CLOUDC_HOME": "/srv/cloudc"], "/srv/cloudc/config.yaml"),
        (["CLOUDC_HOME": "/srv/cloudc/"], "/srv/cloudc/config.yaml"),
        (["CLOUDC_HOME": "~/work/cloudc"], "/home/alice/work/cloudc/config.yaml"),
        (["CLOUDC_HOME": ""], "/home/alice/.cloudc/config.yaml"),
        (["CLOUDC_HOME": "/"], "/config.yaml"),
    ])
    func defaultPath(environment: [String: String], expected: String) {
        #expect(ConfigLoader.defaultPath(environment: environment, homeDirectory: "/home/alice") == expected)
        #expect(ConfigLoader.defaultPath(environment: environment, homeDirectory: "/home/alice/") == expected)
    }

    @Test func missingFileSaysWhereItLookedAndHowToCreateOne() throws {
        let path = "/nonexistent-\(UUID().uuidString)/config.yaml"
        let error = try #require(throws: CloudcError.self) {
            try ConfigLoader.load(path: path, environment: ["CLOUDC_HOME": "/x"], homeDirectory: "/home/alice")
        }
        #expect(error.code == .config)
        #expect(error.message == "no config file at \(path) (CLOUDC_HOME is /x)")
        #expect(error.fix?.contains("cp config.example.yaml \(path)") == true)
    }

    @Test func loadsAFileAndResolvesPathsFromItsFolder() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/config.yaml"
            try Fixtures.lines(
                "logins:",
                "  default: {user: debian, private_key: id_ed25519}"
            ).write(toFile: path, atomically: true, encoding: .utf8)
            let config = try ConfigLoader.load(path: path, environment: [:], homeDirectory: "/home/alice")
            #expect(config.path == path)
            #expect(config.logins["default"]?.privateKey == folder + "/id_ed25519")
        }
    }

    @Test func errorsNameTheFileLoaded() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/config.yaml"
            try "clouds:\n  x: {provider: nope}\n".write(toFile: path, atomically: true, encoding: .utf8)
            let error = try #require(throws: CloudcError.self) {
                try ConfigLoader.load(path: path, environment: [:], homeDirectory: "/home/alice")
            }
            #expect(error.message.hasPrefix("\(path):2:17: clouds.x.provider: unknown provider 'nope'"))
        }
    }

    @Test func aFolderIsNotAConfig() throws {
        try withTemporaryFolder { folder in
            let error = try #require(throws: CloudcError.self) {
                try ConfigLoader.load(path: folder, environment: [:], homeDirectory: "/home/alice")
            }
            #expect(error.message == "\(folder) is a folder, not a config file")
        }
    }

    private func withTemporaryFolder(_ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloudc-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try body(folder)
    }
}

@Suite struct LoginUserTests {
    /// A user beginning with '-' would become an ssh option in `cloudc ssh`.
    @Test(arguments: ["-oProxyCommand=touch /tmp/x", "a b"])
    func aUserSshWouldMisreadIsRefused(_ user: String) throws {
        let yaml = "logins:\n  default: {user: \"\(user)\", private_key: ~/.ssh/id_ed25519}\n"
        let error = try #require(throws: CloudcError.self) {
            try ConfigLoader.parse(yaml: yaml, path: "config.yaml", environment: [:], homeDirectory: "/home/me")
        }
        #expect(error.code == .config && error.message.contains("config.yaml:2:") && error.message.contains("is not a user name ssh takes"),
                "\(error.message)")
    }
}
