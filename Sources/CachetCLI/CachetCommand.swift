import ArgumentParser

/// `cachet`: seal Kubernetes Secrets for GitOps.
struct CachetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachet",
        abstract: "Seal Kubernetes Secrets so that only ciphertext lands in git.",
        discussion: """
            Values are sealed to the cluster's public key; only cachet-controller, which holds the private keys, \
            can open them. The sealed format is Bitnami sealed-secrets' (docs/wire-format.md).
            """,
        version: CachetVersion.current,
        subcommands: [SealCommand.self, UnsealCommand.self, CheckCommand.self, CertCommand.self, RecipientsCommand.self, ValidateCommand.self, ReencryptCommand.self, KeysCommand.self,
                      KubesealCommand.self]
    )

    /// No subcommand is a usage mistake (exit 64), not a request for help: `cachet < s.json > sealed.json` must not
    /// write the help text into the file and report success.
    func run() throws {
        throw ValidationError("name a command: seal, unseal, check, cert, validate, reencrypt or keys (cachet --help describes them)")
    }
}

enum CachetVersion {
    static let current = "0.1.0-dev"
}
