import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram
import CachetTransport
import FoundationEssentials

/// The controller's key Secrets as a backup holds them: read from a cluster, written to one.
///
/// A backup file is encrypted, not signed: anyone who knows the offline recipient (it is public) can make one. So a
/// restore creates only what a key Secret is (type `kubernetes.io/tls`, the key label, `tls.crt`/`tls.key`/an age
/// identity, no Kubernetes-reserved annotations), refuses certificates from the future (the newest certificate is the
/// sealing key, and one dated years ahead would stay so after every renewal), and will not make a key newer than the
/// cluster's own the sealing key unless told to (docs/threat-model.md, "Key backups").
enum KeyBackup {
    /// Bitnami's label on key Secrets; any value (`active`, `compromised`): a backup keeps every key, as
    /// `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key` does.
    static let keyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"
    /// Bitnami's pre-0.9 single key Secret, loaded by name whatever its labels.
    static let legacyName = "sealed-secrets-key"
    /// The data items a key Secret may hold.
    static let items: Set = [KeyFiles.certificateFileName, KeyFiles.privateKeyFileName, KeyRing.ageIdentityItem]
    /// How far ahead of this machine's clock a certificate may start (clock skew between machines).
    static let allowedSkew: TimeInterval = 600

    /// One key Secret, checked: its certificate is for its private key, and its age identity (if any) is one.
    struct Key {
        let secret: SecretManifest
        let certificate: Certificate
        let identity: AgeIdentity?
        let created: String?
        var keyID: KeyID { certificate.keyID }
        var name: String { secret.metadata.name ?? "" }
    }

    /// Annotations a restore never writes: kubectl's copy of the whole object (it would hold the key again, in clear)
    /// and everything in Kubernetes' own namespaces, which other controllers act on (a service-account token
    /// Secret is one annotation away).
    static func isKept(annotation key: String) -> Bool {
        guard let slash = key.firstIndex(of: "/") else { return true }
        let prefix = key[..<slash]
        return !(prefix == "kubernetes.io" || prefix.hasSuffix(".kubernetes.io") || prefix == "k8s.io" || prefix.hasSuffix(".k8s.io"))
    }

