import CachetCrypto
import Dispatch
import Synchronization

/// Turns SealedSecrets back into the Secrets the controller would write (recovery, and the render mode).
package struct Unsealer: Sendable {
    package let keyRing: KeyRing
    /// Fills a missing `metadata.namespace` (SealedSecrets kept without one, for kustomize to set); a different
    /// namespace in the object is an error.
    package var namespace: String?
    /// Caps the private-key operations (RSA decryptions, X25519 unwraps) of everything this unsealer opens (for work
    /// done on request); nil for no cap.
    package var budget: OperationBudget?

    package init(keyRing: KeyRing, namespace: String? = nil) {
        self.keyRing = keyRing
        self.namespace = namespace
    }

    /// Opens every item of one SealedSecret; fails (naming each item that did not open, never a value) unless all do.
    package func unseal(_ sealed: SealedSecretManifest) throws -> SecretManifest {
        try unsealAll([sealed], jobs: 1)[0].get()
    }

    /// Opens many SealedSecrets, item by item on `jobs` threads (RSA decryption is the whole cost, and it scales
    /// with cores). Results come back in input order, one per object.
    package func unsealAll(_ objects: [SealedSecretManifest], jobs: Int) -> [Result<SecretManifest, any Error>] {
        let prepared = objects.map { object in Result { try prepare(object) } }
        var work: [(object: Int, item: String)] = []
        for (index, preparation) in prepared.enumerated() {
            guard case .success(let object) = preparation else { continue }
            work += object.sealed.encryptedData.keys.sorted().map { (index, $0) }
        }
        let opened = openInParallel(work, prepared: prepared, jobs: jobs)

        var openedByObject = [[(String, Result<SecureBytes, CachetCryptoError>)]](repeating: [], count: objects.count)
        for (unit, result) in zip(work, opened) { openedByObject[unit.object].append((unit.item, result)) }
        return prepared.enumerated().map { index, preparation in
            Result { try assemble(preparation.get(), items: openedByObject[index]) }
        }
    }

    /// What opening an object needs, checked before any RSA work.
    struct Prepared: Sendable {
        let sealed: SealedSecretManifest
        let name: String
        let namespace: String?
        let scope: SealingScope
        /// `cachet.dev/sealed-by`, read once for all the object's items.
        let hints: [KeyID]
    }

    func prepare(_ sealed: SealedSecretManifest) throws -> Prepared {
        func error(_ message: String, path: String? = nil) -> ManifestError {
            sealed.source?.error(message, path: path) ?? ManifestError(message, path: path)
        }
        guard !sealed.hasLegacyData else {
            throw error("spec.data (the pre-v0.7 single-value format) is not supported; re-seal the Secret", path: "spec.data")
        }
        guard !sealed.template.hasTemplateData else {
            throw error("spec.template.data (Go templates) is not supported yet; the object was not unsealed",
                        path: "spec.template.data")
        }
        guard let name = sealed.metadata.name else { throw error("metadata.name is missing", path: "metadata") }
        if let given = namespace, let own = sealed.metadata.namespace, given != own {
            throw error("namespace mismatch: the SealedSecret says \"\(own)\" but -n says \"\(given)\"", path: "metadata.namespace")
        }
        let namespace = sealed.metadata.namespace ?? self.namespace
        let scope: SealingScope
        switch (sealed.scopeKind, namespace) {
        case (.strict, let namespace?): scope = .strict(namespace: namespace, name: name)
        case (.namespaceWide, let namespace?): scope = .namespaceWide(namespace: namespace)
        case (.clusterWide, _): scope = .clusterWide
        case (let kind, nil):
            throw error("the SealedSecret has no namespace and its \(kind.rawValue) scope needs one; pass -n", path: "metadata")
        }
        do {
            try scope.validate()
        } catch let failure as CachetCryptoError {
            throw error(failure.message, path: "metadata")  // named with its file and document, like every other problem
        }
        return Prepared(sealed: sealed, name: name, namespace: namespace, scope: scope, hints: sealed.sealedBy)
    }

    /// Opens each (object, item) on a pool of `jobs` threads pulling from a shared counter.
    private func openInParallel(
        _ work: [(object: Int, item: String)], prepared: [Result<Prepared, any Error>], jobs: Int
    ) -> [Result<SecureBytes, CachetCryptoError>] {
        let units = work.map { unit -> (value: String, scope: SealingScope, item: String, hints: [KeyID]) in
            let object = try! prepared[unit.object].get()
            return (object.sealed.encryptedData[unit.item]!, object.scope, unit.item, object.hints)
        }
        let results = ResultSlots<Result<SecureBytes, CachetCryptoError>>(count: units.count)
        let next = WorkCounter()
        // Keys that opened recent values (and, for v2, the stanza) are tried next: a repository's values are mostly
        // sealed by one or two keys, so even values without a cachet.dev/sealed-by hint cost about one operation.
        let recent = Mutex<[KeyRing.Opening]>([])
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, units.count))) { _ in
            while let index = next.take(below: units.count) {
                let unit = units[index]
                do {
                    let (plaintext, opening) = try keyRing.open(
                        sealedValue: unit.value, scope: unit.scope, item: unit.item, preferring: unit.hints,
                        recent: recent.withLock { $0 }, budget: budget)
                    results.set(index, .success(plaintext))
                    recent.withLock { openings in
                        if openings.first != opening { openings = [opening] + openings.filter { $0.keyID != opening.keyID }.prefix(3) }
                    }
                } catch let error as CachetCryptoError {
                    results.set(index, .failure(error))
                } catch {
                    results.set(index, .failure(CachetCryptoError.cannotOpen))
                }
            }
        }
        return results.values
    }

    private func assemble(
        _ object: Prepared, items: [(String, Result<SecureBytes, CachetCryptoError>)]
    ) throws -> SecretManifest {
        func error(_ message: String) -> ManifestError {
            object.sealed.source?.error(message, path: "spec.encryptedData") ?? ManifestError(message, path: "spec.encryptedData")
        }
        var opened: [String: SecureBytes] = [:]
        var failed: [String] = []
        var malformed: [String] = []
        for (item, result) in items {
            switch result {
            case .success(let plaintext): opened[item] = plaintext
            case .failure(let failure) where failure.code == .malformedValue: malformed.append(item)
            case .failure(let failure) where failure.code == .internalFailure: throw error(failure.message)
            case .failure: failed.append(item)
            }
        }
        if !malformed.isEmpty { throw error("not a sealed value: " + Self.list(malformed)) }
        if !failed.isEmpty {
            // Counted among the keys of the kinds that could have opened them: RSA keys for v1, identities for v2.
            let kinds = Set(failed.map { SealedValue.isV2(object.sealed.encryptedData[$0] ?? "") })
            let count = (kinds.contains(false) ? keyRing.keys.count : 0) + (kinds.contains(true) ? keyRing.ageIdentities.count : 0)
            let keys = switch count {
            case 0: "no key of their kind (v1 values need an RSA key, v2 values an age identity)"
            case 1: "the key"
            default: "any of the \(count) keys"
            }
            throw error("cannot decrypt \(Self.list(failed)) with \(keys) for scope \(object.scope): "
                        + "wrong key, wrong scope, or the value was altered" + Self.movedHint(object))
        }
        // Bitnami's mapping: the template's metadata, with name and namespace forced to the SealedSecret's.
        var metadata = object.sealed.template.metadata
        metadata.name = object.name
        metadata.namespace = object.namespace
        return SecretManifest(metadata: metadata, items: opened, type: object.sealed.template.type,
                              immutable: object.sealed.template.immutable)
    }
}

