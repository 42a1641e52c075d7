import ArgumentParser

/// `cachet-controller`: the decrypting side, which alone holds the private keys.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachet-controller",
        abstract: "Decrypt SealedSecrets: the in-cluster controller, and render mode for sync pipelines.",
        version: "0.1.0-dev",
        subcommands: [RunCommand.self, RenderCommand.self]
    )

    /// No subcommand is a usage mistake (exit 64), not a request for help: help on stdout with exit 0 would land in a
    /// pipeline's output as if it were manifests.
    func run() async throws {
        throw ValidationError("name a command: run or render (cachet-controller --help describes them)")
    }
}
