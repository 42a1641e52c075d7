import CachetCrypto
import CachetKube
import CachetManifests
import FoundationEssentials
import Logging
import ServiceLifecycle
import Synchronization

/// The controller's keys, kept as Bitnami keeps them: `kubernetes.io/tls` Secrets in the controller's namespace,
/// labelled `sealedsecrets.bitnami.com/sealed-secrets-key=active` (so Bitnami's keys and backups work unchanged).
///
/// Each key the controller generates also holds an age X25519 identity (format v2) under the extra data item
/// `age-identity.txt`: Bitnami's controller ignores extra items, so the Secret still loads there unchanged. Bitnami's
/// own key Secrets have none and keep working for v1; the controller never edits an existing key Secret, so v2 comes
/// to such a cluster with its next renewal.
///
/// The newest key (by certificate notBefore, Bitnami's default order, or by key Secret creation) seals; every key
/// unseals. A key is generated when none exists, every `renewPeriod`, and when the newest is older than `cutoff`. Key
/// Secrets added by someone else are picked up from a watch, without a restart.
package final class KeyManager: Service, Sendable {
    package struct Settings: Sendable {
        package var namespace: String
        package var keyPrefix = "sealed-secrets-key"
        package var keyBits = 4096
        package var keyValidity: Duration = .seconds(87600 * 3600)
        /// 0 disables renewal.
        package var renewPeriod: Duration = .seconds(720 * 3600)
        package var cutoff: Date?
        /// Which key is the newest (the one that seals): Bitnami's `--key-order-priority`.
        package var order: KeyOrder = .certificateNotBefore
        /// Subject and issuer common name of generated certificates (`--my-cn`); nil for Bitnami's empty name.
        package var commonName: String?
        /// Added to generated key Secrets (`--privatekey-labels`, `--privatekey-annotations`).
        package var secretLabels: [String: String] = [:]
        package var secretAnnotations: [String: String] = [:]
        /// Pick up key Secrets that others add or change, without a restart (Bitnami's `--watch-for-secrets`, which
        /// is off there by default; on here).
        package var watchKeySecrets = true
        /// `--force-new-key`: make a first key even when SealedSecrets already exist (see ``prepare()``).
        package var forceNewKey = false

        package init(namespace: String) {
            self.namespace = namespace
        }
    }

    package static let keyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"

    package enum KeyOrder: String, Sendable, CaseIterable {
        /// The certificate's notBefore (Bitnami's default): an imported key seals only if its certificate is newest.
        case certificateNotBefore = "CertNotBefore"
        /// The key Secret's creationTimestamp: the key added last seals, whatever its certificate says.
        case secretCreationTimestamp = "SecretCreationTimestamp"
    }

    struct LoadedKey: Sendable {
        let secretName: String
        let privateKey: RSAPrivateKey
        let certificate: Certificate
        let certificatePEM: String
        let sealingKey: SealingKey
        /// The key pair's age identity, if its Secret holds one.
        let ageIdentity: AgeIdentity?
        /// What "newest" compares (`Settings.order`).
        let orderTime: Date
    }

    let client: KubeClient
    let settings: Settings
    let logger: Logger
    private let keys = Mutex<[LoadedKey]>([])
    /// Key ids whose changed identity was already warned about (a watch relists: one warning, not one per event).
    private let warnedIdentityChanges = Mutex<Set<KeyID>>([])
    /// Whether the keys are loaded, and who waits for that (``waitUntilReady()``).
    private let readiness = Mutex<(ready: Bool, waiters: [Int: CheckedContinuation<Void, Never>], next: Int)>((false, [:], 0))
    /// Signalled whenever a key is added (the reconciler then retries what failed: the new key may open it).
    let keyAdded = Wakeup()
    /// Start-up found SealedSecrets and no key: waiting for the keys to be restored (``prepare()``).
    private let awaitingRestore = Atomic<Bool>(false)
    /// When that was last logged (once a minute at most).
    private let restoreWarning = Mutex<ContinuousClock.Instant?>(nil)

    /// With several replicas: only the leader generates keys; the others serve the keys it makes, from the watch.
    let leadership: LeaderElection?

    package init(client: KubeClient, settings: Settings, logger: Logger, leadership: LeaderElection? = nil) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.leadership = leadership
    }

    /// Whether this replica may make keys: it leads, or it runs alone.
    private var mayGenerate: Bool { leadership?.isLeader ?? true }

    /// Every key, for unsealing.
    package var keyRing: KeyRing {
        keys.withLock { keys in KeyRing(keys: keys.map(\.privateKey), ageIdentities: keys.reversed().compactMap(\.ageIdentity)) }
    }

    /// The recipient v2 values are sealed to: the newest key's, as the newest key alone seals v1 (nil until the keys
    /// are ready; empty when the newest key has no identity). Older identities keep opening, but sealing to them
    /// would make renewal and the key cutoff worthless for v2, and grow every value by a stanza per renewal.
    package var sealingRecipients: [AgeRecipient]? {
        isReady ? keys.withLock { $0.last?.ageIdentity.map { [$0.recipient] } ?? [] } : nil
    }

    /// The newest certificate, for sealing (nil until the keys are ready: before that, a key older than the cutoff
    /// may still be the newest loaded, and must not be handed out while its successor is being made).
    package var newestCertificatePEM: String? {
        isReady ? keys.withLock { $0.last?.certificatePEM } : nil
    }

    /// The newest key, for re-encrypting (nil until the keys are ready).
    package var newestSealingKey: SealingKey? {
        isReady ? keys.withLock { $0.last?.sealingKey } : nil
    }

    var newest: LoadedKey? { keys.withLock { $0.last } }

    package var isReady: Bool { readiness.withLock { $0.ready } }

    /// Returns once the keys are loaded, or at once when the task is cancelled (check `isReady` after).
    package func waitUntilReady() async {
        let id = readiness.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = readiness.withLock { state in
                    if state.ready || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            readiness.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    private func markReady() {
        awaitingRestore.store(false, ordering: .relaxed)
        let waiters = readiness.withLock { state in
            state.ready = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    package var keyCount: Int { keys.withLock { $0.count } }

    /// The keys that hold an age identity.
    package var identityCount: Int { keys.withLock { $0.filter { $0.ageIdentity != nil }.count } }

    /// Loads every active key Secret; generates one if none exists or the newest is older than the cutoff. A replica
    /// that does not lead never generates: it stays not ready until the leader's key arrives (two replicas starting
    /// on an empty cluster make one key, not two).
    package func prepare() async throws {
        try await load()
        let reason: String? = if let newest {
            settings.cutoff.map { newest.orderTime < $0 } == true ? "the newest key is older than the key cutoff time; generating a new one" : nil
        } else {
            "no sealing key found; generating one"
        }
        guard let reason else {
            markReady()
            return
        }
        guard mayGenerate else { return }
        if newest == nil, !settings.forceNewKey, let example = try await someSealedSecret() {
            // SealedSecrets exist but no key does: the keys were lost, or their backup is not restored yet. A fresh
            // key would open none of them, would start sealing at once, and would be in no backup: wait for the keys
            // (restoring them is picked up here within seconds) unless told to start over.
            awaitingRestore.store(true, ordering: .relaxed)
            let now = ContinuousClock.now
            let due = restoreWarning.withLock { last in
                guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
                last = now
                return true
            }
            if due {
                logger.error("no sealing key, but SealedSecrets exist (\(example), …): their keys were lost or are not restored yet, and a new key would open none of them. Restore the key backup (kubectl apply -f it; it is picked up within seconds), or pass --force-new-key to start over with a new key",
                             metadata: ["namespace": "\(settings.namespace)"])
            }
            return
        }
        logger.info("\(reason)", metadata: ["namespace": "\(settings.namespace)"])
        try await generate()
        markReady()
    }

    /// Whether start-up waits for keys to be restored (SealedSecrets exist, no key does).
    package var isAwaitingRestore: Bool { awaitingRestore.load(ordering: .relaxed) }

    /// One SealedSecret of the cluster, as `namespace/name`; nil when there is none, or when the list is refused (then
    /// nothing says keys were lost, and a first key is made as Bitnami's controller makes it).
    private func someSealedSecret() async throws -> String? {
        do {
            let list = try await client.list(.sealedSecrets, limit: 1)
            return list.items.first.map { "\($0.string(at: ["metadata", "namespace"]) ?? "")/\($0.string(at: ["metadata", "name"]) ?? "")" }
        } catch let error as KubeError where error.code == .forbidden || error.code == .notFound {
            return nil
        }
    }

    /// Lists the key Secrets and registers each one it can read.
    func load() async throws {
        let list = try await client.listAll(.secrets, namespace: settings.namespace, labelSelector: "\(Self.keyLabel)=active")
        for secret in list.items { register(secret) }
        // Bitnami's pre-0.9 single key: a Secret named exactly the key prefix, loaded whatever its labels.
        if let legacy = try? await client.get(.secrets, name: settings.keyPrefix, namespace: settings.namespace) {
            register(legacy, requireLabel: false)
        }
    }

    /// Reads a key Secret; a Secret that is not a usable RSA key is logged and skipped (never a crash, unlike
    /// Bitnami's controller, which indexes an empty certificate list on a bad key).
    @discardableResult
    func register(_ secret: ManifestValue, requireLabel: Bool = true) -> Bool {
        let name = secret.string(at: ["metadata", "name"]) ?? "?"
        guard !requireLabel || secret.string(at: ["metadata", "labels", Self.keyLabel]) == "active" else { return false }
        guard let keyText = secret.string(at: ["data", "tls.key"]), let certificateText = secret.string(at: ["data", "tls.crt"]),
              var keyPEM = try? Base64.decode(keyText), let certificatePEM = try? Base64.decode(certificateText)
        else {
            logger.warning("key Secret has no tls.key and tls.crt; skipped", metadata: ["secret": "\(name)"])
            return false
        }
        // The private key goes to OpenSSL's secure heap; this ordinary copy is zeroed.
        defer { keyPEM.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        do {
            let privateKey = try RSAPrivateKey(pem: try SecureBytes(copying: keyPEM))
            let certificate = try Certificate(pem: certificatePEM)
            guard certificate.keyID == privateKey.keyID else {
                logger.warning("key Secret's certificate is not for its key; skipped", metadata: ["secret": "\(name)"])
                return false
            }
            let created = secret.string(at: ["metadata", "creationTimestamp"]).flatMap { try? Date($0, strategy: .iso8601) }
            let loaded = LoadedKey(secretName: name, privateKey: privateKey, certificate: certificate,
                                   certificatePEM: String(decoding: certificatePEM, as: UTF8.self),
                                   sealingKey: try SealingKey(certificate: certificate),
                                   ageIdentity: ageIdentity(in: secret, name: name),
                                   orderTime: settings.order == .certificateNotBefore ? certificate.notBefore : created ?? Date())
            let change = keys.withLock { keys -> String? in
                if let index = keys.firstIndex(where: { $0.privateKey.keyID == privateKey.keyID }) {
                    // A key already held gains its identity when its Secret is edited to add one (picked up hot, as
                    // a new key is); an identity is never replaced or removed while running, so values sealed to it
                    // keep opening. Only the identity is taken from the edit: certificate and order stay as loaded.
                    let held = keys[index]
                    guard let identity = loaded.ageIdentity, held.ageIdentity?.keyID != identity.keyID else { return nil }
                    guard held.ageIdentity == nil else {
                        return warnedIdentityChanges.withLock { $0.insert(held.privateKey.keyID).inserted }
                            ? "ignored" : "ignored quietly"
                    }
                    keys[index] = LoadedKey(secretName: held.secretName, privateKey: held.privateKey, certificate: held.certificate,
                                            certificatePEM: held.certificatePEM, sealingKey: held.sealingKey,
                                            ageIdentity: identity, orderTime: held.orderTime)
                    return "registered an age identity for a sealing key"
                }
                keys.append(loaded)
                // Ties (two certificates from the same second) are broken by key id, so the sealing key is the same on
                // every start, whatever order the API server lists the Secrets in.
                keys.sort { ($0.orderTime, $0.privateKey.keyID.hex) < ($1.orderTime, $1.privateKey.keyID.hex) }
                return "registered a sealing key"
            }
            guard let change else { return false }
            var metadata: Logger.Metadata = ["secret": "\(name)", "keyID": "\(privateKey.keyID)"]
            if let identity = loaded.ageIdentity { metadata["ageKeyID"] = "\(identity.keyID)" }
            if change.hasPrefix("ignored") {
                if change == "ignored" {
                    logger.warning("""
                        the age identity of a loaded key was changed in its Secret and is ignored while running; after a \
                        restart the new one replaces it and values sealed to the old one stop opening: restore the original item
                        """, metadata: metadata)
                }
                return false
            }
            logger.info("\(change)", metadata: metadata)
            if self.keys.withLock({ keys in keys.last?.ageIdentity == nil && keys.contains { $0.ageIdentity != nil } }) {
                // Only the newest key's recipient is sealed to (sealingRecipients): v2 sealing is off until it has one.
                logger.warning("the newest key has no age identity: format v2 sealing (/v1/recipients.txt) is off until a key with one is newest (kill -USR1 makes one)",
                               metadata: metadata)
            }
            keyAdded.signal()
            return true
        } catch {
            logger.warning("key Secret could not be read; skipped", metadata: ["secret": "\(name)", "reason": "\(error)"])
            return false
        }
    }

    /// The age identity of a key Secret (`data["age-identity.txt"]`, exactly one), or nil. A damaged one is logged
    /// and ignored: the RSA key beside it still opens every v1 value.
    private func ageIdentity(in secret: ManifestValue, name: String) -> AgeIdentity? {
        guard let text = secret.string(at: ["data", KeyRing.ageIdentityItem]) else { return nil }
        do {
            var decoded = try Base64.decode(text)
            // The decoded file is an identity: it goes to secret memory (SecureBytes), and the ordinary copy is zeroed.
            defer { decoded.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
            let identities = try AgeIdentity.list(in: try SecureBytes(copying: decoded))
            guard identities.count == 1 else {
                logger.warning("key Secret's age identity item holds \(identities.count) identities, not one; ignored", metadata: ["secret": "\(name)"])
                return nil
            }
            return identities[0]
        } catch {
            logger.warning("key Secret's age identity could not be read; ignored", metadata: ["secret": "\(name)", "reason": "\(error)"])
            return nil
        }
    }

    /// A new key and Bitnami-style certificate, and an age identity, stored as a new key Secret (generateName: the
    /// key prefix).
    func generate() async throws {
        // A second or more for RSA-4096: off the cooperative pool, or Lease renewals and the HTTP API would stall.
        let bits = settings.keyBits
        let privateKey = try await Reconciler.offCooperativePool { try RSAPrivateKey.generate(bits: bits) }
        let identity = try AgeIdentity.generate()
        let identityFile = try identity.fileContents(created: Date().formatted(.iso8601))
        let validity = Double(settings.keyValidity.components.seconds)
        let certificate = try Certificate.selfSigned(for: privateKey, commonName: settings.commonName, validity: validity)
        let keyPEM = try privateKey.pkcs1PEM()
        let secret = ManifestValue.object([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .object([
                ("generateName", .string(settings.keyPrefix)), ("namespace", .string(settings.namespace)),
                ("labels", .stringMap(settings.secretLabels.merging([Self.keyLabel: "active"]) { _, ours in ours })),
            ] + (settings.secretAnnotations.isEmpty ? [] : [("annotations", .stringMap(settings.secretAnnotations))]))),
            ("type", .string("kubernetes.io/tls")),
            ("data", .object([
                ("tls.crt", .string(Base64.encode(Array(try certificate.pem.utf8)))),
                ("tls.key", .string(Base64.encode(keyPEM))),
                (KeyRing.ageIdentityItem, .string(Base64.encode(identityFile))),
            ])),
        ])
        let created = try await client.create(.secrets, secret, namespace: settings.namespace)
        register(created)
    }

    /// Loads the keys (retrying until the API answers), then renews on schedule and picks up key Secrets added by
    /// others, until shutdown.
    package func run() async throws {
        // Loading may wait on an API server that does not answer: a graceful shutdown cancels it (the request and
        // the pause between attempts alike), so SIGTERM is honoured in this state too.
        await cancelWhenGracefulShutdown {
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
            var waitingLogged = false
            while !self.isReady, !Task.isCancelled {
                do {
                    try await self.prepare()
                    if !self.isReady, self.isAwaitingRestore {
                        try? await Task.sleep(for: .seconds(2))
                    } else if !self.isReady {
                        if !waitingLogged {
                            self.logger.info("waiting for the leader to make the sealing key")
                            waitingLogged = true
                        }
                        try? await Task.sleep(for: .seconds(1))
                    }
                } catch {
                    if Task.isCancelled { return }
                    let delay = backoff.next()
                    self.logger.error("cannot load the sealing keys; retrying", metadata: ["reason": "\(error)", "in": "\(delay)"])
                    try? await Task.sleep(for: delay)
                }
            }
        }
        guard isReady else { return }
        await withDiscardingTaskGroup { group in
            // A service that returns early fails the service group: with neither watch nor renewal, wait here.
            group.addTask { try? await gracefulShutdown() }
            if self.settings.watchKeySecrets {
                group.addTask { await untilShutdown("the key Secret watch", logger: self.logger) { try await self.watchKeySecrets() } }
            }
            if self.settings.renewPeriod > .zero {
                group.addTask { await untilShutdown("key renewal", logger: self.logger) { try await self.renewOnSchedule() } }
            }
        }
    }

    /// A new key now (SIGUSR1, as Bitnami's controller); a failure is logged, the current keys stay.
    package func renewNow() async {
        guard mayGenerate else {
            logger.notice("not the leader: a new key is made by the leader (send the signal to the leader's pod)")
            return
        }
        do {
            logger.info("generating a new sealing key on request")
            try await generate()
        } catch {
            logger.error("key generation failed", metadata: ["reason": "\(error)"])
        }
    }

    private func watchKeySecrets() async throws {
        let watcher = ResourceWatcher(client: client, type: .secrets, namespace: settings.namespace,
                                      labelSelector: "\(Self.keyLabel)=active")
        for try await change in watcher {
            switch change {
            case .listed(let items, _): items.forEach { register($0) }
            case .event(let event) where event.kind == .added || event.kind == .modified: register(event.object)
            default: break
            }
        }
    }

    private func renewOnSchedule() async throws {
        while !Task.isCancelled {
            let age = newest.map { Date().timeIntervalSince($0.orderTime) } ?? 0
            let period = settings.renewPeriod.seconds
            let wait = max(0, period - age)
            try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            // Followers keep time too (the leader may go away), but only the leader makes the key; its key reaches
            // the others through the watch and moves their schedule on.
            guard mayGenerate else {
                try await Task.sleep(for: .seconds(2))
                continue
            }
            do {
                logger.info("renewing the sealing key")
                try await generate()
            } catch {
                logger.error("key renewal failed; retrying in a minute", metadata: ["reason": "\(error)"])
                try await Task.sleep(for: .seconds(60))
            }
        }
    }
}