    /// The metadata a key Secret keeps in a backup: what the controller reads (name, labels, annotations) and the
    /// creation time (restored in that order, so the newest key stays newest). Server-set fields (uid,
    /// resourceVersion, managedFields) are dropped, so that `kubectl create -f` of the decrypted backup creates them.
    static func kept(_ item: ManifestValue, namespace: String) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = [("name", item.value(at: ["metadata", "name"]) ?? .string("")), ("namespace", .string(namespace))]
        for field in ["labels", "annotations", "creationTimestamp"] {
            guard var value = item.value(at: ["metadata", field]) else { continue }
            if field == "annotations", case .object(let entries) = value {
                let kept = entries.filter { isKept(annotation: $0.0) }
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
        guard secret.metadata.labels[keyLabel] != nil || secret.metadata.name == legacyName else {
            throw CommandFailure("\(place): has no \(keyLabel) label, so it is not a sealing key Secret")
        }
        if let other = secret.items.keys.sorted().first(where: { !items.contains($0) }) {
            throw CommandFailure("\(place): holds the item \(other.quotedForMessage()), which a sealing key Secret does not")
        }
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
            return Key(secret: secret, certificate: certificate, identity: identity,
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
    /// The response body is zeroed once read: these answers hold private keys.
    static func json(_ response: BlockingHTTP.Response, doing what: String, permission: String) throws -> ManifestValue {
        var body = response.body
        defer { body.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        guard (200..<300).contains(response.status), let value = try? ManifestValue(json: body) else {
            throw CommandFailure("cannot \(what): HTTP \(response.status)\(ControllerClient.reason(response))",
                                 hint: response.status == 401 || response.status == 403 ? "it takes \(permission)" : nil)
        }
        return value
    }

    static func secretsPath(_ namespace: String) -> String { "/api/v1/namespaces/\(PathEscape.segment(namespace))/secrets" }

    /// The Secret `namespace/name` as the API server has it; nil when there is none (404 only: any other answer is an
    /// error, so that a refusal is never read as "absent").
    static func secret(_ name: String, in namespace: String, api: APIServer) throws -> ManifestValue? {
        let response = try api.send("GET", secretsPath(namespace) + "/" + PathEscape.segment(name), accept: "application/json")
        if response.status == 404 { return nil }
        return try json(response, doing: "read the Secret \(namespace)/\(name)", permission: "get on secrets in \(namespace)")
    }

    /// Every key Secret in `namespace`: labelled ones, and Bitnami's pre-0.9 single key.
    static func keySecrets(in namespace: String, api: APIServer) throws -> [ManifestValue] {
        let listing = try json(api.send("GET", secretsPath(namespace) + "?" + PathEscape.query([("labelSelector", keyLabel)]), accept: "application/json"),
                               doing: "list the key Secrets in \(namespace)", permission: "list on secrets in \(namespace)")
        var items = listing.value(at: ["items"])?.arrayValue ?? []
        if !items.contains(where: { $0.string(at: ["metadata", "name"]) == legacyName }), let legacy = try secret(legacyName, in: namespace, api: api) {
            items.append(legacy)
        }
        return items
    }

    /// A `v1` `List` of the key Secrets of a namespace, as a backup holds them.
    static func list(_ items: [ManifestValue], namespace: String) -> ManifestValue {
        .object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(items.map { kept($0, namespace: namespace) }))])
    }

    /// The key Secrets of a cluster that are keys, checked; the others (a Secret labelled as a key with no key in
    /// it) are named in a warning and left out, as the controller leaves them out.
    static func keys(of items: [ManifestValue], namespace: String) throws -> [(key: Key, item: ManifestValue)] {
        var result: [(key: Key, item: ManifestValue)] = []
        for item in items {
            var json = list([item], namespace: namespace).jsonBytes
            defer { json.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
            do {
                guard let object = try ManifestReader.objects(in: ManifestReader.documents(in: json)).first else { continue }
                result.append((try check(object, in: "the cluster's \(namespace)"), item))
            } catch {
                StandardStreams.warn("skipped: \(error)")
            }
        }
        return result
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
            Restore with `cachet keys restore -i IDENTITY FILE`; without cachet, `age -d -i IDENTITY FILE | kubectl create -f -` \
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
        let targets = try KeyFiles.recipients(flags: recipients, files: recipientsFiles, exitCode: Diagnostic.usageExitCode)

        let api = try KeyBackup.apiServer(controller)
        let namespace = controller.values.client.serviceNamespace
        let found = try KeyBackup.keys(of: KeyBackup.keySecrets(in: namespace, api: api), namespace: namespace)
        guard !found.isEmpty else {
            throw CommandFailure("no key Secrets in the namespace \(namespace) at \(api.config.server): nothing to back up",
                                 hint: "name the controller's namespace with --controller-namespace")
        }
        let keys = found.map(\.key)
        let items = found.map(\.item)
        // A backup that a key inside it opens is no better than those keys, and is readable by whoever holds them.
        let inside = Set(keys.compactMap { $0.identity?.recipient.keyID })
        if let own = targets.first(where: { inside.contains($0.keyID) }) {
            throw CommandFailure("the recipient \(own) is an age identity held in this backup; encrypt it to offline recipients only",
                                 hint: "make one with cachet keys generate --out DIR, and keep DIR/age-identity.txt off the cluster")
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
            are missing in the controller's namespace (--controller-namespace, default kube-system), oldest first. A key \
            already in the cluster (same key id) is left as it is; a Secret of the same name, or a key newer than every \
            key the cluster holds (it would become the sealing key; --allow-newer), stops the restore before anything \
            is created. A running controller picks the keys up within seconds. Running it again is harmless.
            """)

    @Argument(help: "The backup file (armored or binary age).")
    var file: String

    @Option(name: [.customShort("i"), .customLong("identity")], parsing: .singleValue,
            help: "An age identity file (or key directory) that opens the backup. Repeatable.")
    var identities: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Open and check the backup, and say what would be created; change nothing.")
    var dryRun = false

    @Flag(name: .customLong("allow-newer"),
          help: "Restore keys newer than every key the cluster already holds (the newest becomes the sealing key).")
    var allowNewer = false

    @OptionGroup(title: "The cluster (--controller-namespace: where the keys go)") var controller: ControllerOptions

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
        // Every key of the backup is checked before anything is created. A certificate from the future is refused
        // here only (a backup keeps whatever the cluster holds): the newest certificate is the sealing key, and one
        // dated years ahead would stay so after every renewal.
        let keys = try objects.map { try KeyBackup.check($0, in: file) }
            .sorted { ($0.created ?? "", $0.name) < ($1.created ?? "", $1.name) }
        if let future = keys.first(where: { $0.certificate.notBefore.timeIntervalSinceNow > KeyBackup.allowedSkew }) {
            throw CommandFailure("\(file): the key \(future.keyID.hex) (\(future.name)) has a certificate not valid before \(future.certificate.notBefore.formatted(.iso8601)); a key from the future would stay the sealing key after every renewal; nothing was restored")
        }

        // The same namespace `keys backup` reads from: --controller-namespace, SEALED_SECRETS_CONTROLLER_NAMESPACE,
        // kube-system. A backup taken elsewhere goes only where it is told to.
        let client = controller.values.client
        let namespace = client.serviceNamespace
        let recorded = keys.compactMap(\.secret.metadata.namespace).first
        let named = controller.namespace != nil || client.environment["SEALED_SECRETS_CONTROLLER_NAMESPACE"].map { !$0.isEmpty } == true
        if let recorded, recorded != namespace, !named {
            throw CommandFailure("\(file): the backup was taken from the namespace \(recorded), not \(namespace)",
                                 hint: "say where the controller's keys go: --controller-namespace \(recorded) (or \(namespace))")
        }

        let api = try KeyBackup.apiServer(controller)
        let present = try KeyBackup.keys(of: KeyBackup.keySecrets(in: namespace, api: api), namespace: namespace).map(\.key)
        var missing: [KeyBackup.Key] = []
        for key in keys {
            if let held = present.first(where: { $0.keyID == key.keyID }) {
                StandardError.write("  present  \(key.keyID.hex)  \(namespace)/\(held.name)")
            } else if try KeyBackup.secret(key.name, in: namespace, api: api) != nil {
                throw CommandFailure("\(file): the Secret \(namespace)/\(key.name) exists in the cluster and is not this key; nothing was restored",
                                     hint: "check which cluster this is; rename or remove that Secret only if you are sure it is not needed")
            } else {
                missing.append(key)
            }
        }
        // The newest certificate seals. On a cluster that has keys, a backup key newer than all of them would take
        // over sealing: right after a lost key is found again, wrong when the backup is not what it seems.
        if !allowNewer, let newestHeld = present.map(\.certificate.notBefore).max(),
           let newer = missing.first(where: { $0.certificate.notBefore > newestHeld }) {
            throw CommandFailure("\(file): the key \(newer.keyID.hex) (\(newer.name)) is newer than every key the cluster holds, so it would become the sealing key; nothing was restored",
                                 hint: "if this backup is yours and that key should seal, pass --allow-newer")
        }
        for key in missing {
            guard !dryRun else {
                StandardError.write("  would create  \(key.keyID.hex)  \(namespace)/\(key.name)")
                continue
            }
            // Only what a key Secret is: its labels, the annotations that are not Kubernetes' own, the key's items.
            var metadata = ObjectMeta(name: key.name, namespace: namespace)
            metadata.labels = key.secret.metadata.labels
            metadata.annotations = key.secret.metadata.annotations.filter { KeyBackup.isKept(annotation: $0.key) }
            let secret = SecretManifest(metadata: metadata, items: key.secret.items, type: "kubernetes.io/tls", immutable: nil)
            var body = secret.manifestValue.jsonBytes
            defer { body.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
            // Created one by one, each reported as it is made: if this stops part-way, running it again creates the
            // rest (those made are "present").
            _ = try KeyBackup.json(api.send("POST", KeyBackup.secretsPath(namespace), body: body, accept: "application/json"),
                                   doing: "create the Secret \(namespace)/\(key.name)", permission: "create on secrets in \(namespace)")
            StandardError.write("  created  \(key.keyID.hex)  \(namespace)/\(key.name)")
        }
        StandardError.write(dryRun
            ? "cachet: \(missing.count) of \(keys.count) keys would be created in \(namespace) (dry run: nothing changed)"
            : "cachet: restored \(missing.count) of \(keys.count) keys into \(namespace)\(keys.count > missing.count ? " (the others were there)" : ""); a running controller loads them within seconds")
    }

    /// The backup's plaintext, in secret memory (`SecureBytes`); an error that says what is wrong with the file, never with a key.
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
