import Executors
import Foundation
import Testing
import TestSupport

@Suite struct RunLayoutTests {
    @Test func valuesBecomeQuotedVariables() {
        let task = GridTask(index: 3, values: [GridValue(name: "lr", value: "0.1"), GridValue(name: "note", value: "it's")],
                            command: "python train.py --lr 0.1")
        #expect(RunLayout.valuesEnv(task, runDirectory: "/home/u/cloudc-runs/r1") == """
        export CLOUDC_TASK=3
        export CLOUDC_RUN=/home/u/cloudc-runs/r1
        export CLOUDC_LR=0.1
        export CLOUDC_NOTE='it'\\''s'

        """)
        #expect(RunLayout.valuesJSON(task) == "{\"lr\":\"0.1\",\"note\":\"it's\",\"task\":3}\n")
        #expect(RunLayout.variable("learning-rate") == "CLOUDC_LEARNING_RATE")
    }

    /// The wrapper, run by bash for real: links the work files, sets the values, records output and exit status.
    @Test func theWrapperRunsATaskInItsOwnFolder() async throws {
        let run = try TemporaryDirectory("cloudc-run")
        let task = GridTask(index: 2, values: [GridValue(name: "seed", value: "7")],
                            command: "cat input.txt; echo \"task $CLOUDC_TASK seed $CLOUDC_SEED\" > out.txt; echo oops >&2; exit 3")
        for file in RunLayout.files(for: [task], runDirectory: run.path) {
            let path = try run.write(file.path, file.text)
            #expect(chmod(path, mode_t(file.mode)) == 0)
        }
        _ = try run.write("work/input.txt", "from work\n")
        let result = try await Run.programOffPool("/bin/bash", [run.path + "/run.sh", "2"])
        #expect(result.status == 3)
        let folder = run.path + "/tasks/2/"
        #expect(try String(contentsOfFile: folder + "out.txt", encoding: .utf8) == "task 2 seed 7\n")
        #expect(try String(contentsOfFile: folder + "stdout", encoding: .utf8) == "from work\n")
        #expect(try String(contentsOfFile: folder + "stderr", encoding: .utf8) == "oops\n")
        #expect(try String(contentsOfFile: folder + "exit", encoding: .utf8) == "3\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: folder + "input.txt") == run.path + "/work/./input.txt"
            || FileManager.default.destinationOfSymbolicLink(atPath: folder + "input.txt").hasSuffix("work/input.txt"))
    }
}
