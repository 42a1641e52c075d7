import ArgumentParser
import CachetCrypto
import CachetManifests

/// `cachet seal`: Secrets in, SealedSecrets out (or one value with `--raw`), with only the public key.
struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal Secrets (or one value, with --raw) to the cluster's public key.",
        discussion: """
            Reads Secret manifests (YAML, or JSON as kubectl writes it; several documents or a List) and writes a \
            SealedSecret for each. Unquoted YAML values that kubectl would read as something other than text \
            (yes, 0755, ~) are refused: quote them.

            With --raw, seals the bytes read from stdin (or --from-file) exactly as given, trailing newline included \
            (use printf or echo -n), and prints the sealed value as one line of base64 with no trailing newline.
            """
    )

    /// Kubernetes refuses Secrets above 1 MiB, so a larger value could never be used.
    static let rawValueLimit = 1 << 20

    @Flag(help: "Seal a single value read from stdin or --from-file, instead of Secret manifests.")
    var raw = false

    @Option(help: "The certificate to seal to: a file (or PEM public key, or key directory), or an https:// URL (default: fetched from the controller).")
    var cert: String?

    @Option(name: .customLong("cert-ca"), help: "With an https:// --cert: the CA certificate to verify the server with (default: the system's).")
    var certificateAuthority: String?

    @OptionGroup(title: "Without --cert, the certificate comes from the controller") var controller: ControllerOptions
    @OptionGroup var scope: ScopeOptions
    @OptionGroup var io: ManifestIOOptions

    @Flag(name: .customLong("allow-empty-data"), help: "Seal a Secret that has no data or stringData.")
    var allowEmptyData = false

    @Option(name: .customLong("keep-annotation"), parsing: .singleValue,
            help: "Also copy the Secret's annotations with this prefix to the SealedSecret itself (e.g. argocd.argoproj.io/). Repeatable.")
    var keepAnnotations: [String] = []

    @Option(name: .customLong("merge-into"),
            help: "Seal the items into this existing SealedSecret file, changing only their entries.")
    var mergeInto: String?

    @Option(name: .customLong("from-file"),
            help: "With --raw: read the value from this file ([key=]path, as kubeseal; the key is ignored).")
    var fromFile: String?

    /// kubeseal's `--from-file=[key=]path`: the part after the first `=` is the path, unless the whole argument
    /// names an existing file.
    static func path(fromFileArgument argument: String) -> String {
        guard !SecretFiles.exists(argument), let equals = argument.firstIndex(of: "=") else { return argument }
        return String(argument[argument.index(after: equals)...])
    }
}

extension SealCommand {
    /// What no single option group can check (each group validates itself first).
    func validate() throws {
        let io = self.io.values, scope = self.scope.values
        if raw {
            let manifestOnly: [(Bool, String)] = [
                (io.file != nil, "-f"), (io.output != nil, "-w"), (io.format != nil, "-o"), (mergeInto != nil, "--merge-into"),
                (!keepAnnotations.isEmpty, "--keep-annotation"), (allowEmptyData, "--allow-empty-data"),
            ]
            if let (_, flag) = manifestOnly.first(where: { $0.0 }) {
                throw ValidationError("\(flag) seals manifests and cannot be used with --raw")
            }
            if (scope.scope ?? .strict) == .strict, scope.name == nil {
                throw ValidationError("--scope strict needs --name (and -n/--namespace, else the kubeconfig's namespace)")
            }
        } else {
            if fromFile != nil { throw ValidationError("--from-file works only with --raw (a single value)") }
            if mergeInto != nil, io.output != nil { throw ValidationError("--merge-into rewrites its file; do not also pass -w") }
        }
    }

    func run() throws {
        let controller = self.controller.values, io = self.io.values, scope = self.scope.values
        let key: SealingKey
        if let cert {
            key = try KeyFiles.readSealingKey(at: cert, certificateAuthority: certificateAuthority)
        } else {
            let client = controller.client
            key = try KeyFiles.sealingKey(pem: try ControllerCalls.fetchCertificate(client), source: client.target)
        }
        if raw {
            try sealRawValue(to: key)
            return
        }
        var sealer = Sealer(sealingKey: key)
        sealer.scope = scope.scope
        sealer.namespace = scope.namespace
        sealer.name = scope.name
        sealer.keepAnnotationPrefixes = keepAnnotations
        sealer.allowEmptyData = allowEmptyData

        let objects = try io.readObjects(what: "Secret")
        // As kubeseal: a Secret without a namespace (`kubectl create secret … --dry-run=client -o yaml` writes none)
        // is sealed for the kubeconfig context's, and a warning says which.
        if scope.namespace == nil, objects.contains(where: { $0.node["metadata"]?["namespace"] == nil }) {
            sealer.defaultNamespace = try controller.defaultNamespace()
        }
        if let mergeInto {
            try SealedFileMerge.merge(objects, into: mergeInto, sealer: sealer, explicitScope: scope.scope, inputName: io.inputName)
            return
        }
        var sealed: [ManifestValue] = []
        for object in objects {
            let result = try inFile(io.inputName) { try sealer.seal(SecretManifest(object)) }
            for warning in result.warnings {
                StandardStreams.warn("\(io.inputName): document \(object.document) (\(object.label)): \(warning)")
            }
            sealed.append(result.sealedSecret.manifestValue)
        }
        try io.write(sealed, mode: 0o644)
    }

    private func sealRawValue(to key: SealingKey) throws {
        let controller = self.controller.values
        var scope = self.scope.values
        if scope.namespace == nil, (scope.scope ?? .strict) != .clusterWide {
            let fallback = try controller.defaultNamespace()
            scope.namespace = fallback.namespace
            StandardStreams.warn("sealing for namespace \"\(fallback.namespace)\" (\(fallback.origin)); pass -n to choose")
        }
        let sealingScope = try scope.rawScope
        let value = try SecretFiles.read(fromFile.map(SealCommand.path(fromFileArgument:)) ?? "-", limit: SealCommand.rawValueLimit)
        try StandardStreams.writeOutput(try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: sealingScope))
    }
}
