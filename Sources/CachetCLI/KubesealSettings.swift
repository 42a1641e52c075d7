#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram

/// A `kubeseal` invocation with its variables applied, and the doing of it in kubeseal's order of modes.
struct KubesealSettings {
    var certificate: String?
    var controller: ControllerValues
    var format: ManifestFormat
    var output: String?
    var input: String?
    var fetchCertificate: Bool
    var allowEmptyData: Bool
    var validate: Bool
    var mergeInto: String?
    var raw: Bool
    var name: String?
    var fromFile: [String]
    var scope: SealingScope.Kind?
    var reEncrypt: Bool
    var recoveryUnseal: Bool
    var recoveryPrivateKeys: [String]
    var namespace: String?
    var printVersion: Bool

    init(_ command: KubesealCommand, environment: [String: String]) throws {
        let unsupported = command.unsupportedOverrides(environment)
        if let first = unsupported.first {
            throw CommandFailure("\(first) is not supported by cachet's kubeseal yet",
                                 hint: "set the cluster, user and credentials in the kubeconfig (--kubeconfig, --context)")
        }
        func text(_ given: String?, _ flag: String) -> String? { command.value(given, flag, environment) }
        func flag(_ given: Bool?, _ name: String) throws -> Bool { try command.boolean(given, name, environment) }
        certificate = text(command.cert, "cert")
        controller = ControllerValues(name: text(command.controllerName, "controller-name"),
                                      namespace: text(command.controllerNamespace, "controller-namespace"),
                                      kubeconfig: text(command.kubeconfig, "kubeconfig"), context: text(command.context, "context"),
                                      overrides: KubeConfig.Overrides(server: text(command.server, "server"), token: text(command.token, "token")))
        output = text(command.output, "sealed-secret-file")
        input = text(command.input, "secret-file")
        fetchCertificate = try flag(command.fetchCert, "fetch-cert")
        allowEmptyData = try flag(command.allowEmptyData, "allow-empty-data")
        validate = try flag(command.validate, "validate")
        mergeInto = text(command.mergeInto, "merge-into")
        raw = try flag(command.raw, "raw")
        name = text(command.name, "name")
        fromFile = command.list(command.fromFile, "from-file", environment)
        reEncrypt = try flag(command.reEncrypt, "re-encrypt") || flag(command.rotate, "rotate")
        recoveryUnseal = try flag(command.recoveryUnseal, "recovery-unseal")
        recoveryPrivateKeys = command.list(command.recoveryPrivateKey, "recovery-private-key", environment)
        namespace = text(command.namespace, "namespace")
        printVersion = try flag(command.version, "version")
        if let given = text(command.scope, "scope") {
            guard let kind = SealingScope.Kind(rawValue: given) else {
                throw CommandFailure("--scope: \(given) is not strict, namespace-wide or cluster-wide")
            }
            scope = kind
        }
        let formatName = text(command.format, "format") ?? "json"
        guard let chosen = ManifestFormatOption(rawValue: formatName) else {
            throw CommandFailure("unsupported output format: \(formatName)")
        }
        format = chosen == .yaml ? .yaml : .json
        // kubeseal's two adjustments: --re-encrypt with -f and no -w rewrites the input file, and an output file
        // named .yaml or .yml is written as YAML whatever -o says.
        if reEncrypt, output == nil, let input { output = input }
        if let output, ManifestFormat.implied(byPath: output) == .yaml { format = .yaml }
        if let namespace {
            do { try SealingScope.validateNamespace(namespace) } catch let error as CachetCryptoError { throw CommandFailure(error.message) }
        }
    }

    func run() throws {
        if printVersion {
            try StandardStreams.writeOutput("kubeseal version: cachet-\(CachetVersion.current)\n")
            return
        }
        if !fromFile.isEmpty, !raw { throw CommandFailure("--from-file requires --raw") }
        if input == nil, !raw, !fetchCertificate, isatty(0) == 1 {
            StandardError.write("(tty detected: expecting json/yaml k8s resource in stdin)")
        }
        if recoveryUnseal { return try unseal() }
        if !recoveryPrivateKeys.isEmpty, isatty(2) == 1 {
            StandardError.write("warning: ignoring --recovery-private-key because unseal command not chosen with --recovery-unseal")
        }
        if validate { return try validateWithController() }
        if reEncrypt { return try reencrypt() }
        let (pem, source) = try certificatePEM()
        let key = try KeyFiles.sealingKey(pem: pem, source: source)  // checked before --fetch-cert writes it, too
        if fetchCertificate { return try write(pem, mode: 0o644) }
        if let mergeInto {
            try SealedFileMerge.merge(try objects(what: "Secret"), into: mergeInto, sealer: sealer(key), explicitScope: scope,
                                      inputName: input ?? "<stdin>")
            return
        }
        if raw { return try sealRaw(to: key) }
        var sealed: [ManifestValue] = []
        let sealer = try sealer(key)
        for object in try objects(what: "Secret") {
            let result = try inFile(input ?? "<stdin>") { try sealer.seal(SecretManifest(object)) }
            for warning in result.warnings { StandardStreams.warn("\(input ?? "<stdin>"): document \(object.document) (\(object.label)): \(warning)") }
            sealed.append(result.sealedSecret.manifestValue)
        }
        try write(try format.write(sealed), mode: 0o644)
    }

