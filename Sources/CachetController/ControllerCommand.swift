import ArgumentParser

/// `cachet-controller`: the decrypting side, which alone holds the private keys.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachet-controller",
        abstract: "Decrypt SealedSecrets: the in-cluster controller, render mode for sync pipelines, and a development API server.",
        version: "0.1.0-dev",
        subcommands: [RunCommand.self, RenderCommand.self, DevClusterCommand.self]
    )
}
