import CloudcCore
import Configurator
import Foundation
import SSH
import State

/// The parts of the operations that reach nodes: where playbooks live, how nodes are reached.
extension Wiring {
    /// The folder holding `playbooks/` and `templates/`: `$CLOUDC_SHARE`, else
    /// `<prefix>/share/cloudc` beside the installed binary, else the source tree the binary was built in.
    func shareDirectory() throws -> String {
        var candidates: [String] = []
        if let share = context.environment["CLOUDC_SHARE"], !share.isEmpty { candidates.append(share) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            candidates.append((dir as NSString).deletingLastPathComponent + "/share/cloudc")
            for _ in 0..<5 {
                candidates.append(dir)
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/playbooks")
            && FileManager.default.fileExists(atPath: dir + "/templates") {
            return dir
        }
        throw CloudcError(.config, "cannot find cloudc's playbooks/ and templates/ folders",
                          fix: "set CLOUDC_SHARE to the folder that holds them (the cloudc source tree, or /usr/local/share/cloudc)")
    }

    /// SSH pacing: `CLOUDC_SSH_WAIT` seconds for a booting node's sshd (default 300).
    var connector: SSHConnector {
        var connector = SSHConnector()
        if let text = context.environment["CLOUDC_SSH_WAIT"], let seconds = Double(text), seconds > 0 {
            connector.waitTimeout = seconds
        }
        return connector
    }

    /// Nodes configured at once: `CLOUDC_FANOUT` (default 64).
    var fanOut: Int {
        context.environment["CLOUDC_FANOUT"].flatMap(Int.init).map { max(1, $0) } ?? 64
    }
}
