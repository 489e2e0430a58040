import Foundation

/// Ansible (ansible-core from PyPI, installed by scripts/install-deps.sh) as a reader of inventories.
public enum Ansible {
    /// The path of an Ansible program (`ansible`, `ansible-inventory`).
    public static func program(_ name: String) throws -> String {
        guard let path = Run.which(name) else {
            throw PeerError("\(name) is missing: pip install ansible-core (scripts/install-deps.sh does this)")
        }
        return path
    }

    /// Ansible wants a UTF-8 locale and a home for its temporary files; no SSH multiplexing, so
    /// no ssh master process outlives a command.
    public static func environment(home: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["LC_ALL"] = "C.UTF-8"
        environment["ANSIBLE_LOCAL_TEMP"] = home + "/.ansible/tmp"
        environment["ANSIBLE_SSH_ARGS"] = ""
        environment["ANSIBLE_NOCOLOR"] = "1"
        return environment
    }

    /// `ansible-inventory -i FILE --list`, parsed; a warning or error from it fails.
    public static func list(_ file: String, home: String) throws -> [String: Any] {
        let run = try Run.program(try program("ansible-inventory"), ["-i", file, "--list"], environment: environment(home: home))
        guard run.status == 0, !run.stderr.contains("WARNING"), !run.stderr.contains("ERROR") else {
            throw PeerError("ansible-inventory -i \(file) --list: status \(run.status): \(run.stderr)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw PeerError("ansible-inventory --list printed no JSON object: \(run.stdout.prefix(300))")
        }
        return object
    }
}
