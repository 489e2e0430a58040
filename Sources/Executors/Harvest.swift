import CloudcCore
import Foundation

/// What `cloudc harvest` and `cloudc jobs` make of collected tasks: one table from many
/// `results.csv`, and a count of task states.
public enum Harvest {
    /// Joins `local/<task>/<file>` of every task (a CSV file whose first line is its header) into
    /// one CSV: header `task,<names…>,<the file's header>`, then each data row prefixed with the
    /// task's index and grid values (in the order of `names`). Every file must have the same header.
    /// Tasks whose file is missing or empty are listed in `missing` (ascending); `rows` counts data rows.
    public static func collect(file: String, from local: String, tasks: [GridTask],
                               names: [String]) throws -> (table: String, rows: Int, missing: [Int]) {
        var header: (fields: [String], task: Int)?
        var lines: [String] = []
        var missing: [Int] = []
        for task in tasks.sorted(by: { $0.index < $1.index }) {
            let path = "\(local)/\(task.index)/\(file)"
            guard let data = FileManager.default.contents(atPath: path) else {
                missing.append(task.index)
                continue
            }
            let records = try CSV.parse(String(decoding: data, as: UTF8.self), file: path)
            guard let first = records.first else {
                missing.append(task.index)
                continue
            }
            if let header, header.fields != first {
                throw CloudcError(.usage, "task \(task.index)'s \(file) has the columns \(CSV.line(first)), but task \(header.task)'s has \(CSV.line(header.fields))",
                                  fix: "make every task write the same header line (see \(path)), or collect the files one by one from the harvest folder")
            }
            if header == nil { header = (first, task.index) }
            let values = names.map { name in task.values.first(where: { $0.name == name })?.value ?? "" }
            for record in records.dropFirst() {
                lines.append(CSV.line([String(task.index)] + values + record))
            }
        }
        let top = CSV.line(["task"] + names + (header?.fields ?? []))
        return ((([top] + lines).joined(separator: "\n")) + "\n", lines.count, missing)
    }

    /// How many tasks are in each state (states no task is in are absent).
    public static func summary(_ statuses: [TaskStatus]) -> [TaskState: Int] {
        var counts: [TaskState: Int] = [:]
        for status in statuses { counts[status.state, default: 0] += 1 }
        return counts
    }

    /// The order `summaryLine` names states in.
    public static let summaryOrder: [TaskState] = [.done, .running, .pending, .failed, .cancelled, .unknown]

    /// `10 tasks: 7 done, 2 running, 1 failed` (states with no task left out).
    public static func summaryLine(_ statuses: [TaskStatus]) -> String {
        summaryLine(summary(statuses))
    }

    public static func summaryLine(_ counts: [TaskState: Int]) -> String {
        let total = counts.values.reduce(0, +)
        let head = "\(total) task\(total == 1 ? "" : "s")"
        let parts = summaryOrder.compactMap { state in counts[state].flatMap { $0 > 0 ? "\($0) \(state.rawValue)" : nil } }
        return parts.isEmpty ? head : head + ": " + parts.joined(separator: ", ")
    }
}

/// RFC 4180 comma-separated values: fields with commas, quotes or line breaks are quoted, and
/// a quote inside one is doubled.
public enum CSV {
    /// The records of `text`; blank lines are skipped, `\r\n` is a line break like `\n`.
    public static func parse(_ text: String, file: String = "the CSV file") throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false        // inside quotes
        var wasQuoted = false     // the current field began with a quote
        var line = 1
        var quoteLine = 1         // where the open quote began
        var chars = Array(text.unicodeScalars)[...]
        func endRecord() {
            record.append(field)
            if !(record.count == 1 && record[0].isEmpty && !wasQuoted) { records.append(record) }
            record = []
            field = ""
            wasQuoted = false
        }
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.unicodeScalars.append("\"")
                        chars.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !wasQuoted:
                quoted = true
                wasQuoted = true
                quoteLine = line
            case ",":
                record.append(field)
                field = ""
                wasQuoted = false
            case "\r" where chars.first == "\n":
                continue
            case "\n":
                endRecord()
                line += 1
            default:
                field.unicodeScalars.append(c)
            }
        }
        if quoted {
            throw CloudcError(.usage, "\(file) has a quoted field that is never closed (from line \(quoteLine))",
                              fix: "close the field with '\"' (a quote inside a field is written '\"\"')")
        }
        if !field.isEmpty || !record.isEmpty || wasQuoted { endRecord() }
        return records
    }

    /// One field, quoted when it holds a comma, a quote, a line break, or leading/trailing space.
    public static func field(_ text: String) -> String {
        let special = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        let padded = text.first?.isWhitespace == true || text.last?.isWhitespace == true
        guard special || padded else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One record as a line (no line break at the end).
    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",")
    }
}
