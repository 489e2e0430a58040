import CloudcCore
import Foundation

/// One role's work on one node as a single shell script, run with one exec: the node's sshd
/// starts one remote shell per role instead of one per step, and the files travel inside the
/// script (on its stdin, never on a command line: the munge key is among them).
///
/// Every step still checks before it changes, and reports on stdout in lines of its own:
/// `@@cloudc: ok N`, `@@cloudc: changed I`, `@@cloudc: install PKG…`, `@@cloudc: fact I BASE64`,
/// and, once, `@@cloudc: failed I STATUS` followed by the end of what the step printed.
/// `I` indexes `steps`, the names errors and reports use. A playbook's own commands each run in
/// a subshell, as they did with one exec each: an `exit` or `cd` in one stays there.
struct RoleScript {
    static let marker = "@@cloudc: "

    private(set) var text = ""
    /// Step names by index, as reports and errors call them.
    private(set) var steps: [String] = []

    /// Where a node that is one of the user's own machines records what setup changed, so
    /// `cloudc stop` can undo it: `files` (each path once; the first overwrite keeps a copy of
    /// the file as it was under `backup/`), `packages` (installed by setup) and `services`
    /// (enabled or started by setup).
    static let recordFolder = OwnMachineRecord.folder

    init(record: Bool) {
        text = """
            {
            L=$(mktemp /tmp/cloudc-out.XXXXXX) && E=$(mktemp /tmp/cloudc-err.XXXXXX) || exit 90
            trap 'rm -f "$L" "$E"' EXIT
            r() { printf '\(Self.marker)%s\\n' "$*"; }
            fail() { r failed "$1" "$2"; if [ -s "$E" ]; then tail -n 8 "$E"; else tail -n 8 "$L"; fi; exit 0; }
            fc=0; started=' '

            """
        if record {
            let m = Self.recordFolder
            text += """
                R=\(m); mkdir -p $R/backup && chmod 700 $R
                [ -f $R/active-before ] || { systemctl list-unit-files --type=service --state=enabled --no-legend | awk '{print $1}' > $R/enabled-before
                  systemctl list-units --type=service --state=active --no-legend --plain | awk '{print $1}' > $R/active-before; }
                rec_file() { grep -qxF "$1" $R/files 2>/dev/null && return 0
                  if [ -e "$1" ]; then mkdir -p "$R/backup$(dirname "$1")" && cp -a "$1" "$R/backup$1"; fi; echo "$1" >> $R/files; }
                rec() { grep -qxF "$2" $R/$1 2>/dev/null || echo "$2" >> $R/$1; }

                """
        }
        self.record = record
    }

    private let record: Bool

    /// The finished script.
    var script: String { text + "}\n" }

    private mutating func step(_ name: String) -> Int {
        steps.append(name)
        return steps.count - 1
    }

    // MARK: Steps

    /// Installs the packages not yet installed (waiting for another apt's lock).
    mutating func packages(_ names: [String]) {
        guard !names.isEmpty else { return }
        let list = names.joined(separator: " ")
        let index = step("install " + list)
        let install = "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold $missing"
        text += """
            have=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' \(list) 2>/dev/null) "; missing=''; n=0
            for p in \(list); do case "$have" in *" $p=installed "*) n=$((n+1));; *) missing="$missing $p";; esac; done
            if [ -n "$missing" ]; then
              { \(NodeRunner.waitingForAptLocks)apt_waiting \(install) || { apt_waiting apt-get update -q && apt_waiting \(install); }; } >"$L" 2>&1 </dev/null || fail \(index) $?
              r install $missing\(record ? "; for p in $missing; do rec packages $p; done" : "")
            fi
            r ok $n

            """
    }

    /// Runs a fact's command; its stdout comes back base64-encoded.
    mutating func fact(_ name: String, _ command: String) {
        let index = step("fact \(name): \(command)")
        text += """
            ( \(command)
            ) >"$L" 2>"$E" </dev/null || fail \(index) $?
            r fact \(index) $(base64 -w0 < "$L")

            """
    }

    /// Makes the folders the files go into.
    mutating func folders(_ paths: [String]) {
        guard !paths.isEmpty else { return }
        let index = step("make folders")
        text += "mkdir -p \(paths.map(Shell.quote).joined(separator: " ")) >\"$L\" 2>\"$E\" || fail \(index) $?\n"
    }

