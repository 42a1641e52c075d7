import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram

/// `cachet unseal`: SealedSecrets back into Secrets with private keys (recovery, break-glass).
struct UnsealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal",
        abstract: "Open SealedSecrets (or one value, with --raw) with private keys (recovery).",
        discussion: """
            Reads SealedSecrets and writes the Secrets the controller would produce. The scope comes from each \
            SealedSecret's top-level annotations only. Nothing is written unless every item of every object opens.

            With --raw, reads one base64 sealed value on stdin (line breaks inside are ignored) and writes the exact \
            plaintext bytes to stdout; the scope flags must match how it was sealed.
            """
    )

    @Flag(help: "Open a single base64 value from stdin instead of SealedSecret manifests.")
    var raw = false

    @Option(name: .customLong("key"), parsing: .singleValue,
            help: "A PEM private key, an age identity file, a key directory (tls.key, age-identity.txt), or a Secret backup (kubectl get secret -o yaml). Repeatable.")
    var keys: [String] = []

    @Option(help: "With --raw: the scope the value was sealed for (strict, namespace-wide, cluster-wide; default strict). A SealedSecret's own annotations say its scope.")
    var scope: SealingScope.Kind?

    @Option(name: [.customShort("n"), .customLong("namespace")],
            help: "With --raw: the namespace it was sealed for. For SealedSecrets: the namespace of those that have none.")
    var namespace: String?

    @Option(help: "With --raw: the name it was sealed for (strict scope).")
    var name: String?

    @Option(help: "With --raw: the item key (encryptedData key) of a v2 value; format v2 binds it.")
    var item: String?

    @OptionGroup var ioOptions: ManifestIOOptions
    private var scopeValues: ScopeValues { ScopeValues(scope: scope, namespace: namespace, name: name) }
    private var io: ManifestIOValues { ioOptions.values }

    /// A sealed 1 MiB value is about 1.4 MiB of base64.
    static let rawInputLimit = 2 << 20

    func validate() throws {
        try scopeValues.validate()
        if raw {
            if io.file != nil || io.output != nil || io.format != nil {
                throw ValidationError("-f, -w and -o open manifests and cannot be used with --raw")
            }
            _ = try scopeValues.rawScope
        }
        if !raw, scope != nil || name != nil || item != nil {
            throw ValidationError("--scope, --name and --item apply to --raw only: a SealedSecret's scope comes from its own annotations")
        }
    }

    func run() throws {
        // Checked here rather than in validate(), which argument-parser runs before it reports an unknown option: a
        // mistyped flag must be named as such, not as a missing --key.
        guard !keys.isEmpty else { throw ValidationError("missing --key: name a private key file, key directory or key backup") }
        let keyRing = try KeyRing.load(paths: keys)
        if raw {
            try openRawValue(with: keyRing)
            return
        }
        let unsealer = Unsealer(keyRing: keyRing, namespace: namespace)
        var secrets: [ManifestValue] = []
        for object in try io.readObjects(what: "SealedSecret") {
            secrets.append(try inFile(io.inputName) { try unsealer.unseal(SealedSecretManifest(object)).manifestValue })
        }
        // The output holds plaintext: a file gets mode 0600.
        try io.write(secrets, mode: 0o600)
    }

    private func openRawValue(with keyRing: KeyRing) throws {
        let sealingScope = try scopeValues.rawScope
        let input = try SecretFiles.read("-", limit: Self.rawInputLimit)
        let text = input.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        let isV2 = SealedValue.isV2(text)
        if isV2, item == nil {
            throw CommandFailure.usage("this is a format v2 value, which binds its item key: pass --item KEY (its encryptedData key)")
        }
        if let item { try EnvelopeV2.validateItem(item) }
        do {
            try StandardStreams.writeOutput(try keyRing.open(sealedValue: text, scope: sealingScope, item: item ?? "").plaintext)
        } catch let error as CachetCryptoError where error.code == .cannotOpen {
            let count = isV2 ? keyRing.ageIdentities.count : keyRing.keys.count
            let tried = switch count {
            case 0: isV2 ? "no age identity (a v2 value needs age-identity.txt)" : "no RSA key (a v1 value needs tls.key)"
            case 1: "this key"
            default: "any of the \(count) keys"
            }
            let place = isV2 ? "scope \(sealingScope) and item \(item ?? "")" : "scope \(sealingScope)"
            throw CommandFailure(
                "cannot decrypt with \(tried) for \(place): wrong key, wrong scope\(isV2 ? " or item" : ""), or the value was altered",
                hint: sealingScope.kind == .strict ? "check -n/--namespace and --name, and --scope" : "check --scope and the key")
        }
    }
}
