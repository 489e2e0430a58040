import CloudcCore
import Foundation
import SSH

/// The login's key files, read the way every operation reads them.
extension Operations {
    /// The public key a start or grow gives the cloud's new nodes; none for own machines, which
    /// already let their users in.
    func publicKey(for spec: ClusterSpec) throws -> String {
        spec.cloud.provider == .ssh ? "" : try readPublicKey(spec.login)
    }

    /// The key a node is logged into with: its own (an own machine's), else the login's.
    public func identity(_ login: LoginSpec, route: NodeRoute?) -> SSHIdentity {
        route?.key.map { SSHIdentity(privateKeyPath: expandTilde($0)) } ?? identity(login)
    }

    public func identity(_ login: LoginSpec) -> SSHIdentity {
        SSHIdentity(privateKeyPath: expandTilde(login.privateKey), publicKeyPath: expandTilde(login.publicKey))
    }

    /// The login's public key line, checked to be one.
    public func readPublicKey(_ login: LoginSpec) throws -> String {
        let path = expandTilde(login.publicKey)
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !text.isEmpty else {
            throw CloudcError(.config, "cannot read the public key \(path) of login '\(login.name)'",
                              fix: "create a key pair with: ssh-keygen -t ed25519 -f \(expandTilde(login.privateKey)) — or set public_key: in logins.\(login.name)")
        }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("ecdsa-") else {
            throw CloudcError(.config, "\(path) is not an OpenSSH public key (expected a line such as 'ssh-ed25519 AAAA… comment')",
                              fix: "point public_key: in logins.\(login.name) at the .pub file of your key")
        }
        return text
    }
}
