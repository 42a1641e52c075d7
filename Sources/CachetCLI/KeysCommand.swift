import ArgumentParser

/// `cachet keys`: make and examine key pairs.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, list and inspect key pairs; report which keys values still need.",
        subcommands: [KeysGenerateCommand.self, KeysListCommand.self, KeysInspectCommand.self, KeysReportCommand.self]
    )

    func run() throws {
        throw ValidationError("name a command: generate, list, inspect or report (cachet keys --help describes them)")
    }
}
