import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a job's tasks on this machine, in the same run-directory layout as on a cluster, so a
/// grid can be tried before paying for one.
///
/// `submit` starts one detached supervisor (its own session, no terminal, no inherited
/// descriptors, signals at their defaults) that runs `bash <run>/run.sh INDEX` for each task,
/// at most `parallelism / cpus` at once, and returns: the tasks outlive the `cloudc` that
/// started them. Besides the shared layout, the run directory holds:
///
/// ```
/// <run>/local.pid       the supervisor's pid (also its session and process group)
/// <run>/local.indexes   the task indexes it runs, one a line
/// <run>/cancelled       written by `cancel` (the last submission was cancelled)
/// <run>/tasks/<i>/cancelled  written by `cancel` for each task it stopped before it ended
/// ```
///
/// Every process of a run (the supervisor, the wrappers, the tasks and their children) has
/// `CLOUDC_RUN=<run>` in its environment; `cancel` stops those, by pid. Memory, GPUs and the
/// time limit of `Resources` are not enforced here; `cpus` divides the parallelism.
public struct LocalExecutor: Executor {
    public let parallelism: Int
    /// How long `submit` waits for the supervisor to report its pid, and `cancel` for processes to end.
    let startTimeout: Double
    let stopTimeout: Double

    public init(parallelism: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.init(parallelism: parallelism, startTimeout: 10, stopTimeout: 5)
    }

    init(parallelism: Int, startTimeout: Double, stopTimeout: Double) {
        self.parallelism = max(1, parallelism)
        self.startTimeout = startTimeout
        self.stopTimeout = stopTimeout
    }

    static let pidFile = "local.pid"
    static let indexesFile = "local.indexes"
    static let cancelledFile = "cancelled"

    // MARK: submit

    public func submit(_ run: RunRecord, progress: any ProgressSink) async throws -> RunRecord {
        let directory = try Self.runDirectory(run)
        let byIndex = Dictionary(run.spec.tasks.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        let tasks = try run.taskIndexes.map { index in
            guard let task = byIndex[index] else {
                throw CloudcError(.internalError, "run \(run.id) asks for task \(index), which its grid does not have")
            }
            return task
        }
        guard !tasks.isEmpty else {
            throw CloudcError(.usage, "run \(run.id) has no tasks to run", fix: "give a command after '--'")
        }
        try TreeCopy.makeDirectories((directory as NSString).deletingLastPathComponent)
        try TreeCopy.makeDirectory(directory, mode: 0o700)
        chmod(directory, 0o700)
        if await LocalSupervisor.pid(directory: directory) != nil {
            throw CloudcError(.usage, "run \(run.rerunOf ?? run.id) is still running on this machine",
                              fix: "wait until its tasks end ('cloudc jobs'), or cancel it first")
        }

        if let work = run.spec.workDirectory {
            let source = try TreeCopy.realPath(work)
            let target = TreeCopy.normalize(directory)
            if target == source || target.hasPrefix(source + "/") {
                throw CloudcError(.usage, "the work folder \(work) holds the run directory \(directory), which would copy itself",
                                  fix: "give a smaller --dir, or set CLOUDC_HOME to a folder outside it")
            }
            progress.report("Copying \(work) to the run's work folder")
            let counts = try TreeCopy.mirror(from: source, to: directory + "/" + RunLayout.work)
            progress.report("Work folder: \(counts.copied) copied (\(Self.size(counts.bytes))), \(counts.unchanged) unchanged, \(counts.removed) removed")
        }

        // A task runs afresh: what an earlier attempt left in its folder (an exit status, old output) goes.
        for index in run.taskIndexes {
            let folder = directory + "/" + RunLayout.taskDirectory(index)
            if TreeCopy.lstatOrNil(folder) != nil { try TreeCopy.remove(folder) }
        }
        unlink(directory + "/" + Self.cancelledFile)
        for file in RunLayout.files(for: tasks, runDirectory: directory) {
            let path = directory + "/" + file.path
            try TreeCopy.makeDirectories((path as NSString).deletingLastPathComponent)
            try AtomicFile.write(Data(file.text.utf8), to: path, mode: mode_t(file.mode), sync: false)
        }
        let indexes = run.taskIndexes.map(String.init).joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(indexes.utf8), to: directory + "/" + Self.indexesFile, mode: 0o600)

        let slots = max(1, parallelism / max(1, run.spec.resources.cpus ?? 1))
        let pid = try await LocalSupervisor.start(directory: directory, slots: slots, timeout: startTimeout)
        progress.report("Started \(tasks.count) task\(tasks.count == 1 ? "" : "s") on this machine, \(slots) at a time (supervisor pid \(pid))")
        return run
    }

    // MARK: status

