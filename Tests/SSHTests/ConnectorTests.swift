import CloudcCore
import Foundation
@testable import SSH
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(2)), .needsPeer)
struct ConnectorTests {
    @Test func waitAndConnectWaitsForALateSSHD() async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeSSHKey(in: directory.path)
        let port = try freeLocalPort()
        let knownHosts = KnownHosts(path: directory.path + "/known_hosts")
        let late = Task {
            try await Task.sleep(for: .seconds(2))
            return try await SSHServer(directory: directory.path, authorizedKeys: [key + ".pub"], port: port)
        }
        let progress = OutputCapture()
        let connector = SSHConnector(connectTimeout: 5, waitTimeout: 30, initialDelay: 0.2, maxDelay: 0.5)
        let endpoint = SSHEndpoint(host: "127.0.0.1", port: port, user: SSHServer.user)
        let started = ContinuousClock.now
        let session = try await connector.waitAndConnect(to: endpoint, identity: SSHIdentity(privateKeyPath: key),
                                                         knownHosts: knownHosts, progress: { progress.append($0) })
        let server = try await late.value
        defer { server.stop() }
        #expect(ContinuousClock.now - started >= .seconds(2))
        #expect(try await session.exec("echo up").stdout == "up\n")
        await session.close()
        #expect(progress.text.contains("waiting for SSH on 127.0.0.1:\(port)"))
        #expect(progress.text.contains("refused"))
    }

    @Test func waitAndConnectTimesOutNamingTheHost() async throws {
        let directory = try TemporaryDirectory("cloudc-ssh")
        let key = try makeSSHKey(in: directory.path)
        let port = try freeLocalPort()
        let connector = SSHConnector(connectTimeout: 1, waitTimeout: 1.5, initialDelay: 0.2, maxDelay: 0.5)
        let started = ContinuousClock.now
        let error = try await #require(throws: CloudcError.self) {
            try await connector.waitAndConnect(to: SSHEndpoint(host: "127.0.0.1", port: port, user: "root"),
                                               identity: SSHIdentity(privateKeyPath: key),
                                               knownHosts: KnownHosts(path: directory.path + "/known_hosts"))
        }
        #expect(error.code == .timeout)
        #expect(error.message.contains("127.0.0.1:\(port)"))
        #expect(error.cause?.contains("refused") == true, "the last reason is kept")
        // Bounded, not timed: it gives up instead of waiting on (the machine may be busy, so no tight figure).
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test(arguments: [CloudcError.Code.hostKey, .credentials])
    func finalFailuresAreNotRetried(code: CloudcError.Code) async throws {
        let attempts = Counter()
        let connector = SSHConnector(connectTimeout: 1, waitTimeout: 30, initialDelay: 0.01, maxDelay: 0.01)
        let error = try await #require(throws: CloudcError.self) {
            try await connector.waitAndConnect(to: SSHEndpoint(host: "node", user: "root"), progress: nil) { _ -> Int in
                await attempts.increment()
                throw CloudcError(code, "no")
            }
        }
        #expect(error.code == code)
        #expect(await attempts.value == 1)
    }

    /// A young VM refuses the login until its guest agent has made the user from the instance's keys.
    @Test func aRefusedLoginIsRetriedUntilTheUserExistsThenNamedWithUserAndKey() async throws {
        let attempts = Counter()
        let connector = SSHConnector(connectTimeout: 1, waitTimeout: 30, initialDelay: 0.01, maxDelay: 0.02)
        let value = try await connector.waitAndConnect(to: SSHEndpoint(host: "node", user: "admin"), progress: nil) { _ -> Int in
            let attempt = await attempts.increment()
            if attempt < 3 { throw CloudcError(.loginRefused, "admin@node:22 refused the key /k for user admin") }
            return 7
        }
        let tries = await attempts.value
        #expect(value == 7 && tries == 3)

        let never = SSHConnector(connectTimeout: 1, waitTimeout: 0.3, initialDelay: 0.01, maxDelay: 0.05)
        let error = try await #require(throws: CloudcError.self) {
            try await never.waitAndConnect(to: SSHEndpoint(host: "node", user: "admin"), progress: nil) { _ -> Int in
                throw CloudcError(.loginRefused, "admin@node:22 refused the key /k for user admin", fix: "check authorized_keys")
            }
        }
        #expect(error.code == .loginRefused)
        #expect(error.message.contains("admin@node:22") && error.message.contains("/k") && error.message.contains("user admin"))
        #expect(error.fix == "check authorized_keys")
    }

    @Test func transientFailuresAreRetriedWithProgress() async throws {
        let attempts = Counter()
        let progress = OutputCapture()
        let connector = SSHConnector(connectTimeout: 1, waitTimeout: 30, initialDelay: 0.01, maxDelay: 0.02)
        let value = try await connector.waitAndConnect(to: SSHEndpoint(host: "node", user: "root"), progress: { progress.append($0) }) { timeout -> Int in
            #expect(timeout <= 1)
            let attempt = await attempts.increment()
            if attempt == 1 { throw CloudcError(.connection, "node:22 refused the SSH connection") }
            if attempt == 2 { throw CloudcError(.timeout, "connecting to node:22 timed out") }
            return 42
        }
        #expect(value == 42)
        #expect(progress.text.split(separator: "\n").count == 2)
        #expect(progress.text.contains("waiting for SSH on node:22: node:22 refused the SSH connection"))
    }
}

@Suite struct ForEachBoundedTests {
    @Test func neverRunsMoreThanTheLimitAndKeepsOrder() async throws {
        let gauge = Gauge()
        let items = Array(0..<40)
        let results = try await forEachBounded(items, limit: 5) { item in
            await gauge.enter()
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...20)))
            await gauge.leave()
            return item * 2
        }
        #expect(results == items.map { $0 * 2 })
        #expect(await gauge.peak == 5)
        #expect(try await forEachBounded([Int](), limit: 64) { $0 }.isEmpty)
    }

    @Test func firstErrorIsThrown() async throws {
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            _ = try await forEachBounded(Array(0..<10), limit: 3) { item in
                if item == 4 { throw Boom() }
                return item
            }
        }
    }
}

actor Gauge {
    private(set) var current = 0
    private(set) var peak = 0
    func enter() { current += 1; peak = max(peak, current) }
    func leave() { current -= 1 }
}

actor Counter {
    private(set) var value = 0
    @discardableResult
    func increment() -> Int { value += 1; return value }
}
