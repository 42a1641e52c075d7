import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram
import CachetTransport
import FoundationEssentials

/// The controller's key Secrets as a backup holds them: read from a cluster, written to one.
enum KeyBackup {
    /// Bitnami's label on key Secrets; any value (`active`, `compromised`): a backup keeps every key, as
    /// `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key` does.
    static let keyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"

    /// One key Secret, checked: its certificate is for its private key, and its age identity (if any) is one.
    struct Key {
        let secret: SecretManifest
        let keyID: KeyID
        let identity: AgeIdentity?
        let created: String?
        var name: String { secret.metadata.name ?? "" }
    }

    /// The metadata a key Secret keeps in a backup: what the controller reads (name, labels, annotations) and the
    /// creation time (restored in that order, so the newest key stays newest). Server-set fields (uid,
    /// resourceVersion, managedFields) are dropped, so that `kubectl apply -f` of the decrypted backup creates them.
    static func kept(_ item: ManifestValue, namespace: String) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = [("name", item.value(at: ["metadata", "name"]) ?? .string("")), ("namespace", .string(namespace))]
        for field in ["labels", "annotations", "creationTimestamp"] {
            guard var value = item.value(at: ["metadata", field]) else { continue }
            if field == "annotations", case .object(let entries) = value {
                // kubectl's copy of the whole object would hold the key a second time, in ordinary text.
                let kept = entries.filter { $0.0 != "kubectl.kubernetes.io/last-applied-configuration" }
                if kept.isEmpty { continue }
                value = .object(kept)
            }
            metadata.append((field, value))
        }
        var entries: [(String, ManifestValue)] = [("apiVersion", .string("v1")), ("kind", .string("Secret")), ("metadata", .sortedObject(metadata))]
        for field in ["type", "data"] { if let value = item[field] { entries.append((field, value)) } }
        return .object(entries)
    }

    /// Checks one Secret of a backup (or of a cluster) and names what is wrong with it.
    static func check(_ object: ManifestObject, in source: String) throws -> Key {
        let secret = try inFile(source) { try SecretManifest(object) }
        let place = "\(source): \(object.label)"
        guard let certificatePEM = secret.items[KeyFiles.certificateFileName], let keyPEM = secret.items[KeyFiles.privateKeyFileName] else {
            throw CommandFailure("\(place): has no tls.crt and tls.key, so it is not a sealing key Secret")
        }
        do {
            let certificate = try Certificate(pem: certificatePEM)
            guard try RSAPrivateKey(pem: keyPEM).keyID == certificate.keyID else {
                throw CommandFailure("\(place): its tls.crt is not the certificate of its tls.key")
            }
            var identity: AgeIdentity?
            if let item = secret.items[KeyRing.ageIdentityItem] {
                let identities = try AgeIdentity.list(in: item)
                guard identities.count == 1 else {
                    throw CommandFailure("\(place): data.\(KeyRing.ageIdentityItem) holds \(identities.count) age identities; a key Secret holds exactly one")
                }
                identity = identities[0]
            }
            return Key(secret: secret, keyID: certificate.keyID, identity: identity,
                       created: object.node["metadata"]?["creationTimestamp"]?.scalar?.text)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(place): \(error.message)")
        }
    }

    /// The API server to back up from or restore to, refusing `--controller-url` (keys are Secrets: only the API
    /// server has them).
    static func apiServer(_ options: ControllerOptions) throws -> APIServer {
        guard options.url == nil else {
            throw CommandFailure.usage("--controller-url: key Secrets are read and written through the API server, not the controller")
        }
        let values = options.values
        return try APIServer(kubeconfig: values.kubeconfig, context: values.context, overrides: values.overrides,
                             environment: KubeConfig.currentEnvironment())
    }

    /// The API server's answer as JSON, or an error naming what was asked and, for a refusal, the permission needed.
    static func json(_ response: BlockingHTTP.Response, doing what: String, permission: String) throws -> ManifestValue {
        guard (200..<300).contains(response.status), let value = try? ManifestValue(json: response.body) else {
            throw CommandFailure("cannot \(what): HTTP \(response.status)\(ControllerClient.reason(response))",
                                 hint: response.status == 401 || response.status == 403 ? "it takes \(permission)" : nil)
        }
        return value
    }

    static func secretsPath(_ namespace: String) -> String { "/api/v1/namespaces/\(PathEscape.segment(namespace))/secrets" }

    /// Every key Secret in `namespace`: labelled ones, and Bitnami's pre-0.9 single key (named `sealed-secrets-key`).
    static func keySecrets(in namespace: String, api: APIServer) throws -> [ManifestValue] {
        let listing = try json(api.send("GET", secretsPath(namespace) + "?" + PathEscape.query([("labelSelector", keyLabel)]), accept: "application/json"),
                               doing: "list the key Secrets in \(namespace)", permission: "list on secrets in \(namespace)")
        var items = listing.value(at: ["items"])?.arrayValue ?? []
        let legacy = try api.send("GET", secretsPath(namespace) + "/sealed-secrets-key", accept: "application/json")
        if legacy.status == 200, let secret = try? ManifestValue(json: legacy.body),
           !items.contains(where: { $0.string(at: ["metadata", "name"]) == "sealed-secrets-key" }) {
            items.append(secret)
        }
        return items
    }

    /// A `v1` `List` of the key Secrets of a namespace, as a backup holds them.
    static func list(_ items: [ManifestValue], namespace: String) -> ManifestValue {
        .object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(items.map { kept($0, namespace: namespace) }))])
    }

    /// The checked keys of API objects (the cluster's).
    static func keys(of items: [ManifestValue], namespace: String) throws -> [Key] {
        var json = list(items, namespace: namespace).jsonBytes
        defer { json.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        return try ManifestReader.objects(in: ManifestReader.documents(in: json)).map { try check($0, in: "the cluster's \(namespace)") }
    }
}

