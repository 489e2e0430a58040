import CloudcCore
@testable import Executors
import Foundation
import Testing
import TestSupport

@Suite struct HarvestTests {
    @Test func tenTasksBecomeOneTableWithTheirGridValues() throws {
        let local = try TemporaryDirectory("cloudc-harvest")
        let grid = try Grid.expand(["python", "train.py", "--lr", "{0.1,0.01}", "--seed", "{1..5}"])
        for task in grid.tasks {
            let lr = task.values[0].value, seed = task.values[1].value
            _ = try local.write("\(task.index)/results.csv", "epoch,loss\n1,\(lr)\(seed)\n")
        }
        let result = try Harvest.collect(file: "results.csv", from: local.path, tasks: grid.tasks, names: grid.names)
        #expect(result.rows == 10)
        #expect(result.missing.isEmpty)
        #expect(result.table == """
        task,lr,seed,epoch,loss
        1,0.1,1,1,0.11
        2,0.1,2,1,0.12
        3,0.1,3,1,0.13
        4,0.1,4,1,0.14
        5,0.1,5,1,0.15
        6,0.01,1,1,0.011
        7,0.01,2,1,0.012
        8,0.01,3,1,0.013
        9,0.01,4,1,0.014
        10,0.01,5,1,0.015

        """)
    }

    @Test func quotesWhatNeedsIt() throws {
        let local = try TemporaryDirectory("cloudc-harvest")
        let grid = try Grid.expand(["run", "--note", "{a\\,b,say \"hi\"}"])
        #expect(grid.tasks.map { $0.values[0].value } == ["a,b", "say \"hi\""])
        _ = try local.write("1/out.csv", "name,text\r\nx,\"two\nlines\"\r\n\r\n")
        _ = try local.write("2/out.csv", "\"name\",text\ny,\"with \"\"quotes\"\"\"\nz, padded \n")
        let result = try Harvest.collect(file: "out.csv", from: local.path, tasks: grid.tasks, names: grid.names)
        #expect(result.rows == 3)
        #expect(result.table == #"""
        task,note,name,text
        1,"a,b",x,"two
        lines"
        2,"say ""hi""",y,"with ""quotes"""
        2,"say ""hi""",z," padded "

        """#)
        // What it wrote reads back as the same fields.
        let parsed = try CSV.parse(result.table)
        #expect(parsed[1] == ["1", "a,b", "x", "two\nlines"])
        #expect(parsed[2] == ["2", "say \"hi\"", "y", "with \"quotes\""])
    }

    @Test func differingHeadersNameTheTask() throws {
        let local = try TemporaryDirectory("cloudc-harvest")
        let grid = try Grid.expand(["run", "{1..3}"])
        _ = try local.write("1/r.csv", "a,b\n1,2\n")
        _ = try local.write("2/r.csv", "a,b\n3,4\n")
        _ = try local.write("3/r.csv", "a,c\n5,6\n")
        let error = try #require(throws: CloudcError.self) {
            try Harvest.collect(file: "r.csv", from: local.path, tasks: grid.tasks, names: grid.names)
        }
        #expect(error.message == "task 3's r.csv has the columns a,c, but task 1's has a,b")
        #expect(error.fix?.contains("same header") == true)
    }

    @Test func tasksWithoutTheFileAreMissing() throws {
        let local = try TemporaryDirectory("cloudc-harvest")
        let grid = try Grid.expand(["run", "--k", "{1..4}"])
        _ = try local.write("2/r.csv", "v\n20\n21\n")
        _ = try local.write("3/r.csv", "")
        _ = try local.write("4/r.csv", "v\n")
        let result = try Harvest.collect(file: "r.csv", from: local.path, tasks: grid.tasks, names: grid.names)
        #expect(result.missing == [1, 3])
        #expect(result.rows == 2)
        #expect(result.table == "task,k,v\n2,2,20\n2,2,21\n")

        let none = try Harvest.collect(file: "nothing.csv", from: local.path, tasks: grid.tasks, names: grid.names)
        #expect(none.table == "task,k\n")
        #expect(none.rows == 0)
        #expect(none.missing == [1, 2, 3, 4])
    }

    @Test func anUnclosedQuoteIsAnError() throws {
        let error = try #require(throws: CloudcError.self) { try CSV.parse("a,b\n1,\"open\n2,3\n", file: "t/r.csv") }
        #expect(error.message == "t/r.csv has a quoted field that is never closed (from line 2)")
    }

    @Test(arguments: [
        ("a,b\n1,2", [["a", "b"], ["1", "2"]]),
        ("a,b\n\n1,2\n", [["a", "b"], ["1", "2"]]),
        ("a,,c\n", [["a", "", "c"]]),
        ("\"\"\n", [[""]]),
        (",\n", [["", ""]]),
        ("x\r\ny\r\n", [["x"], ["y"]]),
        ("\"a\"\"b\",c", [["a\"b", "c"]]),
    ])
    func parsesCSV(_ text: String, _ records: [[String]]) throws {
        #expect(try CSV.parse(text) == records)
    }

    @Test(arguments: [
        ("plain", "plain"), ("a,b", "\"a,b\""), ("q\"q", "\"q\"\"q\""), ("l\nl", "\"l\nl\""), ("", ""), (" x", "\" x\""),
    ])
    func quotesFields(_ field: String, _ written: String) {
        #expect(CSV.field(field) == written)
    }

    @Test func summarisesStates() {
        let statuses = (1...7).map { TaskStatus(index: $0, state: .done, exitCode: 0) }
            + [TaskStatus(index: 8, state: .running), TaskStatus(index: 9, state: .running),
               TaskStatus(index: 10, state: .failed, exitCode: 1)]
        #expect(Harvest.summary(statuses) == [.done: 7, .running: 2, .failed: 1])
        #expect(Harvest.summaryLine(statuses) == "10 tasks: 7 done, 2 running, 1 failed")
        #expect(Harvest.summaryLine([TaskStatus(index: 1, state: .pending)]) == "1 task: 1 pending")
        #expect(Harvest.summaryLine([]) == "0 tasks")
        #expect(Harvest.summaryLine([.cancelled: 2, .unknown: 1, .done: 0]) == "3 tasks: 2 cancelled, 1 unknown")
    }
}
