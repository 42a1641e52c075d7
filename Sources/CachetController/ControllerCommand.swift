import ArgumentParser

/// `cachet-controller`: the decrypting side, which alone holds the private keys.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachet-controller",
        abstract: "Decrypt SealedSecrets: render mode for sync pipelines, and a development API server (the in-cluster controller comes next).",
        version: "0.1.0-dev",
        subcommands: [RenderCommand.self, DevClusterCommand.self]
    )
}
