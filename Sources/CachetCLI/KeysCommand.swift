import ArgumentParser

/// `cachet keys`: make and examine key pairs.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, list and inspect key pairs.",
        subcommands: [KeysGenerateCommand.self, KeysListCommand.self, KeysInspectCommand.self]
    )

    func run() throws {
        throw ValidationError("name a command: generate, list or inspect (cachet keys --help describes them)")
    }
}
