import CloudcCore
import Foundation
import Providers

/// The SSH key cloudc makes for a user who has none: `$CLOUDC_HOME/id_ed25519`, by ssh-keygen.
enum LoginKey {
    /// The key cloudc makes, and the one the built-in config and `cloudc init` name when the user has none.
    static func ownPath(cloudcHome: String) -> String { cloudcHome + "/id_ed25519" }

    /// Makes an ed25519 key pair at `path` (0600, no passphrase) unless one is there. It is made
    /// under another name and renamed into place, the public half first: a run killed at any
    /// point leaves either no key or a whole pair, and the next run finishes the job.
    static func ensure(_ path: String, progress: any ProgressSink, commands: any HostCommands = ProcessHostCommands()) async throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CloudcError(.io, "cannot create the folder \(folder) for cloudc's SSH key", cause: "\(error)")
        }
        progress.report("No SSH key of yours found (~/.ssh/id_ed25519): making one for cloudc at \(path)")
        let temporary = path + ".new"
        unlink(temporary); unlink(temporary + ".pub")   // what a killed run left
        _ = try await commands.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cloudc", "-f", temporary],
                               fix: "make a key yourself: ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519")
        guard rename(temporary + ".pub", path + ".pub") == 0, rename(temporary, path) == 0 else {
            throw CloudcError(.io, "cannot put the new SSH key in place at \(path)", cause: String(cString: strerror(errno)))
        }
    }
}
