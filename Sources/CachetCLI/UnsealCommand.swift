import ArgumentParser
import CachetCrypto

/// `cachet unseal --raw`: open one sealed value with a private key (recovery, break-glass).
struct UnsealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal",
        abstract: "Open a sealed value with a private key (recovery).",
        discussion: """
            With --raw, reads one base64 sealed value on stdin (line breaks inside are ignored) and writes the exact \
            plaintext bytes to stdout. Nothing is written unless the value opens.
            """
    )

    @Flag(help: "Open a single value (the only mode so far).")
    var raw = false

    @Option(name: .customLong("key"), parsing: .singleValue,
            help: "A PEM private key, or a key directory holding tls.key. Repeat to try several keys.")
    var keys: [String] = []

    @OptionGroup var scope: ScopeOptions

    /// A sealed 1 MiB value is about 1.4 MiB of base64.
    static let inputLimit = 2 << 20

    func validate() throws {
        guard raw else { throw ValidationError("cachet unseal opens single values only so far; pass --raw") }
        guard !keys.isEmpty else { throw ValidationError("missing --key: name a private key file or key directory") }
    }

    func run() throws {
        let sealingScope = try scope.sealingScope
        let privateKeys = try keys.map { path throws in try KeyFiles.readPrivateKey(at: path) }
        let input = try StandardStreams.readAll(from: 0, limit: Self.inputLimit, what: "the sealed value on stdin")
        let envelope = try input.withUnsafeBytes { try Base64.decode(utf8: Array($0)) }
        let keyLength = try EnvelopeV1.wrappedKeyLength(of: envelope)
        // Only keys of the size the value declares can open it; skip the others without RSA work.
        for key in privateKeys where key.publicKey.modulusByteCount == keyLength {
            if let plaintext = try? EnvelopeV1.open(envelope, with: key, scope: sealingScope) {
                try StandardStreams.writeOutput(plaintext)
                return
            }
        }
        let tried = privateKeys.count == 1 ? "this key" : "any of the \(privateKeys.count) keys"
        throw CommandFailure(
            "cannot decrypt with \(tried) for scope \(sealingScope): wrong key, wrong scope, or the value was altered",
            hint: sealingScope.kind == .strict ? "check -n/--namespace and --name, and --scope" : "check --scope and the key")
    }
}