    public func status(_ run: RunRecord) async throws -> [TaskStatus] {
        let directory = try Self.runDirectory(run)
        guard TreeCopy.lstatOrNil(directory) != nil else {
            return run.taskIndexes.map { TaskStatus(index: $0, state: .unknown) }
        }
        // Whether the supervisor lives is read before the exit files: a task that ends in between
        // is then seen ended, and one without an exit file after the supervisor ended never ran to its end.
        // A rerun's supervisor runs only its own tasks: the others of the run are not waiting for it.
        let running = await LocalSupervisor.pid(directory: directory) != nil ? Self.indexes(directory: directory) : []
        return run.taskIndexes.map { index in
            let folder = directory + "/" + RunLayout.taskDirectory(index)
            if let text = try? String(contentsOfFile: folder + "/exit", encoding: .utf8) {
                let code = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
                return TaskStatus(index: index, state: code == 0 ? .done : .failed, exitCode: code)
            }
            if TreeCopy.lstatOrNil(folder + "/" + Self.cancelledFile) != nil {
                return TaskStatus(index: index, state: .cancelled)
            }
            if running.contains(index) {
                let started = TreeCopy.lstatOrNil(folder + "/stdout") != nil
                return TaskStatus(index: index, state: started ? .running : .pending)
            }
            return TaskStatus(index: index, state: .failed)
        }
    }

    // MARK: cancel

    public func cancel(_ run: RunRecord) async throws {
        let directory = try Self.runDirectory(run)
        guard TreeCopy.lstatOrNil(directory) != nil else { return }
        let processes = LocalSupervisor.processes(directory: directory)
        guard !processes.isEmpty else { return }
        // Written first, so a task that dies now reads as cancelled rather than failed (one that
        // ends normally meanwhile has its exit status, which counts first).
        try AtomicFile.write(Data("cancelled\n".utf8), to: directory + "/" + Self.cancelledFile, mode: 0o600)
        for index in Self.indexes(directory: directory) {
            let folder = directory + "/" + RunLayout.taskDirectory(index)
            guard TreeCopy.lstatOrNil(folder + "/exit") == nil, TreeCopy.lstatOrNil(folder) != nil else { continue }
            try AtomicFile.write(Data("cancelled\n".utf8), to: folder + "/" + Self.cancelledFile, mode: 0o644, sync: false)
        }
        try await LocalSupervisor.stop(directory: directory, grace: stopTimeout)
    }

    // MARK: collect

    public func collect(_ run: RunRecord, tasks: [Int], into local: String, progress: any ProgressSink) async throws {
        let directory = try Self.runDirectory(run)
        var total = TreeCopy.Counts()
        var absent: [Int] = []
        for index in tasks {
            let folder = directory + "/" + RunLayout.taskDirectory(index)
            guard TreeCopy.lstatOrNil(folder) != nil else {
                absent.append(index)
                continue
            }
            let counts = try TreeCopy.copyOutputs(from: folder, to: "\(local)/\(index)",
                                                  skipping: ["command", "values.env", "exit.tmp", Self.cancelledFile])
            total.copied += counts.copied
            total.unchanged += counts.unchanged
            total.bytes += counts.bytes
        }
        if !absent.isEmpty {
            progress.report("No folder for task\(absent.count == 1 ? "" : "s") \(absent.map(String.init).joined(separator: ", ")) (never started)")
        }
        progress.report("Collected \(total.copied) file\(total.copied == 1 ? "" : "s") (\(Self.size(total.bytes))) into \(local), \(total.unchanged) unchanged")
    }

    // MARK: stderr

    public func stderrTail(_ run: RunRecord, task: Int, lines: Int) async throws -> String {
        let directory = try Self.runDirectory(run)
        return Self.tail(of: directory + "/" + RunLayout.taskDirectory(task) + "/stderr", lines: lines)
    }

    /// The last `lines` lines of a file (read from its last 64 KiB); "" when it is missing.
    static func tail(of path: String, lines: Int, window: Int = 65536) -> String {
        guard lines > 0, let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(window) ? size - UInt64(window) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false)
        if start > 0, !parts.isEmpty { parts.removeFirst() }   // a line cut by the window
        return parts.suffix(lines).joined(separator: "\n")
    }

    // MARK: helpers

    /// The task indexes the latest supervisor of `directory` was given.
    static func indexes(directory: String) -> Set<Int> {
        guard let text = try? String(contentsOfFile: directory + "/" + indexesFile, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").compactMap { Int($0) })
    }

    static func runDirectory(_ run: RunRecord) throws -> String {
        var directory = run.directory
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        guard directory.hasPrefix("/") else {
            throw CloudcError(.internalError, "the local run directory '\(run.directory)' of run \(run.id) is not an absolute path")
        }
        return directory
    }

    static func size(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return "\(bytes / 1024) KiB" }
        return String(format: "%.1f MiB", Double(bytes) / 1048576)
    }
}

/// The detached process that runs a local run's tasks, and the processes it started.
enum LocalSupervisor {
    /// Writes its pid, drops every inherited descriptor above 2 (a kept pipe would hold whoever
    /// waits for its end), then becomes xargs: one `run.sh INDEX` per line of local.indexes, `$2`
    /// at a time. The inner `|| true` keeps xargs going whatever a task exits with (xargs stops
    /// at a status of 255 or a signal). bash, not sh: dash cannot close descriptors above 9.
    static let script = """
        run=$1; slots=$2
        for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
        cd "$run" || exit 97
        echo $$ > local.pid.tmp && mv -f local.pid.tmp local.pid || exit 97
        exec xargs -P "$slots" -n 1 -a local.indexes bash -c 'bash "$0" "$1" || true' "$run/run.sh"
        """

