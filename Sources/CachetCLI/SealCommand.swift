#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram

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

            Format v1 (the default, Bitnami's) seals to one certificate. Format v2 (age) seals to age recipients: \
            --recipient and --recipients-file name them (no controller is contacted), --v2 adds the controller's own \
            recipients (and refuses a controller that cannot open v2). A v2 value also opens with `age -d` and the \
            matching identity (docs/operations.md, break-glass recovery).
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

    @Option(name: .customLong("recipient"), parsing: .singleValue,
            help: "Seal format v2 (age) to this recipient (age1…). Repeatable; combines with --recipients-file and --v2.")
    var recipients: [String] = []

    @Option(name: .customLong("recipients-file"), parsing: .singleValue,
            help: "Seal format v2 (age) to the recipients in this file (age's format: one per line, # comments). Repeatable.")
    var recipientsFiles: [String] = []

    @Flag(name: .customLong("v2"), help: "Seal format v2 (age) to the controller's recipients (cachet recipients), plus any --recipient.")
    var controllerRecipients = false

    @Option(help: "With --raw: the item key (encryptedData key) the value is for; format v2 binds it. Default: the key of --from-file KEY=PATH.")
    var item: String?

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

    @Option(name: .customLong("kustomization"),
            help: "Seal for the namespace and name the SealedSecret written to -w gets when this kustomization is built (kubectl kustomize).")
    var kustomization: String?

    @Option(name: .customLong("from-file"),
            help: "With --raw: read the value from this file ([key=]path, as kubeseal; the key is the v2 item key).")
    var fromFile: String?

    /// kubeseal's `--from-file=[key=]path`: the part after the first `=` is the path, unless the whole argument
    /// names an existing file.
    static func path(fromFileArgument argument: String) -> String {
        split(fromFileArgument: argument).path
    }

    /// `--from-file`'s key (nil when none is given) and path.
    static func split(fromFileArgument argument: String) -> (key: String?, path: String) {
        guard !SecretFiles.exists(argument), let equals = argument.firstIndex(of: "=") else { return (nil, argument) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    /// Whether this run seals format v2.
    var sealsV2: Bool { !recipients.isEmpty || !recipientsFiles.isEmpty || controllerRecipients }
}

extension SealCommand {
    /// What no single option group can check (each group validates itself first).
    func validate() throws {
        let io = self.io.values, scope = self.scope.values
        if sealsV2, cert != nil {
            throw ValidationError("--cert seals format v1 to one certificate; --recipient, --recipients-file and --v2 seal v2 to age recipients: use one or the other (the controller's recipients come with --v2, or from cachet recipients)")
        }
        if item != nil, !raw { throw ValidationError("--item applies to --raw only: a Secret's items are its own keys") }
        if item != nil, !sealsV2 {
            throw ValidationError("--item applies to format v2 (--recipient, --recipients-file, --v2): a v1 value does not bind its item")
        }
        if kustomization != nil {
            guard !raw, io.output != nil, mergeInto == nil else {
                throw ValidationError("--kustomization needs -w FILE: the file that kustomization includes (not --raw, not --merge-into)")
            }
        }
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
        if raw {
            try sealRawValue(to: try sealingTarget())
            return
        }
        let rule = try repositoryRule()
        var sealer = Sealer(target: try rule.map { try $0.target() } ?? sealingTarget())
        sealer.scope = scope.scope
        sealer.defaultScope = rule?.rule.scope
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
        var placeholder: String?
        do {
            if let kustomization, let output = io.output {
                (sealer.builtAs, placeholder) = try builtAs(objects, sealer: sealer, kustomization: kustomization, file: output)
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
            if let placeholder { CleanUp.unregister(placeholder) }
        } catch {
            if let placeholder {
                unlink(placeholder)
                CleanUp.unregister(placeholder)
            }
            throw error
        }
    }

    /// `--kustomization DIR`: the namespace and name `file` will have once DIR is built, asked of kubectl kustomize.
    /// The kustomization must include `file`; when it does not exist yet, a placeholder (the SealedSecret's metadata,
    /// no values) stands in for the build and is returned, to be removed if anything fails before the real one
    /// replaces it.
    private func builtAs(_ objects: [ManifestObject], sealer: Sealer, kustomization: String, file: String)
        throws -> ((namespace: String?, name: String), String?) {
        guard objects.count == 1, let object = objects.first else {
            throw CommandFailure("--kustomization seals one Secret at a time; \(io.values.inputName) holds \(objects.count)")
        }
        // What the SealedSecret's own metadata will be (after -n, --name and the default namespace): seal once as
        // usual, with public-key operations only.
        let own = try inFile(io.values.inputName) { try sealer.seal(SecretManifest(object)) }.sealedSecret
        let name = own.metadata.name ?? "", namespace = own.metadata.namespace
        var placeholder: String?
        if SecretFiles.exists(file) {
            let bytes = try SecretFiles.read(file, limit: SecretFiles.defaultLimit).withUnsafeBytes { Array($0) }
            guard let existing = SealedSecretManifest.single(in: bytes) else {
                throw CommandFailure("\(file) does not hold exactly one SealedSecret; --kustomization replaces one")
            }
            guard existing.metadata.name == name, existing.metadata.namespace == namespace else {
                throw CommandFailure("\(file) holds the SealedSecret \(existing.metadata.namespace ?? "")/\(existing.metadata.name ?? ""), and the Secret is \(namespace ?? "")/\(name)",
                                     hint: "seal it to another file, or give the Secret the file's name and namespace")
            }
        } else {
            var stub = own
            stub.encryptedData = [:]
            CleanUp.register(file)
            try OutputFiles.replace(file, contents: try ManifestFormat.yaml.write([stub.manifestValue]), mode: 0o644)
            placeholder = file
        }
        do {
            // Origins come back with symbolic links resolved (kustomize's view): compare like with like.
            let target = KustomizeBuild.realPath(file)
            let everything: [KustomizeBuild.BuiltSealedSecret]
            do {
                everything = try KustomizeBuild.sealedSecrets(of: kustomization)
            } catch {
                throw CommandFailure("--kustomization \(kustomization): \(error.message)")
            }
            let built = everything.filter { $0.origin == target && $0.name.contains(name) }
            guard let result = built.first else {
                throw CommandFailure("\(kustomization) does not include \(file) when built",
                                     hint: "list it under resources: in the kustomization that should hold it (\(kustomization)'s own, or a base it uses)")
            }
            guard built.allSatisfy({ $0.name == result.name && $0.namespace == result.namespace }) else {
                throw CommandFailure("\(kustomization) builds \(file) more than once, under different names: seal one file per name")
            }
            StandardError.write("cachet: sealing for \(result.namespace.map { "\($0)/" } ?? "")\(result.name), as \(kustomization) builds \(file)")
            return ((result.namespace, result.name), placeholder)
        } catch {
            if let placeholder {
                unlink(placeholder)
                CleanUp.unregister(placeholder)
            }
            throw error
        }
    }

    /// The `.cachet.yaml` rule for where this run's SealedSecret lives (below), when no flag says what to seal to:
    /// flags win over the rules. Once a rules file covers the directory, a file no rule matches is an error, never a
    /// silent fall-back to the kubeconfig's controller.
    private func repositoryRule() throws -> FollowedRule? {
        guard cert == nil, !sealsV2, !controller.anyGiven else { return nil }
        let io = self.io.values
        // Where the sealed file lives decides, not where the plaintext came from: with --kustomization, the place it is
        // deployed from (a prod overlay using a base's file seals to prod); else the file written.
        let path: String
        if let kustomization {
            path = kustomization
        } else {
            guard let written = [mergeInto, io.output, io.file].compactMap({ $0 }).first(where: { $0 != "-" }) else { return nil }
            path = written
        }
        let start = SecretFiles.isDirectory(path) ? path : RepositoryRules.directory(of: RepositoryRules.absolute(path))
        guard let rules = try RepositoryRules.find(from: start) else { return nil }
        guard let (rule, relative) = rules.rule(for: path) else {
            throw CommandFailure("\(path): no rule in \(rules.file) matches it, and no --cert, --recipient or --v2 says what to seal to",
                                 hint: "add a rule whose path matches \(rules.relativePath(path) ?? path), or pass --cert")
        }
        // Said every time: a typo in a pattern must not pass unnoticed into a broader rule.
        StandardError.write("cachet: \(relative): rule \(rule.number) of \(rules.file) (path \(rule.path)) says what to seal to")
        return FollowedRule(rule: rule, file: rules.file)
    }

    /// What to seal to: v2 recipients when any are asked for, else the certificate (`--cert`, or the controller's).
    private func sealingTarget() throws -> SealingTarget {
        guard sealsV2 else {
            if let cert { return .certificate(try KeyFiles.readSealingKey(at: cert, certificateAuthority: certificateAuthority)) }
            let client = controller.values.client
            return .certificate(try KeyFiles.sealingKey(pem: try ControllerCalls.fetchCertificate(client), source: client.target))
        }
        var list: [AgeRecipient] = []
        // The controller's first: its stanza is the one opened on every reconcile, so it is where openers look first.
        if controllerRecipients { list += try ControllerCalls.fetchRecipients(controller.values.client) }
        list += try KeyFiles.recipients(flags: recipients, files: recipientsFiles)
        return .recipients(list)
    }

    private func sealRawValue(to target: SealingTarget) throws {
        let controller = self.controller.values
        var scope = self.scope.values
        if scope.namespace == nil, (scope.scope ?? .strict) != .clusterWide {
            let fallback = try controller.defaultNamespace()
            scope.namespace = fallback.namespace
            StandardStreams.warn("sealing for namespace \"\(fallback.namespace)\" (\(fallback.origin)); pass -n to choose")
        }
        let sealingScope = try scope.rawScope
        let source = fromFile.map(SealCommand.split(fromFileArgument:))
        let item = self.item ?? source?.key
        if case .recipients = target, item == nil {
            throw CommandFailure.usage("format v2 binds the item key: pass --item KEY (the encryptedData key the value goes under), or --from-file KEY=PATH")
        }
        if let item { try EnvelopeV2.validateItem(item) }
        let value = try SecretFiles.read(source?.path ?? "-", limit: SealCommand.rawValueLimit)
        try StandardStreams.writeOutput(try target.sealedValue(value, scope: sealingScope, item: item ?? ""))
    }
}

/// A `.cachet.yaml` rule being followed: what it seals to, with errors that say which rule sent Cachet there.
struct FollowedRule {
    let rule: RepositoryRules.Rule
    /// The rules file.
    let file: String

    func target() throws -> SealingTarget {
        try explained {
            guard rule.sealsV2 else {
                // A v1 rule always has a certificate: the rules file refuses a rule with nothing to seal to.
                return .certificate(try KeyFiles.readSealingKey(at: rule.cert ?? "", certificateAuthority: rule.certificateAuthority))
            }
            var list: [AgeRecipient] = []
            // The cluster's own recipient first, as with --v2: it is the stanza opened on every reconcile.
            if let location = rule.clusterRecipientsLocation {
                guard location.contains("://") || SecretFiles.exists(location) else {
                    throw CommandFailure("the rule seals format v2, and \(location) (the cluster's own recipient, beside its certificate) does not exist",
                                         hint: "cachet recipients > \(location) (with the cluster's kubeconfig), or drop cert: and list the cluster's recipient under recipients")
                }
                list += try KeyFiles.readRecipients(at: location, certificateAuthority: rule.certificateAuthority)
            }
            list += rule.recipients
            for file in rule.recipientsFiles { list += try KeyFiles.readRecipients(at: file) }
            return .recipients(list)
        }
    }

    /// Runs `body`, naming the rule in what it reports.
    func explained<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as any ReportableError {
            let diagnostic = error.diagnostic
            throw CommandFailure("\(file):\(rule.line): rule \(rule.number) (path \(rule.path)): " + diagnostic.errors.joined(separator: "; "),
                                 hint: diagnostic.hint, exitCode: diagnostic.exitCode)
        }
    }
}
