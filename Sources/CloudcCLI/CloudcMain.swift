import ArgumentParser
import CloudcCore
import Foundation

public enum CloudcMain {
    /// Runs the command line of this process and exits with its status.
    public static func run() async {
        let status = await run(arguments: Array(CommandLine.arguments.dropFirst()), context: .process)
        exit(status)
    }

    /// Runs one command line in `context`; returns the exit status. Errors are printed, never thrown.
    public static func run(arguments: [String], context: CLIContext) async -> Int32 {
        await CLIContext.$current.withValue(context) {
            do {
                var command = try Cloudc.parseAsRoot(arguments)
                if var asyncCommand = command as? AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
                return 0
            } catch let error as CloudcError {
                context.errorOutput("error: \(error.description)")
                return error.code == .usage ? 2 : 1
            } catch {
                let message = Cloudc.fullMessage(for: error)
                let status = Cloudc.exitCode(for: error).rawValue
                if !message.isEmpty {
                    if status == 0 { context.output(message) } else { context.errorOutput(message) }
                }
                return status
            }
        }
    }
}
