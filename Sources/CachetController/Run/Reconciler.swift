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
public final class Reconciler: Service, Sendable {
    public struct Settings: Sendable {
        /// Namespaces to watch; nil for all.
        public var namespaces: [String]?
        public var workers: Int
        public var resyncPeriod: Duration = .seconds(600)
        public var updateStatus = true
        /// Only SealedSecrets matching this label selector are reconciled (Bitnami's `--label-selector`).
        public var labelSelector: String?
        /// Watch the Secrets the controller wrote, to recreate a deleted one at once. Off with Bitnami's
        /// `--skip-recreate`, for installations that may not list or watch Secrets; a deleted Secret then comes back
        /// at the next change of its SealedSecret or the next resync.
        public var recreateDeletedSecrets = true
        public var retryBaseDelay: Duration = .milliseconds(50)
        public var retryMaxDelay: Duration = .seconds(300)
        /// Retries of a failing object before it waits for its next change, a new key or the resync (Bitnami's
        /// `--max-unseal-retries`); nil retries forever, with backoff.
        public var maxRetries: Int?
        public var qps: Double = 50
        public var burst: Double = 100
        /// `metadata.ownerReferences` unless the template says `skip-set-owner-references`.
        public var component = "cachet-controller"

        public init(workers: Int) {
            self.workers = max(1, workers)
        }
    }