/// `cachet keys backup`: the controller's key Secrets, encrypted to offline age recipients.
struct KeysBackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write the controller's key Secrets, encrypted to offline age recipients (safe to keep in git or a vault).",
        discussion: """
            Reads every key Secret in the controller's namespace (labelled sealedsecrets.bitnami.com/sealed-secrets-key, \
            active or not) and writes them as one age file, ASCII-armored, encrypted to --recipient/--recipients-file only. \
            Restore with `cachet keys restore -i IDENTITY FILE`; without cachet, `age -d -i IDENTITY FILE | kubectl apply -f -` \
            does the same. Keep the identity off the cluster: whoever holds it holds every key.
            """)

    @Option(name: .customLong("recipient"), parsing: .singleValue, help: "Encrypt to this age recipient (age1…). Repeatable.")
    var recipients: [String] = []

    @Option(name: .customLong("recipients-file"), parsing: .singleValue,
            help: "Encrypt to the recipients in this file (age's format). Repeatable.")
    var recipientsFiles: [String] = []

    @Option(name: [.customShort("w"), .customLong("output")], help: "Write the backup here, atomically (default: stdout).")
    var output: String?

    @OptionGroup(title: "The cluster (--controller-namespace: where the keys are)") var controller: ControllerOptions

    func validate() throws {
        guard !recipients.isEmpty || !recipientsFiles.isEmpty else {
            throw ValidationError("name who can open the backup: --recipient age1… or --recipients-file FILE (an offline key, not the cluster's)")
        }
    }

    func run() throws {
        var targets: [AgeRecipient] = []
        for (index, text) in recipients.enumerated() {
            do { targets.append(try AgeRecipient(text)) } catch let error as CachetCryptoError {
                throw CommandFailure.usage("--recipient #\(index + 1): \(error.message)")
            }
        }
        for file in recipientsFiles { targets += try KeyFiles.readRecipients(at: file) }

        let api = try KeyBackup.apiServer(controller)
        let namespace = controller.values.client.serviceNamespace
        let items = try KeyBackup.keySecrets(in: namespace, api: api)
        guard !items.isEmpty else {
            throw CommandFailure("no key Secrets in the namespace \(namespace) at \(api.config.server): nothing to back up",
                                 hint: "name the controller's namespace with --controller-namespace")
        }
        // Every key is checked before anything is written: a backup that would not restore is worse than none.
        let keys = try KeyBackup.keys(of: items, namespace: namespace)
        // A backup only its own keys open is lost with them.
        let inside = Set(keys.compactMap { $0.identity?.recipient.keyID })
        if targets.allSatisfy({ inside.contains($0.keyID) }) {
            throw CommandFailure("every recipient given is an age identity held in this backup: it could only be opened with the keys it holds",
                                 hint: "encrypt to an offline recipient (cachet keys generate DIR; DIR/age-recipients.txt)")
        }
        var plaintext = try ManifestFormat.yaml.write([KeyBackup.list(items, namespace: namespace)])
        defer { plaintext.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        let file = Array(AgeArmor.encode(try plaintext.withUnsafeBytes { try AgeFile.encrypt($0, to: targets) }).utf8)
        if let output {
            try OutputFiles.replace(output, contents: file, mode: 0o600)
        } else {
            try file.withUnsafeBytes { try StandardStreams.write($0, to: 1) }
        }
        StandardError.write("cachet: backed up \(keys.count) key\(keys.count == 1 ? "" : "s") from \(namespace) to \(output ?? "stdout"), for \(targets.count) recipient\(targets.count == 1 ? "" : "s"):")
        for key in keys {
            StandardError.write("  \(key.keyID.hex)  \(key.name)  created \(key.created ?? "-")\(key.identity == nil ? "" : "  (with its age identity)")")
        }
    }
}

