import CachetCrypto
import CachetKube
import CachetManifests
import Dispatch
import FoundationEssentials
import Logging
import ServiceLifecycle
import Synchronization

/// Watches SealedSecrets and writes the Secrets they hold, with Bitnami's semantics: ownerReferences, the `managed`
/// and `patch` annotations, `skip-set-owner-references`, type and immutable from the template, recreation of a
/// deleted Secret, the `Synced` condition and `observedGeneration`, and Events for failures (never with values).
///
/// Unlike Bitnami's: several workers, a queue that never gives up (capped exponential backoff), a periodic resync,
/// the `cachet.dev/sealed-by` hint tried first, and no cluster-wide cache of Secrets: only the Secrets it wrote
/// (which carry ``managedLabel``) are watched, for deletions, and their data is never kept.
package final class Reconciler: Service, Sendable {
    package struct Settings: Sendable {
        /// Namespaces to watch; nil for all.
        package var namespaces: [String]?
        package var workers: Int
        package var resyncPeriod: Duration = .seconds(600)
        package var updateStatus = true
        /// Only SealedSecrets matching this label selector are reconciled (Bitnami's `--label-selector`).
        package var labelSelector: String?
        /// Watch the Secrets the controller wrote, to recreate a deleted one at once. Off with Bitnami's
        /// `--skip-recreate`, for installations that may not list or watch Secrets; a deleted Secret then comes back
        /// at the next change of its SealedSecret or the next resync.
        package var recreateDeletedSecrets = true
        package var retryBaseDelay: Duration = .milliseconds(50)
        package var retryMaxDelay: Duration = .seconds(300)
        /// Retries of a failing object before it waits for its next change, a new key or the resync (Bitnami's
        /// `--max-unseal-retries`); nil retries forever, with backoff.
        package var maxRetries: Int?
        package var qps: Double = 50
        package var burst: Double = 100
        /// `metadata.ownerReferences` unless the template says `skip-set-owner-references`.
        package var component = "cachet-controller"

        package init(workers: Int) {
            self.workers = max(1, workers)
        }
    }

    /// Set on every Secret the controller writes, so that it can watch just those (for deletions) instead of every
    /// Secret in the cluster.
    package static let managedLabel = "cachet.dev/unsealed-by"

    let client: KubeClient
    let keys: KeyManager
    let metrics: ControllerMetrics
    let settings: Settings
    let logger: Logger
    let queue: WorkQueue
    /// The SealedSecrets seen by the watches, by key: what a reconcile works from (no GET per object), what a resync
    /// re-queues, and how a spec change is told from a status or metadata write. They hold ciphertext only.
    private let known = Mutex<[String: ManifestValue]>([:])
    /// The last failure message an Event was emitted for, per object, so retries do not flood Events.
    private let lastFailure = Mutex<[String: String]>([:])
    /// What each Secret was last brought in line with: while neither side nor the keys changed, a resync costs one
    /// GET instead of an RSA operation per item.
    private let inLine = Mutex<[String: Fingerprint]>([:])

    struct Fingerprint: Equatable {
        /// uid, generation and top-level annotations (where the scope lives) of the SealedSecret.
        let sealedSecret: String
        let secretResourceVersion: String?
        let keyCount: Int
        let identityCount: Int
    }

    package init(client: KubeClient, keys: KeyManager, metrics: ControllerMetrics, settings: Settings, logger: Logger) {
        self.client = client
        self.keys = keys
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
        self.queue = WorkQueue(baseDelay: settings.retryBaseDelay, maxDelay: settings.retryMaxDelay,
                               maxRetries: settings.maxRetries, qps: settings.qps, burst: settings.burst)
    }

    package func run() async throws {
        // Nothing can be unsealed before the keys are loaded (the HTTP API is up meanwhile). A shutdown while waiting
        // ends the wait: the reconciler has nothing to finish yet.
        await cancelWhenGracefulShutdown { await self.keys.waitUntilReady() }
        guard keys.isReady else { return }
        await withDiscardingTaskGroup { group in
            // Graceful shutdown: the queue stops handing out work, the watches and the clock are cancelled, and each
            // worker finishes the object it holds (its writes complete) before returning.
            group.addTask {
                try? await gracefulShutdown()
                await self.queue.shutdown()
            }
            for namespace in settings.namespaces.map({ $0.map(Optional.some) }) ?? [nil] {
                group.addTask {
                    await untilShutdown("the SealedSecret watch", logger: self.logger) { try await self.watchSealedSecrets(namespace: namespace) }
                }
                if settings.recreateDeletedSecrets {
                    group.addTask {
                        await untilShutdown("the Secret watch", logger: self.logger) { try await self.watchManagedSecrets(namespace: namespace) }
                    }
                }
            }
            group.addTask { await self.queue.promoteRetriesWhenDue() }
            group.addTask { await untilShutdown("the retry on new keys", logger: self.logger) { await self.retryFailuresOnNewKeys() } }
            group.addTask { await untilShutdown("the resync", logger: self.logger) { try await self.resyncPeriodically() } }
            for _ in 0..<settings.workers {
                group.addTask {
                    while let key = await self.queue.next() {
                        let succeeded = await self.reconcile(key)
                        if succeeded { await self.queue.done(key, succeeded: true) } else { await self.queue.retry(key) }
                    }
                }
            }
        }
    }

    // MARK: - Watching

    private func watchSealedSecrets(namespace: String?) async throws {
        let watcher = ResourceWatcher(client: client, type: .sealedSecrets, namespace: namespace, labelSelector: settings.labelSelector)
        for try await change in watcher {
            switch change {
            case .listed(let items, _):
                var seen: [String: ManifestValue] = [:]
                for item in items { if let key = Self.key(item) { seen[key] = item } }
                let (removed, changed) = known.withLock { known -> ([String], [String]) in
                    let inScope = known.keys.filter { namespace == nil || $0.hasPrefix(namespace! + "/") }
                    let removed = inScope.filter { seen[$0] == nil }
                    for key in removed { known[key] = nil }
                    // After a relist, only objects that are new or whose spec changed need work (the resync covers
                    // the rest); at start-up that is every object.
                    // A different uid is another object under the same name (deleted and re-created, or the state
                    // went back): work, whatever its generation.
                    let changed = seen.filter { key, object in
                        known[key].map {
                            Self.generation($0) != Self.generation(object)
                                || $0.string(at: ["metadata", "uid"]) != object.string(at: ["metadata", "uid"])
                        } ?? true
                    }.map(\.key)
                    known.merge(seen) { $1 }
                    return (removed, changed)
                }
                for key in removed { forget(key) }
                for key in changed.sorted() { await queue.add(key) }
            case .event(let event):
                guard let key = Self.key(event.object) else { continue }
                switch event.kind {
                case .deleted:
                    known.withLock { $0[key] = nil }
                    forget(key)
                case .added, .modified:
                    // Only a spec change (a new generation) needs work; status writes, including ours, do not.
                    let previous = known.withLock { known -> ManifestValue? in
                        defer { known[key] = event.object }
                        return known[key]
                    }
                    if previous.map(Self.generation) != Self.generation(event.object) { await queue.add(key) }
                default:
                    break
                }
            }
        }
    }

    /// Only Secrets carrying the controller's label, and only to notice their deletion: a deleted Secret is
    /// recreated. Nothing of them is kept. After a relist (the watch fell behind: 410 Gone), every known SealedSecret
    /// whose Secret is not in the list is queued, since its deletion may have been missed.
    private func watchManagedSecrets(namespace: String?) async throws {
        let watcher = ResourceWatcher(client: client, type: .secrets, namespace: namespace, labelSelector: Self.managedLabel)
        var isFirstList = true
        for try await change in watcher {
            switch change {
            case .listed(let items, _):
                // The first list comes at start-up, when every SealedSecret is queued anyway.
                defer { isFirstList = false }
                guard !isFirstList else { continue }
                let present = Set(items.compactMap(Self.ownerKey))
                let missing = known.withLock { known in
                    known.keys.filter { (namespace == nil || $0.hasPrefix(namespace! + "/")) && !present.contains($0) }
                }
                for key in missing.sorted() { await queue.add(key) }
            case .event(let event) where event.kind == .deleted:
                guard let owner = Self.ownerKey(event.object) else { continue }
                if known.withLock({ $0[owner] != nil }) { await queue.add(owner) }
            default:
                break
            }
        }
    }

    /// The private-key operations (RSA decryptions, X25519 unwraps) one reconcile of an object may cost. An object
    /// sealed to keys this controller holds needs about one per value (the sealed-by hint, then the key that opened
    /// the previous value), plus, for its first value without a hint, one per key (and per stanza, for v2). But
    /// whoever can create a SealedSecret chooses its items, stanzas and hints: without a bound, 256 items tried
    /// against dozens of rotated keys would cost minutes of CPU on every retry.
    static func operationBudget(items: Int, keyRing: KeyRing) -> OperationBudget {
        OperationBudget(limit: 2 * items + 2 * keyRing.keys.count + 8 * keyRing.ageIdentities.count + 16)
    }

    /// Failed objects again at once when a key is added: it may be the one they need.
    private func retryFailuresOnNewKeys() async {
        while !Task.isCancelled {
            await keys.keyAdded.wait(until: nil)
            for key in lastFailure.withLock({ Array($0.keys) }).sorted() { await queue.add(key) }
        }
    }

    /// Every known SealedSecret again, every `resyncPeriod`.
    private func resyncPeriodically() async throws {
        while true {
            try await Task.sleep(for: settings.resyncPeriod)
            await resyncNow()
        }
    }

    /// Every known SealedSecret queued again (what a periodic resync does).
    package func resyncNow() async {
        for key in known.withLock({ Array($0.keys) }).sorted() { await queue.add(key) }
    }

    private func forget(_ key: String) {
        let (namespace, name) = Self.split(key)
        metrics.forget(namespace: namespace, name: name)
        lastFailure.withLock { $0[key] = nil }
        inLine.withLock { $0[key] = nil }
    }

    /// `namespace/name`, or nil for an object without both (the API server never sends one; a hostile server could,
    /// and an empty part would make a key that names nothing).
    static func key(_ object: ManifestValue) -> String? {
        guard let name = object.string(at: ["metadata", "name"]), !name.isEmpty,
              let namespace = object.string(at: ["metadata", "namespace"]), !namespace.isEmpty
        else { return nil }
        return namespace + "/" + name
    }

    static func generation(_ object: ManifestValue) -> String {
        if case .number(let text)? = object.value(at: ["metadata", "generation"]) { return text }
        return "0"
    }

    static func split(_ key: String) -> (String, String) {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
    }

    /// The SealedSecret a Secret belongs to: its controller ownerReference, else the Secret's own name.
    static func ownerKey(_ secret: ManifestValue) -> String? {
        guard let namespace = secret.string(at: ["metadata", "namespace"]) else { return nil }
        let owners = secret.value(at: ["metadata", "ownerReferences"])?.arrayValue ?? []
        if let owner = owners.first(where: { $0["kind"]?.stringValue == "SealedSecret" }), let name = owner["name"]?.stringValue {
            return namespace + "/" + name
        }
        return secret.string(at: ["metadata", "name"]).map { namespace + "/" + $0 }
    }

    // MARK: - Reconciling one object

    /// Brings the Secret of `key` in line with its SealedSecret. Returns false when the object must be retried.
    func reconcile(_ key: String) async -> Bool {
        let (namespace, name) = Self.split(key)
        metrics.unsealRequest()
        guard let sealedObject = known.withLock({ $0[key] }) else {
            forget(key)  // deleted meanwhile: the Secret goes with it (garbage collection by ownerReference)
            return true
        }

        let instance = sealedObject.string(at: ["metadata", "labels", "app.kubernetes.io/instance"]) ?? ""
        do {
            let applied = try await apply(sealedObject, namespace: namespace, name: name)
            if applied == .sealedSecretGone {
                // The cache was stale: forget the object (unless the watch has already replaced it with another).
                known.withLock { known in
                    if known[key]?.string(at: ["metadata", "uid"]) == sealedObject.string(at: ["metadata", "uid"]) { known[key] = nil }
                }
                forget(key)
                return true
            }
            let changed = applied == .written
            metrics.condition(namespace: namespace, name: name, instance: instance, synced: true)
            lastFailure.withLock { $0[key] = nil }
            if changed {
                _ = try? await client.recordEvent(about: sealedObject, reason: "Unsealed", message: "SealedSecret unsealed successfully",
                                                  component: settings.component)
            }
            // A status that could not be written is retried like any failure.
            return await writeStatus(sealedObject, synced: true, message: "")
        } catch {
            metrics.unsealError(reason: error.reason, namespace: namespace)
            metrics.condition(namespace: namespace, name: name, instance: instance, synced: false)
            let isNew = lastFailure.withLock { last -> Bool in
                defer { last[key] = error.message }
                return last[key] != error.message
            }
            if isNew {
                logger.warning("cannot unseal", metadata: ["object": "\(key)", "reason": "\(error.message)"])
                _ = try? await client.recordEvent(about: sealedObject, type: "Warning", reason: error.eventReason,
                                                  message: error.message, component: settings.component)
            }
            // Counted once: this failure is already in unseal_errors_total, whether or not its status can be written.
            _ = await writeStatus(sealedObject, synced: false, message: error.message, countingFailure: false)
            return false
        }
    }

    /// What ``apply(_:namespace:name:)`` did.
    enum Applied { case unchanged, written, sealedSecretGone }

    /// Unseals and writes the Secret, as ``SecretWrite`` decides; says whether anything was written, or that the
    /// SealedSecret turned out not to exist any more.
    private func apply(_ sealedObject: ManifestValue, namespace: String, name: String) async throws(ReconcileFailure) -> Applied {
        let key = namespace + "/" + name
        // The Secret is read first (live, never from a cache): if it, the SealedSecret and the keys are as they were
        // when this controller last brought them in line, there is nothing to decrypt.
        var existing = try await readSecret(name: name, namespace: namespace, doing: "cannot read the Secret")
        let sealedAnnotations = sealedObject.value(at: ["metadata", "annotations"]).map { String(decoding: $0.jsonBytes, as: UTF8.self) } ?? ""
        let sealedIdentity = [sealedObject.string(at: ["metadata", "uid"]) ?? "", Self.generation(sealedObject), sealedAnnotations]
            .joined(separator: "|")
        func fingerprint(_ secret: ManifestValue?) -> Fingerprint {
            Fingerprint(sealedSecret: sealedIdentity, secretResourceVersion: secret?.resourceVersionText, keyCount: keys.keyCount, identityCount: keys.identityCount)
        }
        if existing != nil, inLine.withLock({ $0[key] }) == fingerprint(existing) { return .unchanged }

        let secret: SecretManifest
        let keyRing = keys.keyRing
        var budget: OperationBudget?
        do {
            let sealed = try SealedSecretManifest(apiObject: sealedObject)
            var unsealer = Unsealer(keyRing: keyRing)
            unsealer.budget = Self.operationBudget(items: sealed.encryptedData.count, keyRing: keyRing)
            budget = unsealer.budget
            secret = try await Self.offCooperativePool { [unsealer] in try unsealer.unseal(sealed) }
        } catch let error as ManifestError {
            if let budget, budget.used >= budget.limit {
                throw ReconcileFailure(.unseal, "Failed to unseal: \(error.message); stopped after \(budget.limit) key operations, "
                                       + "the most an object of this size may cost (the keys it names in cachet.dev/sealed-by are tried first)")
            }
            throw ReconcileFailure(.unseal, "Failed to unseal: \(error.message)")
        } catch {
            throw ReconcileFailure(.unseal, "Failed to unseal: \(error)")
        }
        let desired = DesiredSecret(secret, sealedSecretName: name, sealedSecretUID: sealedObject.string(at: ["metadata", "uid"]),
                                    component: settings.component)

        // At most twice round: a create that finds the Secret already there goes on as for a Secret that was there.
        while true {
            switch SecretWrite.decide(desired, existing: existing) {
            case .unchanged:
                inLine.withLock { $0[key] = fingerprint(existing) }
                return .unchanged
            case .refuse(let failure):
                throw failure
            case .create(let object):
                // A Secret is created only for a SealedSecret that exists now, as this very object (its uid). The
                // watch cache can be stale — after the API server's state went back (an etcd restore), until the
                // relist is seen — and a create would write plaintext for an object nobody holds any more. One GET,
                // paid only when the Secret is missing.
                guard try await stillExists(sealedObject, namespace: namespace, name: name) else { return .sealedSecretGone }
                do {
                    let created = try await client.create(.secrets, object, namespace: namespace)
                    inLine.withLock { $0[key] = fingerprint(created) }
                    return .written
                } catch let error as KubeError where error.code == .alreadyExists {
                    // It appeared since the GET: read it and decide again (taken over, patched, or refused as
                    // unmanaged) instead of reporting a failure that the retry would contradict.
                    existing = try await readSecret(name: name, namespace: namespace,
                                                    doing: "the Secret appeared while it was being created, and cannot be read")
                    guard existing != nil else { throw ReconcileFailure(.update, "the Secret cannot be read") }
                } catch {
                    throw ReconcileFailure(.update, "cannot create the Secret: \(error)")
                }
            case .update(let object, _):
                do {
                    let written = try await client.update(.secrets, object)
                    inLine.withLock { $0[key] = fingerprint(written) }
                    return .written
                } catch let error as KubeError where error.code == .conflict {
                    throw ReconcileFailure(.update, "the Secret changed while it was being updated; will retry")
                } catch {
                    throw ReconcileFailure(.update, "cannot update the Secret: \(error)")
                }
            }
        }
    }

    /// Whether the SealedSecret `sealedObject` (as cached) still exists as the same object (uid) on the API server.
    private func stillExists(_ sealedObject: ManifestValue, namespace: String, name: String) async throws(ReconcileFailure) -> Bool {
        do {
            let live = try await client.get(.sealedSecrets, name: name, namespace: namespace)
            return live.string(at: ["metadata", "uid"]) == sealedObject.string(at: ["metadata", "uid"])
        } catch let error as KubeError where error.code == .notFound {
            return false
        } catch {
            throw ReconcileFailure(.update, "cannot read the SealedSecret before creating its Secret: \(error)")
        }
    }

    /// The Secret as the API server has it now, or nil when there is none.
    private func readSecret(name: String, namespace: String, doing what: String) async throws(ReconcileFailure) -> ManifestValue? {
        do {
            return try await client.get(.secrets, name: name, namespace: namespace)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        } catch {
            throw ReconcileFailure(.update, "\(what): \(error)")
        }
    }

    /// The `Synced` condition and `observedGeneration`, written only when the status flips or a new generation was
    /// observed (Bitnami's rule: a changed message alone does not justify a write).
    /// Returns false when the status could not be written, so that the object is retried (the retry costs a GET: the
    /// Secret is already in line).
    private func writeStatus(
        _ sealedObject: ManifestValue, synced: Bool, message: String, isRetry: Bool = false, countingFailure: Bool = true
    ) async -> Bool {
        guard settings.updateStatus else { return true }
        let generation = sealedObject.value(at: ["metadata", "generation"]) ?? .number("0")
        let conditions = sealedObject.value(at: ["status", "conditions"])?.arrayValue ?? []
        let current = conditions.first { $0["type"]?.stringValue == "Synced" }
        let status = synced ? "True" : "False"
        let flipped = current?["status"]?.stringValue != status
        guard flipped || sealedObject.value(at: ["status", "observedGeneration"]) != generation else { return true }
        let now = Date().formatted(.iso8601)
        let condition = ManifestValue.object([
            ("type", .string("Synced")), ("status", .string(status)), ("message", .string(message)),
            ("lastUpdateTime", .string(now)),
            ("lastTransitionTime", flipped ? .string(now) : current?["lastTransitionTime"] ?? .string(now)),
        ])
        var object = sealedObject
        object.setValue(.object([
            ("observedGeneration", generation),
            ("conditions", .array([condition] + conditions.filter { $0["type"]?.stringValue != "Synced" })),
        ]), at: ["status"])
        do {
            let written = try await client.updateStatus(.sealedSecrets, object)
            // Keep the cache's resourceVersion current for the next status write, unless the watch already brought a
            // newer object (which must not be replaced by this older one).
            let key = Self.key(sealedObject) ?? ""
            known.withLock { known in
                if known[key]?.value(at: ["metadata", "resourceVersion"]) == sealedObject.value(at: ["metadata", "resourceVersion"]) {
                    known[key] = written
                }
            }
            return true
        } catch let error as KubeError where error.code == .conflict && !isRetry {
            // Someone wrote the object in between: if its spec is unchanged, write the status onto the fresh copy
            // (a new spec brings its own reconcile, whose status wins).
            guard let fresh = try? await client.get(.sealedSecrets, name: sealedObject.string(at: ["metadata", "name"]) ?? "",
                                                    namespace: sealedObject.string(at: ["metadata", "namespace"]))
            else { return false }
            guard Self.generation(fresh) == Self.generation(sealedObject) else { return true }
            return await writeStatus(fresh, synced: synced, message: message, isRetry: true, countingFailure: countingFailure)
        } catch {
            logger.debug("status not written; will retry", metadata: ["reason": "\(error)"])
            if countingFailure {
                metrics.unsealError(reason: .status, namespace: sealedObject.string(at: ["metadata", "namespace"]) ?? "")
            }
            return false
        }
    }

    /// Runs CPU-bound work (RSA) on Dispatch's threads, so the cooperative pool stays free for I/O: the HTTP API
    /// answers and API requests keep flowing while keys are opened.
    static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }
}

extension ManifestValue {
    var resourceVersionText: String? { string(at: ["metadata", "resourceVersion"]) }
}
