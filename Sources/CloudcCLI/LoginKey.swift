import CloudcCore
import Foundation

/// The SSH key cloudc makes for a user who has none: `$CLOUDC_HOME/id_ed25519`, by ssh-keygen.
enum LoginKey {
    /// The key cloudc makes, and the one the built-in config and `cloudc init` name when the user has none.
    static func ownPath(cloudcHome: String) -> String { cloudcHome + "/id_ed25519" }

    /// Makes an ed25519 key pair at `path` (0600, no passphrase) unless one is there.
    static func ensure(_ path: String, progress: any ProgressSink) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CloudcError(.io, "cannot create the folder \(folder) for cloudc's SSH key", cause: "\(error)")
        }
        progress.report("No SSH key of yours found (~/.ssh/id_ed25519): making one for cloudc at \(path)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cloudc", "-f", path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw CloudcError(.unsupported, "cannot run ssh-keygen to make an SSH key",
                              fix: "install OpenSSH's client (apt-get install openssh-client), or make a key: ssh-keygen -t ed25519", cause: "\(error)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CloudcError(.io, "ssh-keygen could not make \(path)",
                              fix: "make a key yourself: ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519", cause: message)
        }
    }
}