    /// Replaces `dest` when its content, mode or owner differ; sets `fc` when it does.
    mutating func file(_ bytes: [UInt8], dest: String, mode: Int32, owner: String) {
        let index = step(dest)
        let (user, group) = splitOwner(owner)
        let q = Shell.quote(dest)
        let modeText = String(mode, radix: 8)
        let (format, wanted) = group.map { ("%a %U:%G", "\(modeText) \(user):\($0)") } ?? ("%a %U", "\(modeText) \(user)")
        let installOwner = "-o \(Shell.quote(user))" + (group.map { " -g \(Shell.quote($0))" } ?? "")
        text += """
            T=$(mktemp /tmp/cloudc-file.XXXXXX) || fail \(index) 90
            base64 -d > "$T" <<'CLOUDC_B64'
            \(Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]))
            CLOUDC_B64
            if [ -f \(q) ] && cmp -s "$T" \(q) && [ "$(stat -c '\(format)' \(q))" = \(Shell.quote(wanted)) ]; then rm -f "$T"; r ok 1
            else \(record ? "rec_file \(q); " : "")install -m \(modeText) \(installOwner) "$T" \(q) >"$L" 2>"$E"; st=$?; rm -f "$T"; [ $st = 0 ] || fail \(index) $st; fc=1; r changed \(index); fi

            """
    }

    /// A command: a check that must hold, or a change unless its `unless` holds (a handler only
    /// when a file of this role changed).
    mutating func command(_ step: Playbook.CommandStep, run: String, unless: String?, check: String?) {
        let index = self.step(step.name)
        if let check {
            text += """
                ( \(check)
                ) >"$L" 2>"$E" </dev/null || fail \(index) $?
                r ok 1

                """
            return
        }
        var body = """
            ( \(run)
            ) >"$L" 2>"$E" </dev/null || fail \(index) $?
            r changed \(index)
            """
        if let unless {
            body = """
                if ( \(unless)
                ) >/dev/null 2>&1 </dev/null; then r ok 1; else
                \(body)
                fi
                """
        }
        if step.onChange { body = "if [ $fc = 1 ]; then\n\(body)\nfi" }
        text += body + "\n\n"
    }

    /// Enables and starts a service unless it is both already.
    mutating func service(_ name: String) {
        let index = step("start \(name)")
        let q = Shell.quote(name)
        // One systemctl asks both (a process fewer per service and node on every run), and
        // `enable` (a reload of systemd's units) runs only where the service is not enabled yet.
        let enabled = Self.enabledStates.map { "*\" UnitFileState=\($0) \"*" }.joined(separator: "|")
        text += """
            \(record ? "rec services \(q)\n" : "")s=" $(systemctl show -p ActiveState -p UnitFileState \(q) 2>/dev/null | tr '\\n' ' ')"
            case "$s" in \(enabled)) en=1;; *) en=0;; esac
            if [ $en = 1 ] && case "$s" in *" ActiveState=active "*) true;; *) false;; esac; then r ok 1; else
              { [ $en = 1 ] || systemctl enable --quiet \(q); } >"$L" 2>"$E" </dev/null && systemctl restart \(q) >>"$L" 2>>"$E" </dev/null
              st=$?; [ $st = 0 ] || { journalctl -u \(q) -n 8 --no-pager -o cat >>"$E" 2>&1; fail \(index) $st; }
              r changed \(index); started="${started}\(name) "
            fi

            """
    }

    /// The unit file states `systemctl is-enabled` counts as enabled.
    static let enabledStates = ["enabled", "enabled-runtime", "static", "indirect", "generated", "alias"]

    /// Restarts a service when a file of this role changed, unless this run just started it.
    mutating func restart(_ name: String) {
        let index = step("restart \(name)")
        let q = Shell.quote(name)
        text += """
            if [ $fc = 1 ]; then case "$started" in *" "\(q)" "*) ;; *)
              systemctl restart \(q) >"$L" 2>"$E" </dev/null
              st=$?; [ $st = 0 ] || { journalctl -u \(q) -n 8 --no-pager -o cat >>"$E" 2>&1; fail \(index) $st; }
              r changed \(index);; esac; fi

            """
    }
}

/// What a role script reported.
struct RoleScriptResult {
    var ok = 0
    var changed: [String] = []
    var facts: [Int: String] = [:]
    var failed: (index: Int, status: Int32, tail: [String])?

    init(stdout: String, steps: [String]) {
        var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).makeIterator()
        while let line = lines.next() {
            guard line.hasPrefix(RoleScript.marker) else { continue }
            let words = line.dropFirst(RoleScript.marker.count).split(separator: " ")
            guard let kind = words.first else { continue }
            let rest = words.dropFirst().map(String.init)
            switch kind {
            case "ok": ok += Int(rest.first ?? "") ?? 0
            case "changed":
                if let i = Int(rest.first ?? ""), steps.indices.contains(i) { changed.append(steps[i]) }
            case "install": changed.append("install " + rest.joined(separator: " "))
            case "fact":
                if let i = Int(rest.first ?? "") {
                    let data = Data(base64Encoded: rest.count > 1 ? rest[1] : "") ?? Data()
                    facts[i] = String(decoding: data, as: UTF8.self)
                }
            case "failed":
                var tail: [String] = []
                while let more = lines.next() { if !more.isEmpty { tail.append(String(more)) } }
                failed = (Int(rest.first ?? "") ?? -1, Int32(rest.count > 1 ? rest[1] : "") ?? -1, tail)
            default: break
            }
        }
    }
}