    /// Set on every Secret the controller writes, so that it can watch just those (for deletions) instead of every
    /// Secret in the cluster.
    public static let managedLabel = "cachet.dev/unsealed-by"

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
    }

    public init(client: KubeClient, keys: KeyManager, metrics: ControllerMetrics, settings: Settings, logger: Logger) {
        self.client = client
        self.keys = keys
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
        self.queue = WorkQueue(baseDelay: settings.retryBaseDelay, maxDelay: settings.retryMaxDelay,
                               maxRetries: settings.maxRetries, qps: settings.qps, burst: settings.burst)
    }

    public func run() async throws {
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
            group.addTask { await untilShutdown("the work queue clock", logger: self.logger) { try await self.clock() } }
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
                    let changed = seen.filter { key, object in
                        known[key].map { Self.generation($0) != Self.generation(object) } ?? true
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

    /// Retries coming due; failed objects again at once when a key is added (it may be the one they need); and the
    /// periodic resync of every known SealedSecret.
    private func clock() async throws {
        var sinceResync: Duration = .zero
        var keyCount = keys.keyCount
        let tick: Duration = .milliseconds(20)
        while !Task.isCancelled {
            try await Task.sleep(for: tick)
            await queue.promoteDueRetries()
            if keys.keyCount != keyCount {
                keyCount = keys.keyCount
                for key in lastFailure.withLock({ Array($0.keys) }).sorted() { await queue.add(key) }
            }
            sinceResync += tick
            if sinceResync >= settings.resyncPeriod {
                sinceResync = .zero
                for key in known.withLock({ Array($0.keys) }).sorted() { await queue.add(key) }
            }
        }
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

        let outcome: Result<Bool, ReconcileFailure>
        do {
            outcome = .success(try await apply(sealedObject, namespace: namespace, name: name))
        } catch let failure as ReconcileFailure {
            outcome = .failure(failure)
        } catch {
            outcome = .failure(ReconcileFailure(reason: "update", message: "\(error)"))
        }

        let instance = sealedObject.string(at: ["metadata", "labels", "app.kubernetes.io/instance"]) ?? ""
        switch outcome {
        case .success(let changed):
            metrics.condition(namespace: namespace, name: name, instance: instance, synced: true)
            lastFailure.withLock { $0[key] = nil }
            if changed {
                _ = try? await client.recordEvent(about: sealedObject, reason: "Unsealed", message: "SealedSecret unsealed successfully",
                                                  component: settings.component)
            }
            // A status that could not be written is retried like any failure.
            return await writeStatus(sealedObject, synced: true, message: "")
        case .failure(let failure):
            metrics.unsealError(reason: failure.reason, namespace: namespace)
            metrics.condition(namespace: namespace, name: name, instance: instance, synced: false)
            let isNew = lastFailure.withLock { last -> Bool in
                defer { last[key] = failure.message }
                return last[key] != failure.message
            }
            if isNew {
                logger.warning("cannot unseal", metadata: ["object": "\(key)", "reason": "\(failure.message)"])
                _ = try? await client.recordEvent(about: sealedObject, type: "Warning", reason: failure.eventReason,
                                                  message: failure.message, component: settings.component)
            }
            // Counted once: this failure is already in unseal_errors_total, whether or not its status can be written.
            _ = await writeStatus(sealedObject, synced: false, message: failure.message, countingFailure: false)
            return false
        }
    }

    /// A failure with Bitnami's metric reason and a message safe to show (no values: the messages come from the
    /// unsealer and the API server, which never hold plaintext).
    struct ReconcileFailure: Error {
        let reason: String
        let message: String

        var eventReason: String { reason == "unseal" ? "ErrUnsealFailed" : "ErrUpdateFailed" }
    }

    /// Unseals and writes the Secret; returns whether anything was written.
    private func apply(_ sealedObject: ManifestValue, namespace: String, name: String) async throws -> Bool {
        let key = namespace + "/" + name
        // The Secret is read first (live, never from a cache): if it, the SealedSecret and the keys are as they were
        // when this controller last brought them in line, there is nothing to decrypt.
        var current: ManifestValue?
        do {
            current = try await client.get(.secrets, name: name, namespace: namespace)
        } catch let error as KubeError where error.code == .notFound {
            current = nil
        } catch {
            throw ReconcileFailure(reason: "update", message: "cannot read the Secret: \(error)")
        }
        let sealedAnnotations = sealedObject.value(at: ["metadata", "annotations"]).map { String(decoding: $0.jsonBytes, as: UTF8.self) } ?? ""
        let sealedIdentity = [sealedObject.string(at: ["metadata", "uid"]) ?? "", Self.generation(sealedObject), sealedAnnotations]
            .joined(separator: "|")
        func fingerprint(_ secret: ManifestValue?) -> Fingerprint {
            Fingerprint(sealedSecret: sealedIdentity, secretResourceVersion: secret?.resourceVersionText, keyCount: keys.keyCount)
        }
        if current != nil, inLine.withLock({ $0[key] }) == fingerprint(current) { return false }

        let secret: SecretManifest
        do {
            let sealed = try Self.sealedSecret(from: sealedObject)
            let keyRing = keys.keyRing
            secret = try await Self.offCooperativePool { try Unsealer(keyRing: keyRing).unseal(sealed) }
        } catch let error as ManifestError {
            throw ReconcileFailure(reason: "unseal", message: "Failed to unseal: \(error.message)")
        } catch {
            throw ReconcileFailure(reason: "unseal", message: "Failed to unseal: \(error)")
        }

        var desired = secret.manifestValue
        desired.setValue(.string(settings.component), at: ["metadata", "labels", Self.managedLabel])
        let skipOwner = secret.metadata.annotations[Annotations.skipSetOwnerReferences] == "true"
        let ownerReference = ManifestValue.object([
            ("apiVersion", .string(SealedSecretManifest.apiVersion)), ("kind", .string(SealedSecretManifest.kind)),
            ("name", .string(name)), ("uid", sealedObject.value(at: ["metadata", "uid"]) ?? .null), ("controller", .bool(true)),
        ])
        if !skipOwner { desired.setValue(.array([ownerReference]), at: ["metadata", "ownerReferences"]) }

        if current == nil {
            do {
                let created = try await client.create(.secrets, desired, namespace: namespace)
                inLine.withLock { $0[key] = fingerprint(created) }
                return true
            } catch let error as KubeError where error.code == .alreadyExists {
                // It appeared since the GET: read it and go on as for a Secret that was there (taken over, patched, or
                // refused as unmanaged) instead of reporting a failure that the retry would contradict.
                do {
                    current = try await client.get(.secrets, name: name, namespace: namespace)
                } catch {
                    throw ReconcileFailure(reason: "update", message: "the Secret appeared while it was being created, and cannot be read: \(error)")
                }
            } catch {
                throw ReconcileFailure(reason: "update", message: "cannot create the Secret: \(error)")
            }
        }
        guard let existing = current else { throw ReconcileFailure(reason: "update", message: "the Secret cannot be read") }

        let annotations = existing.value(at: ["metadata", "annotations"])
        let managed = annotations?[Annotations.managed]?.stringValue == "true"
        let patchMode = annotations?[Annotations.patch]?.stringValue == "true"
        let sealedUID = sealedObject.string(at: ["metadata", "uid"])
        let owned = (existing.value(at: ["metadata", "ownerReferences"])?.arrayValue ?? []).contains {
            $0["uid"]?.stringValue == sealedUID && $0["controller"] == .bool(true)
        }
        guard owned || managed || patchMode else {
            throw ReconcileFailure(reason: "unmanaged",
                                   message: "Resource \"\(name)\" already exists and is not managed by SealedSecret")
        }

        var updated = existing
        if patchMode {
            // Patch mode merges: keys the template lacks stay; the ownerReference only with `managed` as well.
            for field in ["data", "metadata.labels", "metadata.annotations"] {
                let path = field.split(separator: ".").map(String.init)
                for key in desired.value(at: path)?.keys ?? [] {
                    updated.setValue(desired.value(at: path + [key]), at: path + [key])
                }
            }
            if managed, !skipOwner { updated.setValue(.array([ownerReference]), at: ["metadata", "ownerReferences"]) }
        } else {
            for path in [["data"], ["metadata", "labels"], ["metadata", "annotations"], ["metadata", "ownerReferences"]] {
                updated.setValue(desired.value(at: path), at: path)
            }
        }
        // The type always follows the template (immutable does not: it applies at creation only, as in Bitnami).
        if let type = desired["type"] { updated.setValue(type, at: ["type"]) }
        guard updated != existing else {
            inLine.withLock { $0[key] = fingerprint(existing) }
            return false
        }
        do {
            let written = try await client.update(.secrets, updated)
            inLine.withLock { $0[key] = fingerprint(written) }
            return true
        } catch let error as KubeError where error.code == .conflict {
            throw ReconcileFailure(reason: "update", message: "the Secret changed while it was being updated; will retry")
        } catch let error as KubeError where error.message.contains("field is immutable") {
            throw ReconcileFailure(reason: "update", message: "the target Secret is immutable and its data cannot be updated; "
                                   + "delete the Secret and it will be recreated")
        } catch {
            throw ReconcileFailure(reason: "update", message: "cannot update the Secret: \(error)")
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
                metrics.unsealError(reason: "status", namespace: sealedObject.string(at: ["metadata", "namespace"]) ?? "")
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

    static func sealedSecret(from value: ManifestValue) throws -> SealedSecretManifest {
        let documents = try ManifestReader.documents(in: value.jsonBytes)
        guard let root = documents.first?.root else { throw ManifestError("empty SealedSecret") }
        return try SealedSecretManifest(ManifestObject(document: 1, itemIndex: nil, node: root))
    }
}

extension ManifestValue {
    var resourceVersionText: String? { string(at: ["metadata", "resourceVersion"]) }
}
