import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One listed machine, resolved: where and how cloudc logs in.
struct ResolvedHost: Sendable, Equatable {
    var host: String
    var address: String
    var login: NodeLogin
    /// Known-hosts files the user's ssh config names for it (their keys are trusted).
    var knownHostsFiles: [String]
}

/// Resolves a listed host as the user's own `ssh HOST` would: the system ssh prints its
/// effective settings (`ssh -G`), the cloud's keys override them, and the name becomes an IP.
struct OwnHostResolver: Sendable {
    var settings: OwnMachinesSettings
    var homeDirectory: String

    func resolve(_ host: OwnHost) async throws -> ResolvedHost {
        let seen = await sshSettings(host.host)
        let name = host.address ?? seen["hostname"] ?? host.host
        guard let address = Self.ipAddress(of: name) else {
            throw CloudcError(.connection, "host \(host.host): cannot resolve \(name) to an address",
                              fix: "check the name, or give the host's address: {host: \(host.host), address: 10.0.0.7}")
        }
        let user = host.user ?? settings.user ?? seen["user"] ?? "root"
        let port = host.port ?? settings.port ?? seen["port"].flatMap(Int.init) ?? 22
        let identity = (seen["identityfile"] ?? "").split(separator: "\n").map { expand(String($0)) }
        let key = host.key ?? settings.key ?? identity.first { FileManager.default.isReadableFile(atPath: $0) } ?? "~/.ssh/id_ed25519"
        let known = (seen["userknownhostsfile"] ?? "~/.ssh/known_hosts").split(separator: " ").map { expand(String($0)) }
        return ResolvedHost(host: host.host, address: address,
                            login: NodeLogin(host: host.host, user: user, port: port, key: expand(key)), knownHostsFiles: known)
    }

    /// `ssh -G HOST`'s answer, key → value (keys given more than once: values joined by newlines);
    /// empty where the system ssh is missing.
    private func sshSettings(_ host: String) async -> [String: String] {
        guard let ssh = ["/usr/bin/ssh", "/bin/ssh"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return [:]
        }
        let arguments = (settings.sshConfig.map { ["-F", $0] } ?? []) + ["-G", "--", host]
        let output: String? = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: ssh)
                process.arguments = arguments
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = FileHandle.nullDevice
                process.standardInput = FileHandle.nullDevice
                do { try process.run() } catch { continuation.resume(returning: nil); return }
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil)
            }
        }
        var values: [String: String] = [:]
        for line in (output ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            values[parts[0], default: ""] += (values[parts[0]] == nil ? "" : "\n") + parts[1]
        }
        return values
    }

    private func expand(_ path: String) -> String { HomePath.expand(path, home: homeDirectory) }

    /// The IPv4 or IPv6 address of a name (itself, when it is one).
    static func ipAddress(of name: String) -> String? {
        if let canonical = IPAddress.canonical(name) { return canonical }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        return IPAddress.canonical(String(cString: buffer))
    }
}