    // MARK: - Modes

    private func unseal() throws {
        guard !recoveryPrivateKeys.isEmpty else { throw CommandFailure("--recovery-unseal needs --recovery-private-key") }
        let unsealer = Unsealer(keyRing: try KeyRing.load(paths: recoveryPrivateKeys))
        let secrets = try objects(what: "SealedSecret").map { object in
            try inFile(input ?? "<stdin>") { try unsealer.unseal(SealedSecretManifest(object)).manifestValue }
        }
        try write(try format.write(secrets), mode: 0o600)  // plaintext
    }

    private func validateWithController() throws {
        let client = controller.client
        for (object, sealed) in try ControllerCalls.readSealedSecrets(input).objects {
            let response = try ControllerCalls.post(client, "/v1/verify", object)
            switch response.status {
            case 200: continue
            case 409: throw CommandFailure("unable to decrypt sealed secret: \(sealed.metadata.name ?? "")")
            default: throw ControllerCalls.unexpected(response, from: "/v1/verify", client: client)
            }
        }
    }

    private func reencrypt() throws {
        let client = controller.client
        var rotated: [ManifestValue] = []
        for (object, sealed) in try ControllerCalls.readSealedSecrets(input).objects {
            let response = try ControllerCalls.post(client, "/v1/rotate", object)
            guard response.status == 200 else {
                if response.status == 409 { throw CommandFailure("cannot re-encrypt sealed secret \(sealed.metadata.name ?? ""): the controller cannot decrypt it") }
                throw ControllerCalls.unexpected(response, from: "/v1/rotate", client: client)
            }
            var value = try ManifestValue(json: response.body)
            // As kubeseal: what the API server set on the object is not part of the file.
            for field in ["creationTimestamp", "deletionTimestamp", "generation"] { value.setValue(nil, at: ["metadata", field]) }
            rotated.append(value)
        }
        try write(try format.write(rotated), mode: 0o644)
    }

    private func sealRaw(to key: SealingKey) throws {
        var scopeValues = ScopeValues(scope: scope ?? .strict, namespace: namespace, name: name)
        if scopeValues.namespace == nil, scopeValues.scope != .clusterWide {
            scopeValues.namespace = try controller.defaultNamespace().namespace  // kubeseal's clientConfig.Namespace()
        }
        if scopeValues.scope == .strict, name == nil {
            throw CommandFailure("must provide the --name flag with --raw and --scope strict")
        }
        guard fromFile.count <= 1 else { throw CommandFailure("must provide only one --from-file when encrypting a single item with --raw") }
        if fromFile.isEmpty, isatty(0) == 1 { StandardError.write("(tty detected: expecting a secret to encrypt in stdin)") }
        let value = try SecretFiles.read(fromFile.first.map(SealCommand.path(fromFileArgument:)) ?? "-", limit: SealCommand.rawValueLimit)
        let sealed = try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: try scopeValues.rawScope)
        try write(Array(sealed.utf8), mode: 0o644)
    }

    // MARK: - Shared

    private func sealer(_ key: SealingKey) throws -> Sealer {
        var sealer = Sealer(sealingKey: key)
        sealer.scope = scope
        sealer.namespace = namespace
        sealer.name = name
        sealer.allowEmptyData = allowEmptyData
        if namespace == nil { sealer.defaultNamespace = try controller.defaultNamespace() }
        return sealer
    }

    /// The certificate: `--cert`, else the controller's; and where it came from.
    private func certificatePEM() throws -> (pem: [UInt8], source: String) {
        if let certificate { return try KeyFiles.readCertificate(at: certificate) }
        let client = controller.client
        return (try ControllerCalls.fetchCertificate(client), client.target)
    }

    private func objects(what: String) throws -> [ManifestObject] {
        try ManifestIOValues(file: input).readObjects(what: what)
    }

    /// To `-w` atomically (nothing written on failure), else stdout.
    private func write(_ bytes: [UInt8], mode: mode_t) throws {
        if let output {
            try OutputFiles.replace(output, contents: bytes, mode: mode)
        } else {
            try bytes.withUnsafeBytes { try StandardStreams.write($0, to: 1) }
        }
    }
}
