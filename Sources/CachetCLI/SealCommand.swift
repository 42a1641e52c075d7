import ArgumentParser
import CachetCrypto
import CachetManifests

/// `cachet seal`: Secrets in, SealedSecrets out (or one value with `--raw`), with only the public key.
struct SealCommand: ParsableCommand {
    static let configuration: CommandConfiguration = {
        var configuration = CommandConfiguration(
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
        // `cachet seal` is parsed with SealCommand as the root (see CachetMain): this names it in usage and help, and
        // tells the parser that it is a subcommand, so it skips the completion-script probe only a root needs.
        configuration._superCommandName = "cachet"
        return configuration
    }()

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

    var values: SealValues {
        SealValues(raw: raw, cert: cert, certificateAuthority: certificateAuthority, controller: controller.values,
                   scope: scope.values, io: io.values, allowEmptyData: allowEmptyData, keepAnnotations: keepAnnotations,
                   mergeInto: mergeInto, fromFile: fromFile)
    }

    func validate() throws {
        try values.validate()
    }

    func run() throws {
        try values.run()
    }

    /// kubeseal's `--from-file=[key=]path`: the part after the first `=` is the path, unless the whole argument
    /// names an existing file.
    static func path(fromFileArgument argument: String) -> String {
        guard !SecretFiles.exists(argument), let equals = argument.firstIndex(of: "=") else { return argument }
        return String(argument[argument.index(after: equals)...])
    }
}

/// Everything `cachet seal` was asked to do, as plain values, and the doing of it. ``SealCommand`` declares the
/// flags for argument-parser; ``init(quickParsing:)`` reads the common invocations without it.
struct SealValues: Equatable {
    var raw: Bool
    var cert: String?
    var certificateAuthority: String?
    var controller: ControllerValues
    var scope: ScopeValues
    var io: ManifestIOValues
    var allowEmptyData: Bool
    var keepAnnotations: [String]
    var mergeInto: String?
    var fromFile: String?

    func validate() throws {
        try scope.validate()
        try io.validate()
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
        var scope = self.scope
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

// MARK: - The quick parser

extension SealValues {
    /// Reads `cachet seal`'s arguments without argument-parser, whose reflection over the command's twenty-odd
    /// options is most of `cachet seal`'s start-up. It understands only the plain forms — `--flag value`,
    /// `--flag=value`, `-f value`, and the two boolean flags — and returns nil for anything else (help, unknown
    /// or repeated options, values starting with `-`, bad enum values, positional arguments), so that
    /// argument-parser handles it and reports errors exactly as it always does. A test checks that wherever this
    /// parser answers, argument-parser gives the same values.
    init?(quickParsing arguments: [String]) {
        var values = SealValues(raw: false, controller: ControllerValues(), scope: ScopeValues(), io: ManifestIOValues(),
                                allowEmptyData: false, keepAnnotations: [])
        var seen: Set<String> = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            var name = argument
            var value: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            if name == "--raw" || name == "--allow-empty-data" {
                guard value == nil, seen.insert(name).inserted else { return nil }
                if name == "--raw" { values.raw = true } else { values.allowEmptyData = true }
                continue
            }
            guard let field = Self.quickOptions[name] else { return nil }
            if value == nil {
                guard index < arguments.count, !arguments[index].hasPrefix("-") else { return nil }
                value = arguments[index]
                index += 1
            }
            // argument-parser refuses an empty `--flag=`; leave that to it.
            guard let value, !value.isEmpty else { return nil }
            if field == .keepAnnotation {
                values.keepAnnotations.append(value)
                continue
            }
            guard seen.insert(field.rawValue).inserted else { return nil }
            switch field {
            case .cert: values.cert = value
            case .certificateAuthority: values.certificateAuthority = value
            case .controllerName: values.controller.name = value
            case .controllerNamespace: values.controller.namespace = value
            case .controllerURL: values.controller.url = value
            case .controllerCA: values.controller.certificateAuthority = value
            case .kubeconfig: values.controller.kubeconfig = value
            case .context: values.controller.context = value
            case .scope:
                guard let kind = SealingScope.Kind(rawValue: value) else { return nil }
                values.scope.scope = kind
            case .namespace: values.scope.namespace = value
            case .name: values.scope.name = value
            case .file: values.io.file = value
            case .format:
                guard let format = ManifestFormatOption(rawValue: value) else { return nil }
                values.io.format = format
            case .output: values.io.output = value
            case .mergeInto: values.mergeInto = value
            case .fromFile: values.fromFile = value
            case .keepAnnotation: break
            }
        }
        self = values
    }

    enum QuickField: String {
        case cert, certificateAuthority, controllerName, controllerNamespace, controllerURL, controllerCA, kubeconfig,
             context, scope, namespace, name, file, format, output, mergeInto, fromFile, keepAnnotation
    }

    /// Every spelling of every option `SealCommand` declares, and the field it sets.
    static let quickOptions: [String: QuickField] = [
        "--cert": .cert, "--cert-ca": .certificateAuthority,
        "--controller-name": .controllerName, "--controller-namespace": .controllerNamespace,
        "--controller-url": .controllerURL, "--controller-ca": .controllerCA, "--kubeconfig": .kubeconfig,
        "--context": .context, "--scope": .scope, "-n": .namespace, "--namespace": .namespace, "--name": .name,
        "-f": .file, "--file": .file, "--secret-file": .file, "-o": .format, "--format": .format,
        "-w": .output, "--sealed-secret-file": .output, "--merge-into": .mergeInto, "--from-file": .fromFile,
        "--keep-annotation": .keepAnnotation,
    ]
}