extension Unsealer {
    /// When a bound value does not open and the template still names another place (sealers write the namespace and
    /// name they sealed for there; kustomize's `namespace:` and `namePrefix:` change only the top level), says so:
    /// the usual cause is an overlay or an edit that renamed or moved the object after sealing.
    static func movedHint(_ object: Prepared) -> String {
        let template = object.sealed.template.metadata
        let sealedFor: String
        switch object.scope {
        case .strict:
            guard let namespace = template.namespace, let name = template.name, namespace != object.namespace || name != object.name
            else { return "" }
            sealedFor = "\(namespace)/\(name)"
        case .namespaceWide:
            guard let namespace = template.namespace, namespace != object.namespace else { return "" }
            sealedFor = namespace
        case .clusterWide:
            return ""
        }
        return " (its template says it was sealed for \(sealedFor.quotedForMessage()); it was renamed or moved since)"
    }

    /// Item names for a one-line message: the first ten, then how many more.
    static func list(_ items: [String]) -> String {
        items.count <= 10 ? items.joined(separator: ", ") : items.prefix(10).joined(separator: ", ") + " and \(items.count - 10) more"
    }
}

/// Hands out 0, 1, 2, … to worker threads, each number once.
final class WorkCounter: Sendable {
    private let next = Atomic<Int>(0)

    func take(below limit: Int) -> Int? {
        let value = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return value < limit ? value : nil
    }
}

/// One slot per work item, filled by the workers, read once they have all finished.
final class ResultSlots<Value: Sendable>: Sendable {
    // A plain array is not safe for concurrent writes even to different indices (its buffer may be uniqued), so
    // writes go through a lock; a store is nothing next to the RSA work each one follows.
    private let slots: Mutex<[Value?]>

    init(count: Int) {
        slots = Mutex(Array(repeating: nil, count: count))
    }

    func set(_ index: Int, _ value: Value) {
        slots.withLock { $0[index] = value }
    }

    var values: [Value] { slots.withLock { $0.map { $0! } } }
}
