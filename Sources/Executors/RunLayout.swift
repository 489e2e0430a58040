import CloudcCore
import Foundation

/// The run directory, the same for every executor:
///
/// ```
/// <run>/
///   run.sh             `run.sh INDEX` runs one task (SLURM's array index, or the local executor's)
///   work/              the submitted --dir, which each task sees (as links) in its own folder
///   tasks/<i>/
///     command          the task's shell command, its braces replaced
///     values.env       CLOUDC_TASK, CLOUDC_RUN and one CLOUDC_<NAME> per grid value
///     values.json      the same values, for tools
///     stdout, stderr   the command's output
///     exit             its exit status, written (atomically) when it ends
///     …                whatever the command writes (results.csv)
/// ```
public enum RunLayout {
    public static let wrapper = "run.sh"
    public static let work = "work"

    public static func taskDirectory(_ index: Int) -> String { "tasks/\(index)" }

    /// The wrapper: makes the task's folder, links the work files into it, sets the values,
    /// runs the command with its output in files, and records the exit status last.
    public static let wrapperScript = """
    #!/bin/bash
    # cloudc task wrapper: run.sh INDEX (SLURM passes SLURM_ARRAY_TASK_ID)
    set -u
    run="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    index="${1:-${SLURM_ARRAY_TASK_ID:?run.sh needs a task index}}"
    task="$run/tasks/$index"
    cd "$task" || exit 97
    rm -f exit exit.tmp
    if [ -d "$run/work" ]; then cp -rs "$run/work/." . 2>/dev/null || true; fi
    . ./values.env
    bash ./command >stdout 2>stderr </dev/null
    status=$?
    echo "$status" >exit.tmp && mv -f exit.tmp exit
    exit "$status"

    """

    /// The environment variable a grid value is exported as: `lr` → `CLOUDC_LR`, `p-1` → `CLOUDC_P_1`.
    public static func variable(_ name: String) -> String {
        "CLOUDC_" + String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// `values.env` of a task.
    public static func valuesEnv(_ task: GridTask, runDirectory: String) -> String {
        var lines = ["export CLOUDC_TASK=\(task.index)", "export CLOUDC_RUN=\(Shell.quote(runDirectory))"]
        for value in task.values {
            lines.append("export \(variable(value.name))=\(Shell.quote(value.value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `values.json` of a task: `{"task": 3, "lr": "0.1", "seed": "2"}` (keys sorted).
    public static func valuesJSON(_ task: GridTask) -> String {
        var object: [String: Any] = ["task": task.index]
        for value in task.values { object[value.name] = value.value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Every file the run directory needs for `tasks` (paths relative to it), with their modes.
    public static func files(for tasks: [GridTask], runDirectory: String) -> [(path: String, text: String, mode: Int32)] {
        var files: [(path: String, text: String, mode: Int32)] = [(wrapper, wrapperScript, 0o755)]
        for task in tasks {
            let folder = taskDirectory(task.index)
            files.append(("\(folder)/command", task.command + "\n", 0o644))
            files.append(("\(folder)/values.env", valuesEnv(task, runDirectory: runDirectory), 0o644))
            files.append(("\(folder)/values.json", valuesJSON(task), 0o644))
        }
        return files
    }

}
