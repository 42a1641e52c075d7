import ArgumentParser
import CachetCrypto

/// `cachet seal --raw`: seal one value, as `kubeseal --raw` does.
struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal a value to the cluster's public key.",
        discussion: """
            With --raw, seals the bytes read from stdin (or --from-file) exactly as given, trailing newline included \
            (use printf or echo -n), and prints the sealed value as one line of base64 with no trailing newline. \
            Put it under spec.encryptedData of a SealedSecret with the matching scope annotation.
            """
    )

    /// Kubernetes refuses Secrets above 1 MiB, so a larger value could never be used.
    static let valueLimit = 1 << 20

    @Flag(help: "Seal a single value (the only mode so far).")
    var raw = false

    @Option(help: "The certificate (or PEM public key, or key directory) to seal to, e.g. keys.example/tls.crt.")
    var cert: String

    @OptionGroup var scope: ScopeOptions

    @Option(name: .customLong("from-file"),
            help: "Read the value from this file instead of stdin ([key=]path, as kubeseal; the key is ignored).")
    var fromFile: String?

    func validate() throws {
        guard raw else {
            throw ValidationError("cachet seal seals single values only so far; pass --raw")
        }
    }

    func run() throws {
        let sealingScope = try scope.sealingScope
        let key = try KeyFiles.readSealingKey(at: cert)
        let value = try readValue()
        let sealed = try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: sealingScope)
        try StandardStreams.writeOutput(sealed)
    }

    private func readValue() throws -> SecureBytes {
        guard let fromFile else {
            return try StandardStreams.readAll(from: 0, limit: Self.valueLimit, what: "the value on stdin")
        }
        let path = Self.path(fromFileArgument: fromFile)
        return try KeyFiles.readFile(path, limit: Self.valueLimit)
    }

    /// kubeseal's `--from-file=[key=]path`: the part after the first `=` is the path, unless the whole argument
    /// names an existing file.
    static func path(fromFileArgument argument: String) -> String {
        guard !KeyFiles.exists(argument), let equals = argument.firstIndex(of: "=") else { return argument }
        return String(argument[argument.index(after: equals)...])
    }
}