    /// Starts the supervisor of `directory` and returns its pid once it has written it.
    static func start(directory: String, slots: Int, timeout: Double) async throws -> pid_t {
        unlink(directory + "/" + LocalExecutor.pidFile)
        guard let setsid = locate("setsid") else {
            throw CloudcError(.unsupported, "the local executor needs 'setsid' (util-linux), which is not installed",
                              fix: "install util-linux")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["CLOUDC_RUN"] = directory
        let status = try await spawnAndWait(setsid, ["setsid", "-f", "bash", "-c", script, "cloudc-local", directory, String(slots)],
                                            environment: environment)
        guard status == 0 else {
            throw CloudcError(.io, "could not start the local run's supervisor: setsid exited with status \(status)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: directory + "/" + LocalExecutor.pidFile, encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return pid
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        throw CloudcError(.timeout, "the local run's supervisor did not start within \(Int(timeout)) s",
                          fix: "check that bash and xargs are installed and \(directory) is writable")
    }

    /// The supervisor's pid while it runs (it is not a zombie and it is this run's), else nil.
    static func pid(directory: String) async -> pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/" + LocalExecutor.pidFile, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        // A process in the middle of execve (the supervisor becoming xargs) shows an empty
        // environment for a moment: look again before deciding it is not the run's.
        for _ in 0..<20 {
            guard ProcFS.isLive(pid) else { return nil }
            if let ours = ProcFS.environment(of: pid, has: "CLOUDC_RUN=" + directory) { return ours ? pid : nil }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return nil
    }

    /// Every live process of the run: the ones whose environment says `CLOUDC_RUN=<directory>`.
    static func processes(directory: String) -> [pid_t] {
        let marker = "CLOUDC_RUN=" + directory
        let me = getpid()
        return ProcFS.pids().filter { $0 != me && ProcFS.isLive($0) && ProcFS.environment(of: $0, has: marker) == true }
    }

    /// SIGTERM to the supervisor's process group and to every process of the run, SIGKILL to
    /// what is left after `grace` seconds; returns when none is left.
    static func stop(directory: String, grace: Double) async throws {
        if let leader = await pid(directory: directory) { kill(-leader, SIGTERM) }
        for pid in processes(directory: directory) { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            if processes(directory: directory).isEmpty { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        for _ in 0..<100 {
            let left = processes(directory: directory)
            if left.isEmpty { return }
            for pid in left { kill(pid, SIGKILL) }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let left = processes(directory: directory)
        guard left.isEmpty else {
            throw CloudcError(.io, "processes \(left.map(String.init).joined(separator: ", ")) of the run in \(directory) did not stop",
                              fix: "stop them by hand (kill -9 PID)")
        }
    }

    static func locate(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            if access(dir + "/" + program, X_OK) == 0 { return dir + "/" + program }
        }
        return nil
    }

    /// Runs `path` with every signal unblocked and at its default (a Swift process may block or
    /// ignore some, and children inherit that), stdio on /dev/null, and waits for it on a thread
    /// of its own. (Other inherited descriptors are closed by the supervisor's script: glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` is not visible to Swift.)
    static func spawnAndWait(_ path: String, _ arguments: [String], environment: [String: String]) async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try spawnAndWaitBlocking(path, arguments, environment: environment) })
            }
        }
    }

    static func spawnAndWaitBlocking(_ path: String, _ arguments: [String], environment: [String: String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        // All of them (glibc skips SIGKILL and SIGSTOP, and would otherwise leave its own two
        // internal signals ignored in the child).
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw CloudcError(.io, "cannot start \(path)", cause: String(cString: strerror(result)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno == EINTR { continue }
            return 0   // reaped elsewhere (ECHILD): the supervisor's pid file tells whether it started
        }
        // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// What /proc says about processes.
enum ProcFS {
    static func pids() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    }

    /// The process exists and is not a zombie.
    static func isLive(_ pid: pid_t) -> Bool {
        guard let text = ProcFile.text("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return false }
        let rest = text[text.index(after: close)...].drop { $0 == " " }
        guard let state = rest.first else { return false }
        return state != "Z" && state != "X"
    }

    /// Whether the process's environment (as it was at exec) has the entry `entry` (`NAME=value`);
    /// nil while it cannot be told (unreadable, or empty as during an execve).
    static func environment(of pid: pid_t, has entry: String) -> Bool? {
        guard let data = ProcFile.data("/proc/\(pid)/environ"), !data.isEmpty else { return nil }
        let wanted = Array(entry.utf8)
        return data.split(separator: 0, omittingEmptySubsequences: true).contains { $0.elementsEqual(wanted) }
    }
}
