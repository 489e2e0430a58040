import CloudcCore
import Crypto
import Foundation
import SSH

/// Runs jobs on the cluster's SLURM over SSH to the frontend: the run directory lives on the
/// shared /home, a grid is one job array (split where it exceeds `MaxArraySize`), and state
/// comes from `squeue`, `sacct` when accounting is on, and the wrapper's exit files.
public struct SlurmExecutor: Executor {
    let shell: any RemoteShell
    /// The partition jobs go to; nil: SLURM's default.
    let partition: String?

    public init(shell: any RemoteShell, partition: String? = nil) {
        self.shell = shell; self.partition = partition
    }

    /// Where runs live: under the login's home when it is on the shared /home, else in
    /// /home/cloudc-runs/<user> (root's home, /root, is not shared).
    static let runBase = #"case "$HOME" in /home/*) b="$HOME/cloudc-runs";; *) b="/home/cloudc-runs/$(id -un)";; esac; mkdir -p "$b" && cd "$b" && pwd"#

    /// Runs a shell command on the frontend; a non-zero exit is an error naming `what`.
    @discardableResult
    func run(_ command: String, _ what: String, stdin: [UInt8]? = nil) async throws -> String {
        let result = try await shell.exec(command, stdin: stdin, onOutput: nil)
        guard result.status == 0 else {
            let detail = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").suffix(5).joined(separator: " | ")
            throw CloudcError(.remote, "\(what) failed on \(shell.endpoint.host) (exit \(result.status))",
                              fix: "check the cluster with: cloudc ssh -- sinfo", cause: detail)
        }
        return result.stdout
    }

    // MARK: submit

    public func submit(_ run: RunRecord, progress: any ProgressSink) async throws -> RunRecord {
        var run = run
        if !run.directory.hasPrefix("/") {
            let base = try await self.run(Self.runBase, "finding the shared run folder").trimmingCharacters(in: .whitespacesAndNewlines)
            run.directory = base + "/" + run.id
        }
        let directory = run.directory
        let chosen = Set(run.taskIndexes)
        let tasks = run.spec.tasks.filter { chosen.contains($0.index) }
        try await self.run("mkdir -p \(Shell.quote(directory))/work \(Shell.quote(directory))/logs", "creating \(directory)")
        if let local = run.spec.workDirectory {
            try await syncWork(from: local, to: directory + "/" + RunLayout.work, progress: progress)
        }
        // Every task's files in one archive: one upload and one tar on the frontend, not a
        // process per file (a 30,000-task grid has 90,000). A task's folder starts empty: a
        // rerun's old exit file must not read as its new state.
        let archive = TarWriter.archive(RunLayout.files(for: tasks, runDirectory: directory).map { ($0.path, Array($0.text.utf8), $0.mode) })
        try await shell.upload(archive, to: directory + "/.layout.tar", mode: 0o600, owner: nil)
        let folders = tasks.map { RunLayout.taskDirectory($0.index) }.joined(separator: "\0") + "\0"
        try await shell.upload(Array(folders.utf8), to: directory + "/.layout.clear", mode: 0o600, owner: nil)
        try await self.run("cd \(Shell.quote(directory)) && \(Self.layoutCommand)", "writing the tasks of \(run.id)")

        let maxArraySize = try await self.maxArraySize()
        var jobIDs: [String] = []
        var offsets: [Int] = []
        for (number, chunk) in Self.arrayChunks(run.taskIndexes, maxArraySize: maxArraySize).enumerated() {
            let batch = Self.batchScript(run: run, chunk: chunk, partition: partition)
            let path = "\(directory)/submit-\(number + 1).sh"
            try await shell.upload(Array(batch.utf8), to: path, mode: 0o644, owner: nil)
            let answer = try await self.run("sbatch --parsable \(Shell.quote(path))", "sbatch of \(run.id)")
            guard let id = answer.split(whereSeparator: \.isNewline).last?.split(separator: ";").first.map(String.init), !id.isEmpty else {
                throw CloudcError(.remote, "sbatch answered '\(answer)' instead of a job id", fix: "check the cluster with: cloudc ssh -- squeue")
            }
            jobIDs.append(id)
            offsets.append(chunk.offset)
        }
        run.jobIDs = jobIDs
        run.arrayOffsets = offsets
        progress.report("Submitted \(tasks.count) task(s) of \(run.id) as SLURM job\(jobIDs.count == 1 ? "" : "s") \(jobIDs.joined(separator: ", "))")
        return run
    }