/// `cachet keys restore`: puts the key Secrets of a backup into a cluster.
struct KeysRestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put the key Secrets of a backup (cachet keys backup) into a cluster; keys already there are left alone.",
        discussion: """
            Opens FILE with the age identities given (-i), checks every key in it, then creates the key Secrets that \
            are missing in the controller's namespace (the one the backup was taken from, unless --controller-namespace \
            says otherwise), oldest first. A key already in the cluster (same key id) is left as it is; a Secret of the \
            same name holding another key stops the restore before anything is created. A running controller picks the \
            keys up within seconds. Running it again is harmless.
            """)

    @Argument(help: "The backup file (armored or binary age).")
    var file: String

    @Option(name: [.customShort("i"), .customLong("identity")], parsing: .singleValue,
            help: "An age identity file (or key directory) that opens the backup. Repeatable.")
    var identities: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Open and check the backup, and say what would be created; change nothing.")
    var dryRun = false

    @OptionGroup(title: "The cluster") var controller: ControllerOptions

    func validate() throws {
        guard !identities.isEmpty else { throw ValidationError("name the identity that opens the backup: -i FILE") }
    }

    func run() throws {
        let identities = try self.identities.flatMap { path in
            try KeyMaterial.load(path).compactMap { if case .ageIdentity(let identity) = $0.kind { identity } else { nil } }
        }
        guard !identities.isEmpty else { throw CommandFailure.usage("-i: \(self.identities.joined(separator: ", ")) holds no age identity") }
        let plaintext = try open(identities: identities)
        let objects = try inFile(file) { try ManifestReader.objects(in: ManifestReader.documents(in: plaintext)) }
        guard !objects.isEmpty else { throw CommandFailure("\(file): the backup holds no Secrets") }
        let keys = try objects.map { try KeyBackup.check($0, in: file) }
            .sorted { ($0.created ?? "", $0.name) < ($1.created ?? "", $1.name) }

        let api = try KeyBackup.apiServer(controller)
        let recorded = keys.compactMap(\.secret.metadata.namespace).first
        let namespace = controller.namespace ?? recorded ?? controller.values.client.serviceNamespace
        let present = try KeyBackup.keys(of: KeyBackup.keySecrets(in: namespace, api: api), namespace: namespace)
        var missing: [KeyBackup.Key] = []
        var lines: [String] = []
        for key in keys {
            if let held = present.first(where: { $0.keyID == key.keyID }) {
                lines.append("  present  \(key.keyID.hex)  \(namespace)/\(held.name)")
            } else if present.contains(where: { $0.name == key.name }) {
                throw CommandFailure("\(file): the Secret \(namespace)/\(key.name) exists in the cluster and holds another key; nothing was restored",
                                     hint: "check which cluster this is; rename or remove that Secret only if you are sure its key is not needed")
            } else {
                missing.append(key)
            }
        }
        for key in missing {
            lines.append("  \(dryRun ? "would create" : "created")  \(key.keyID.hex)  \(namespace)/\(key.name)")
            guard !dryRun else { continue }
            var metadata = ObjectMeta(name: key.name, namespace: namespace)
            metadata.labels = key.secret.metadata.labels
            metadata.annotations = key.secret.metadata.annotations
            let secret = SecretManifest(metadata: metadata, items: key.secret.items, type: key.secret.type, immutable: key.secret.immutable)
            var body = secret.manifestValue.jsonBytes
            defer { body.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
            // Created one by one: if this stops part-way, running it again creates the rest (those made are "present").
            _ = try KeyBackup.json(api.send("POST", KeyBackup.secretsPath(namespace), body: body, accept: "application/json"),
                                   doing: "create the Secret \(namespace)/\(key.name)",
                                   permission: "create on secrets in \(namespace)")
        }
        let summary = dryRun
            ? "cachet: \(missing.count) of \(keys.count) keys would be created in \(namespace) (dry run: nothing changed)"
            : "cachet: restored \(missing.count) of \(keys.count) keys into \(namespace)\(keys.count > missing.count ? " (the others were there)" : ""); a running controller loads them within seconds"
        for line in lines + [summary] { StandardError.write(line) }
    }

    /// The backup's plaintext, in guarded memory; an error that says what is wrong with the file, never with a key.
    private func open(identities: [AgeIdentity]) throws -> SecureBytes {
        let bytes = try SecretFiles.read(file, limit: SecretFiles.defaultLimit)
        do {
            return try bytes.withUnsafeBytes { try AgeFile.decrypt($0, identities: identities) }
        } catch let failure as AgeFailure {
            switch failure {
            case .header(let reason), .armor(let reason): throw CommandFailure("\(file): not an age file (\(reason))", hint: "cachet keys backup writes one")
            case .noMatch: throw CommandFailure("\(file): none of the identities given opens it", hint: "use the identity whose recipient the backup was made for")
            case .hmac, .payload: throw CommandFailure("\(file): damaged or altered (it does not verify); nothing was restored")
            }
        }
    }
}
