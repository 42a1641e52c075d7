import ArgumentParser

/// `cachet keys`: make and examine key pairs.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, list and inspect key pairs; report which keys values still need; back up and restore a controller's keys.",
        subcommands: [KeysGenerateCommand.self, KeysListCommand.self, KeysInspectCommand.self, KeysReportCommand.self, KeysBackupCommand.self, KeysRestoreCommand.self]
    )

    func run() throws {
        throw ValidationError("name a command: generate, list, inspect, report, backup or restore (cachet keys --help describes them)")
    }
}