    /// `MaxArraySize` of `scontrol show config` (SLURM's default 1001 when it does not say).
    func maxArraySize() async throws -> Int {
        let config = try await run("scontrol show config", "scontrol show config")
        return Self.maxArraySize(in: config) ?? 1001
    }

    static func maxArraySize(in config: String) -> Int? {
        for line in config.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].lowercased() == "maxarraysize" { return Int(parts[1]) }
        }
        return nil
    }

    /// One job array's share of the tasks: array indexes are task index − `offset`, all below MaxArraySize.
    struct ArrayChunk: Equatable {
        var offset: Int
        var indexes: [Int]
        /// `1-5,7,9-10` of the array indexes.
        var arraySpec: String {
            var parts: [String] = []
            var start: Int?
            var previous = 0
            for index in indexes.map({ $0 - offset }).sorted() {
                if start != nil, index == previous + 1 {
                    previous = index
                    continue
                }
                if let first = start { parts.append(first == previous ? "\(first)" : "\(first)-\(previous)") }
                start = index
                previous = index
            }
            if let first = start { parts.append(first == previous ? "\(first)" : "\(first)-\(previous)") }
            return parts.joined(separator: ",")
        }
    }

    /// Array indexes must stay below MaxArraySize: tasks 1…(max−1) go in the first array,
    /// the next max−1 in a second (offset by max−1), and so on.
    static func arrayChunks(_ indexes: [Int], maxArraySize: Int) -> [ArrayChunk] {
        let span = max(1, maxArraySize - 1)
        var chunks: [Int: [Int]] = [:]
        for index in indexes { chunks[(index - 1) / span, default: []].append(index) }
        return chunks.keys.sorted().map { ArrayChunk(offset: $0 * span, indexes: chunks[$0, default: []].sorted()) }
    }

    static func batchScript(run: RunRecord, chunk: ArrayChunk, partition: String?) -> String {
        let resources = run.spec.resources
        var lines = ["#!/bin/bash",
                     "#SBATCH --job-name=\(run.id)",
                     "#SBATCH --array=\(chunk.arraySpec)",
                     "#SBATCH --output=\(run.directory)/logs/%A_%a.out"]
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let cpus = resources.cpus { lines.append("#SBATCH --cpus-per-task=\(cpus)") }
        if let gpus = resources.gpus, gpus > 0 { lines.append("#SBATCH --gres=gpu:\(gpus)") }
        if let memory = resources.memory { lines.append("#SBATCH --mem=\(memory)") }
        if let time = resources.time { lines.append("#SBATCH --time=\(time)") }
        lines.append("exec bash \(Shell.quote(run.directory + "/" + RunLayout.wrapper)) $((SLURM_ARRAY_TASK_ID + \(chunk.offset)))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Run in the run folder after `.layout.tar` and `.layout.clear` (the task folders to empty,
    /// NUL-separated) were uploaded: empties them, unpacks the task files as the login user.
    static let layoutCommand = "xargs -0 -r rm -rf -- < .layout.clear && tar --no-same-owner -xf .layout.tar && rm -f .layout.tar .layout.clear"

    /// Uploads the files of `local` that differ (by SHA-256) from those in `remote`, and
    /// deletes remote files that are no longer there, so every task sees exactly the folder.
    func syncWork(from local: String, to remote: String, progress: any ProgressSink) async throws {
        let files = try Self.localFiles(local)
        let listing = try await run("mkdir -p \(Shell.quote(remote)) && cd \(Shell.quote(remote)) && find . -type f -print0 | xargs -0 -r sha256sum",
                                    "listing \(remote)")
        var remoteHashes: [String: String] = [:]
        for line in listing.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var path = String(parts[1]).trimmingCharacters(in: .whitespaces)
            if path.hasPrefix("*") { path.removeFirst() }
            if path.hasPrefix("./") { path.removeFirst(2) }
            remoteHashes[path] = String(parts[0])
        }
        let changed = files.filter { remoteHashes[$0.path] != $0.sha256 }
        let stale = Set(remoteHashes.keys).subtracting(files.map(\.path)).sorted()
        let folders = Set(changed.compactMap { file -> String? in
            guard let slash = file.path.lastIndex(of: "/") else { return nil }
            return String(file.path[..<slash])
        }).sorted()
        if !folders.isEmpty || !stale.isEmpty {
            var command = "cd \(Shell.quote(remote))"
            if !folders.isEmpty { command += " && mkdir -p " + folders.map(Shell.quote).joined(separator: " ") }
            if !stale.isEmpty { command += " && rm -f -- " + stale.map(Shell.quote).joined(separator: " ") }
            try await run(command, "preparing \(remote)")
        }
        for file in changed {
            let data = try Data(contentsOf: URL(fileURLWithPath: local + "/" + file.path))
            try await shell.upload([UInt8](data), to: remote + "/" + file.path, mode: file.executable ? 0o755 : 0o644, owner: nil)
        }
        progress.report("Work folder \(local): \(changed.count) of \(files.count) file(s) uploaded (\(files.count - changed.count) unchanged)\(stale.isEmpty ? "" : ", \(stale.count) removed")")
    }

    struct LocalFile: Equatable {
        var path: String
        var sha256: String
        var executable: Bool
    }

    /// Every regular file below `folder` (links to files outside it are refused).
    static func localFiles(_ folder: String) throws -> [LocalFile] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CloudcError(.usage, "\(folder) is not a folder", fix: "give --dir a folder with your code and inputs")
        }
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [LocalFile] = []
        while let relative = walker.nextObject() as? String {
            let path = folder + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let mode = (attributes[.posixPermissions] as? Int) ?? 0o644
            files.append(LocalFile(path: relative, sha256: Hex.encode(Array(SHA256.hash(data: data))), executable: mode & 0o100 != 0))
        }
        return files.sorted { $0.path < $1.path }
    }

    // MARK: state

    public func status(_ run: RunRecord) async throws -> [TaskStatus] {
        let directory = Shell.quote(run.directory)
        let jobs = run.jobIDs.joined(separator: ",")
        // One round trip: exit files, squeue's view, and sacct's when accounting is on. The task
        // folders are found, not listed on the command line: a grid of 30,000 tasks would pass
        // the 128 KiB a single argument may have.
        let command = #"""
        cd \#(directory)/tasks || exit 3
        find . -mindepth 2 -maxdepth 2 -type f -name exit -exec grep -H '' {} + 2>/dev/null | sed -n 's|^\./\([0-9][0-9]*\)/exit:|exit \1 |p'
        find . -mindepth 2 -maxdepth 2 -type f -name stdout 2>/dev/null | sed -n 's|^\./\([0-9][0-9]*\)/stdout$|started \1|p'
        \#(jobs.isEmpty ? "" : "squeue -h -r -j \(jobs) -o 'queue %i %T' 2>/dev/null && echo squeue-answered; sacct -n -P -X -j \(jobs) -o JobID,State 2>/dev/null | sed 's/^/acct /'")
        true
        """#
        let output = try await self.run(command, "reading the state of \(run.id)")
        return Self.statuses(output, run: run)
    }

    /// Reads the lines of `status`'s command: `exit I S`, `started I`, `queue J_A STATE`, `acct J_A|STATE`.
    static func statuses(_ output: String, run: RunRecord) -> [TaskStatus] {
        var exits: [Int: Int32] = [:]
        var started = Set<Int>()
        var queued: [Int: String] = [:]
        var accounted: [Int: String] = [:]
        // squeue fails now and then on a busy controller: a task it did not list has then not left SLURM.
        var squeueAnswered = run.jobIDs.isEmpty
        for line in output.split(whereSeparator: \.isNewline) {
            if line == "squeue-answered" { squeueAnswered = true; continue }
            let words = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard let kind = words.first else { continue }
            switch kind {
            case "exit" where words.count == 3:
                if let index = Int(words[1]), let code = Int32(words[2].trimmingCharacters(in: .whitespaces)) { exits[index] = code }
            case "started" where words.count == 2:
                if let index = Int(words[1]) { started.insert(index) }
            case "queue" where words.count == 3:
                if let index = taskIndex(words[1], run: run) { queued[index] = words[2] }
            case "acct" where words.count >= 2:
                let fields = line.dropFirst(5).split(separator: "|").map(String.init)
                if fields.count >= 2, let index = taskIndex(fields[0], run: run) {
                    accounted[index] = fields[1].split(separator: " ").first.map(String.init) ?? fields[1]
                }
            default: continue
            }
        }
        return run.taskIndexes.sorted().map { index in
            if let code = exits[index] { return TaskStatus(index: index, state: code == 0 ? .done : .failed, exitCode: code) }
            if let state = queued[index] {
                switch state {
                case "PENDING", "CONFIGURING", "REQUEUED", "RESV_DEL_HOLD", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED":
                    return TaskStatus(index: index, state: .pending)
                case "CANCELLED": return TaskStatus(index: index, state: .cancelled)
                default: return TaskStatus(index: index, state: .running)
                }
            }
            if let state = accounted[index] {
                switch state {
                case "PENDING": return TaskStatus(index: index, state: .pending)
                case "RUNNING", "COMPLETING": return TaskStatus(index: index, state: .running)
                case "CANCELLED": return TaskStatus(index: index, state: .cancelled)
                default: return TaskStatus(index: index, state: .failed)
                }
            }
            // Neither queued nor accounted and no exit file: the job left SLURM without the
            // wrapper finishing (cancelled before it ran, killed, node lost) — or is just leaving.
            // Unless squeue did not answer: then nothing is known yet.
            if !squeueAnswered { return TaskStatus(index: index, state: started.contains(index) ? .running : .pending) }
            return TaskStatus(index: index, state: started.contains(index) ? .failed : (run.jobIDs.isEmpty ? .unknown : .failed))
        }
    }

    /// `123_4` of the run's second array → task 4 + that array's offset.
    static func taskIndex(_ id: String, run: RunRecord) -> Int? {
        let parts = id.split(separator: "_", maxSplits: 1).map(String.init)
        guard parts.count == 2, let arrayIndex = Int(parts[1]), let job = run.jobIDs.firstIndex(of: parts[0]) else { return nil }
        return arrayIndex + (job < run.arrayOffsets.count ? run.arrayOffsets[job] : 0)
    }

    public func cancel(_ run: RunRecord) async throws {
        guard !run.jobIDs.isEmpty else { return }
        try await self.run("scancel \(run.jobIDs.joined(separator: " "))", "scancel of \(run.id)")
    }

    // MARK: outputs

    /// Copies the outputs of `tasks` into `local`. The listing is NUL-separated (a name may hold
    /// a newline), every path must be plain names below its task's folder, and every file is
    /// written below `local` without following a link: a job's outputs never land outside it.
    public func collect(_ run: RunRecord, tasks: [Int], into local: String, progress: any ProgressSink) async throws {
        guard !tasks.isEmpty else { return }
        // Every task folder's files, found rather than named on the command line (an exec request
        // holds at most about 32 KiB: some 6,000 task numbers); those of other tasks are left out below.
        let listing = try await self.run("cd \(Shell.quote(run.directory))/tasks && find . -mindepth 2 -type f -print0 2>/dev/null; true",
                                         "listing the outputs of \(run.id)")
        let skipped: Set<String> = ["command", "values.env"]
        let wanted = Set(tasks.map(String.init))
        var files: [[String]] = []
        var refused: [String] = []
        for found in listing.split(separator: "\0") where !found.isEmpty {
            let entry = found.hasPrefix("./") ? String(found.dropFirst(2)) : String(found)
            guard let parts = SafeFiles.components(entry), parts.count >= 2 else {
                refused.append(entry)
                continue
            }
            guard wanted.contains(parts[0]) else { continue }
            if let name = parts.last, skipped.contains(name) { continue }
            files.append(parts)
        }
        if !refused.isEmpty {
            let shown = refused.prefix(3).map { String(reflecting: $0) }.joined(separator: ", ")
            progress.report("Skipped \(refused.count) output path(s) of \(run.id) that would leave its folder: \(shown)")
        }
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        guard !files.isEmpty else {
            progress.report("Copied 0 file(s) of \(tasks.count) task(s) into \(local)")
            return
        }
        // One archive of the listed files (GNU tar, on every Debian and Ubuntu), fetched as one
        // download: one SFTP request a file made 90,000 round trips of a 30,000-task grid.
        let bundle = "\(run.directory)/.harvest-\(Hex.random(bytes: 6))"
        let names = files.map { $0.joined(separator: "/") }
        try await shell.upload(Array((names.joined(separator: "\0") + "\0").utf8), to: bundle + ".list", mode: 0o600, owner: nil)
        let remove = "rm -f \(Shell.quote(bundle + ".list")) \(Shell.quote(bundle + ".tar"))"
        let archive: [UInt8]
        do {
            // tar's 1: a file changed while it was read (a task still writing); what it got is kept.
            // A harvest killed before it removed its bundle leaves one; an hour on, it is nobody's.
            let packed = try await shell.exec("find \(Shell.quote(run.directory)) -maxdepth 1 -name '.harvest-*' -mmin +60 -delete; "
                                              + "cd \(Shell.quote(run.directory))/tasks && tar --format=gnu --null --no-recursion -T \(Shell.quote(bundle + ".list")) -cf \(Shell.quote(bundle + ".tar"))",
                                              stdin: nil, onOutput: nil)
            guard packed.status == 0 || packed.status == 1 else {
                throw CloudcError(.remote, "packing the outputs of \(run.id) failed on \(shell.endpoint.host) (exit \(packed.status))",
                                  fix: "check the run folder \(run.directory) on the frontend", cause: String(packed.stderr.suffix(300)))
            }
            archive = try await shell.download(bundle + ".tar")
        } catch {
            _ = try? await shell.exec(remove, stdin: nil, onOutput: nil)
            throw error
        }
        _ = try? await shell.exec(remove, stdin: nil, onOutput: nil)
        let listed = Set(names)
        var bytes = 0, copied = 0
        for entry in try TarReader.entries(archive) {
            // Only what was listed, as a plain file, at a path that stays below `local`.
            guard entry.isRegularFile, listed.contains(entry.path), let parts = SafeFiles.components(entry.path) else { continue }
            try SafeFiles.write(Data(entry.data), to: parts, under: local)
            bytes += entry.data.count
            copied += 1
        }
        progress.report("Copied \(copied) file(s), \(bytes) bytes, of \(tasks.count) task(s) into \(local)")
    }

    public func stderrTail(_ run: RunRecord, task: Int, lines: Int) async throws -> String {
        let result = try await shell.exec("tail -n \(lines) \(Shell.quote(run.directory))/tasks/\(task)/stderr 2>/dev/null", stdin: nil, onOutput: nil)
        return result.stdout
    }
}
