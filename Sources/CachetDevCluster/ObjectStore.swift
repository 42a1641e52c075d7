import CachetKubeConfig
import CachetKubeSyntax
import CachetManifests
import FoundationEssentials

/// The dev cluster's state: objects by resource, namespace and name, one resourceVersion counter, a bounded event
/// history for watches, and the watches themselves. An actor, so every write is atomic and every watcher sees events
/// in resourceVersion order with no gap between its replay and the live stream.
actor ObjectStore {
    struct Key: Hashable, Comparable {
        let resource: String
        let namespace: String
        let name: String

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.resource, lhs.namespace, lhs.name) < (rhs.resource, rhs.namespace, rhs.name)
        }
    }

    struct HistoryEvent: Sendable {
        let resourceVersion: Int
        let resource: String
        let namespace: String
        let type: WatchEvent.Kind
        let object: ManifestValue
        let previous: ManifestValue?
    }

    struct Watcher {
        let resource: APIResource
        let namespace: String?
        let labels: LabelSelector?
        let fields: FieldSelector?
        let continuation: AsyncStream<ManifestValue>.Continuation
    }

    /// A paged list: the rest of a snapshot, served page by page exactly as it was when the list began.
    struct Snapshot {
        let resourceVersion: Int
        var remaining: [ManifestValue]
    }

    let resources: [String: APIResource]
    private(set) var resourceVersion = 0
    private var objects: [Key: ManifestValue] = [:]
    private var history: [HistoryEvent] = []
    /// Events up to this resourceVersion are no longer in the history: watching from there is 410 Gone.
    private(set) var compactedThrough = 0
    var historyLimit: Int
    private var watchers: [UUID: Watcher] = [:]
    private var snapshots: [String: Snapshot] = [:]

    init(resources: [APIResource], historyLimit: Int) {
        self.resources = Dictionary(uniqueKeysWithValues: resources.map { ($0.type.description, $0) })
        self.historyLimit = historyLimit
    }

    /// What every cluster starts with: the standard namespaces, and Bitnami's SealedSecret CRD.
    func seedDefaults() {
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? create(resources["namespaces"]!, namespace: nil, object: .object([("metadata", .object([("name", .string(namespace))]))]))
        }
        if let crds = resources[ResourceType.customResourceDefinitions.description] {
            _ = try? create(crds, namespace: nil, object: APIResource.sealedSecretsCRD)
        }
    }

    // MARK: - Reads

    func get(_ resource: APIResource, namespace: String?, name: String) throws(APIError) -> ManifestValue {
        guard let object = objects[key(resource, namespace, name)] else { throw APIError.notFound(resource.type.description, name) }
        return object
    }

    func list(
        _ resource: APIResource, namespace: String?, labels: LabelSelector?, fields: FieldSelector?,
        limit: Int?, continueToken: String?
    ) throws(APIError) -> (items: [ManifestValue], resourceVersion: Int, continueToken: String?) {
        var items: [ManifestValue]
        var listVersion = resourceVersion
        if let continueToken {
            guard let snapshot = snapshots.removeValue(forKey: continueToken), snapshot.resourceVersion > compactedThrough else {
                throw APIError.gone("The provided continue parameter is too old to display a consistent list result. "
                                    + "You can start a new list without the continue parameter.")
            }
            items = snapshot.remaining
            listVersion = snapshot.resourceVersion
        } else {
            items = objects.keys.filter { $0.resource == resource.type.description && (namespace == nil || $0.namespace == namespace) }
                .sorted().compactMap { objects[$0] }
                .filter { object in Self.matches(object, labels: labels, fields: fields) }
        }
        guard let limit, limit > 0, items.count > limit else { return (items, listVersion, nil) }
        let token = UUID().uuidString.lowercased()
        snapshots[token] = Snapshot(resourceVersion: listVersion, remaining: Array(items[limit...]))
        if snapshots.count > 1000, let oldest = snapshots.min(by: { $0.value.resourceVersion < $1.value.resourceVersion })?.key {
            snapshots[oldest] = nil
        }
        return (Array(items[..<limit]), listVersion, token)
    }

    static func matches(_ object: ManifestValue, labels: LabelSelector?, fields: FieldSelector?) -> Bool {
        let objectLabels = (object.value(at: ["metadata", "labels"])?.keys ?? []).reduce(into: [String: String]()) { map, key in
            map[key] = object.string(at: ["metadata", "labels", key])
        }
        return (labels?.matches(objectLabels) ?? true) && (fields?.matches(object) ?? true)
    }

    // MARK: - Writes

    func create(_ resource: APIResource, namespace: String?, object body: ManifestValue) throws(APIError) -> ManifestValue {
        guard case .object = body else { throw APIError.badRequest("the body must be a JSON object") }
        var object = body
        try checkTypeMeta(&object, resource)
        let namespace = try namespaceFor(resource, path: namespace, object: object)
        var name = object.string(at: ["metadata", "name"]) ?? ""
        if name.isEmpty, let prefix = object.string(at: ["metadata", "generateName"]) {
            name = prefix + String(UUID().uuidString.lowercased().filter(\.isLetter).prefix(5))
        }
        try Self.validateName(name, resource: resource)
        let key = key(resource, namespace, name)
        guard objects[key] == nil else { throw APIError.alreadyExists(resource.type.description, name) }
        resourceVersion += 1
        object.setValue(.string(name), at: ["metadata", "name"])
        if let namespace { object.setValue(.string(namespace), at: ["metadata", "namespace"]) }
        object.setValue(.string(UUID().uuidString.lowercased()), at: ["metadata", "uid"])
        object.setValue(.string(Date().formatted(.iso8601)), at: ["metadata", "creationTimestamp"])
        object.setValue(.string(String(resourceVersion)), at: ["metadata", "resourceVersion"])
        object.setValue(nil, at: ["metadata", "deletionTimestamp"])
        if resource.hasGeneration { object.setValue(.number("1"), at: ["metadata", "generation"]) }
        if resource.hasStatusSubresource, resource.type != .namespaces { object.setValue(nil, at: ["status"]) }
        try Self.normalize(&object, resource)
        objects[key] = object
        record(.added, resource, namespace ?? "", object, previous: nil)
        return object
    }

    /// PUT of the object or of its `status`. A non-empty, different `metadata.resourceVersion` is a 409: the
    /// optimistic concurrency every Kubernetes client relies on. A write that changes nothing bumps nothing.
    func update(
        _ resource: APIResource, namespace: String?, name: String, object body: ManifestValue, subresource: String?
    ) throws(APIError) -> ManifestValue {
        guard let existing = objects[key(resource, namespace, name)] else { throw APIError.notFound(resource.type.description, name) }
        var object = body
        try checkTypeMeta(&object, resource)
        if let bodyName = object.string(at: ["metadata", "name"]), bodyName != name {
            throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if let version = object.string(at: ["metadata", "resourceVersion"]), !version.isEmpty,
           version != existing.string(at: ["metadata", "resourceVersion"]) {
            throw APIError.conflict(resource.type.description, name)
        }
        var updated: ManifestValue
        if subresource == "status" {
            updated = existing
            updated.setValue(object["status"], at: ["status"])
        } else {
            updated = object
            for field in ["uid", "creationTimestamp", "generation", "namespace", "name"] {
                updated.setValue(existing.value(at: ["metadata", field]), at: ["metadata", field])
            }
            if resource.hasStatusSubresource { updated.setValue(existing["status"], at: ["status"]) }
            if resource.hasGeneration, updated["spec"] != existing["spec"] {
                let generation = Int(existing.value(at: ["metadata", "generation"]).flatMap { if case .number(let n) = $0 { n } else { nil } } ?? "1") ?? 1
                updated.setValue(.number(String(generation + 1)), at: ["metadata", "generation"])
            }
            try Self.normalize(&updated, resource)
        }
        try Self.validateName(name, resource: resource)
        updated.setValue(existing.value(at: ["metadata", "resourceVersion"]), at: ["metadata", "resourceVersion"])
        if updated == existing { return existing }
        resourceVersion += 1
        updated.setValue(.string(String(resourceVersion)), at: ["metadata", "resourceVersion"])
        objects[key(resource, namespace, name)] = updated
        record(.modified, resource, namespace ?? "", updated, previous: existing)
        return updated
    }

    func delete(_ resource: APIResource, namespace: String?, name: String) throws(APIError) -> ManifestValue {
        let key = key(resource, namespace, name)
        guard let object = objects[key] else { throw APIError.notFound(resource.type.description, name) }
        var deleted = [remove(key, object)]
        // A namespace takes its objects with it.
        if resource.type == .namespaces {
            for member in objects.keys.filter({ $0.namespace == name }).sorted() {
                deleted.append(remove(member, objects[member]!))
            }
        }
        collectGarbage(ownedBy: deleted)
        return deleted[0]
    }

    /// Garbage collection, in the background as the API server's collector does: every object whose
    /// ownerReferences name a deleted object goes too, and so on down the ownership chain.
    private func collectGarbage(ownedBy deleted: [ManifestValue]) {
        var gone = Set(deleted.compactMap { $0.string(at: ["metadata", "uid"]) })
        while !gone.isEmpty {
            var next: Set<String> = []
            for (key, object) in objects.sorted(by: { $0.key < $1.key }) {
                let owners = (object.value(at: ["metadata", "ownerReferences"])?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue }
                if owners.contains(where: gone.contains) {
                    let removed = remove(key, object)
                    if let uid = removed.string(at: ["metadata", "uid"]) { next.insert(uid) }
                }
            }
            gone = next
        }
    }

    private func remove(_ key: Key, _ object: ManifestValue) -> ManifestValue {
        objects[key] = nil
        resourceVersion += 1
        var deleted = object
        deleted.setValue(.string(String(resourceVersion)), at: ["metadata", "resourceVersion"])
        if let resource = resources[key.resource] { record(.deleted, resource, key.namespace, deleted, previous: object) }
        return deleted
    }

    // MARK: - Watches

    /// Starts a watch. Without a resourceVersion (or "0") the watcher first gets every matching object as ADDED;
    /// from a resourceVersion it gets every later event from the history (410 Gone if that part was compacted).
    func watch(
        _ resource: APIResource, namespace: String?, from version: String?, labels: LabelSelector?, fields: FieldSelector?
    ) throws(APIError) -> (id: UUID, events: AsyncStream<ManifestValue>) {
        let (stream, continuation) = AsyncStream.makeStream(of: ManifestValue.self)
        let watcher = Watcher(resource: resource, namespace: namespace, labels: labels, fields: fields, continuation: continuation)
        if let version, let start = Int(version), start > 0 {
            // Never reached: kube-apiserver does not pretend a future version exists (the state went back).
            guard start <= resourceVersion else { throw APIError.tooLargeResourceVersion(start, current: resourceVersion) }
            guard start >= compactedThrough else {
                throw APIError.gone("too old resource version: \(start) (\(compactedThrough + 1))")
            }
            for event in history where event.resourceVersion > start && event.resource == resource.type.description {
                deliver(event, to: watcher)
            }
        } else if version.map({ Int($0) == nil && !$0.isEmpty }) ?? false {
            throw APIError.badRequest("invalid resource version: \(version!)")
        } else {
            let (items, _, _) = try list(resource, namespace: namespace, labels: labels, fields: fields, limit: nil, continueToken: nil)
            for item in items { continuation.yield(Self.event(.added, item)) }
        }
        let id = UUID()
        watchers[id] = watcher
        return (id, stream)
    }

    /// A BOOKMARK at the current resourceVersion, sent through the watcher's own stream so that it can never
    /// overtake an event the watcher has not received yet.
    func sendBookmark(_ id: UUID) {
        guard let watcher = watchers[id] else { return }
        let object = ManifestValue.object([
            ("kind", .string(watcher.resource.type.kind)), ("apiVersion", .string(watcher.resource.type.apiVersion)),
            ("metadata", .object([("resourceVersion", .string(String(resourceVersion)))])),
        ])
        watcher.continuation.yield(Self.event(.bookmark, object))
    }

    func stopWatch(_ id: UUID) {
        watchers.removeValue(forKey: id)?.continuation.finish()
    }

    /// Fault injection: every open watch ends at once, as when a connection to the API server drops.
    func dropAllWatches() -> Int {
        let count = watchers.count
        for watcher in watchers.values { watcher.continuation.finish() }
        watchers.removeAll()
        return count
    }

    var openWatchCount: Int { watchers.count }

    /// Forgets the event history (and paged snapshots): watches and continue tokens from before now get 410 Gone.
    func compact() {
        compactedThrough = resourceVersion
        history.removeAll()
        snapshots.removeAll()
    }

    /// What ``restore(_:)`` goes back to.
    struct SavedState: Sendable {
        fileprivate let objects: [Key: ManifestValue]
        fileprivate let resourceVersion: Int
    }

    /// The objects and the resourceVersion now, for a later ``restore(_:)``.
    func saveState() -> SavedState {
        SavedState(objects: objects, resourceVersion: resourceVersion)
    }

    /// The state goes back in time, as after an etcd restore: the objects and the resourceVersion of `snapshot`,
    /// no history. Watches end; a client resuming from a version it saw after the snapshot is told it is too large.
    func restore(_ snapshot: SavedState) {
        objects = snapshot.objects
        _ = dropAllWatches()
        resourceVersion = snapshot.resourceVersion
        compact()
    }

    /// Loses every object (a restart without state). The resourceVersion keeps counting, so no old version is ever
    /// reused; the history is gone, so old watches get 410.
    func wipe() {
        objects.removeAll()
        _ = dropAllWatches()
        // One step past every version a client could hold, then compacted: every old watch gets 410 and relists.
        resourceVersion += 1
        compact()
        seedDefaults()
    }

    private func record(_ type: WatchEvent.Kind, _ resource: APIResource, _ namespace: String, _ object: ManifestValue,
                        previous: ManifestValue?) {
        let event = HistoryEvent(resourceVersion: resourceVersion, resource: resource.type.description, namespace: namespace,
                                 type: type, object: object, previous: previous)
        history.append(event)
        if history.count > historyLimit {
            let dropped = history.count - historyLimit
            compactedThrough = history[dropped - 1].resourceVersion
            history.removeFirst(dropped)
        }
        for watcher in watchers.values where watcher.resource.type.description == event.resource {
            deliver(event, to: watcher)
        }
    }

    /// Delivers an event as the watcher's selectors see it: an object that starts matching is ADDED, one that stops
    /// matching is DELETED.
    private func deliver(_ event: HistoryEvent, to watcher: Watcher) {
        if let namespace = watcher.namespace, namespace != event.namespace { return }
        let now = Self.matches(event.object, labels: watcher.labels, fields: watcher.fields)
        let before = event.previous.map { Self.matches($0, labels: watcher.labels, fields: watcher.fields) } ?? false
        let type: WatchEvent.Kind? = switch event.type {
        case .added: now ? .added : nil
        case .modified: now && before ? .modified : now ? .added : before ? .deleted : nil
        case .deleted: before ? .deleted : nil
        default: nil
        }
        if let type { watcher.continuation.yield(Self.event(type, event.object)) }
    }

    static func event(_ type: WatchEvent.Kind, _ object: ManifestValue) -> ManifestValue {
        .object([("type", .string(type.rawValue)), ("object", object)])
    }

    // MARK: - Validation

    private func key(_ resource: APIResource, _ namespace: String?, _ name: String) -> Key {
        Key(resource: resource.type.description, namespace: resource.type.namespaced ? namespace ?? "" : "", name: name)
    }

    private func checkTypeMeta(_ object: inout ManifestValue, _ resource: APIResource) throws(APIError) {
        if let kind = object["kind"]?.stringValue, kind != resource.type.kind {
            throw APIError.badRequest("the object's kind \(kind) does not match the resource \(resource.type)")
        }
        if let apiVersion = object["apiVersion"]?.stringValue, apiVersion != resource.type.apiVersion {
            throw APIError.badRequest("the object's apiVersion \(apiVersion) does not match \(resource.type.apiVersion)")
        }
        object.setValue(.string(resource.type.kind), at: ["kind"])
        object.setValue(.string(resource.type.apiVersion), at: ["apiVersion"])
    }

    private func namespaceFor(_ resource: APIResource, path: String?, object: ManifestValue) throws(APIError) -> String? {
        guard resource.type.namespaced else { return nil }
        let own = object.string(at: ["metadata", "namespace"])
        guard let namespace = path ?? own else { throw APIError.badRequest("a namespace is required for \(resource.type)") }
        if let own, !own.isEmpty, own != namespace {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        guard objects[Key(resource: "namespaces", namespace: "", name: namespace)] != nil else {
            throw APIError.notFound("namespaces", namespace)
        }
        return namespace
    }

    static func validateName(_ name: String, resource: APIResource) throws(APIError) {
        let isNamespace = resource.type == .namespaces
        guard isNamespace ? KubeSyntax.isDNSLabel(name) : KubeSyntax.isDNSSubdomain(name) else {
            throw APIError.invalid("\(resource.type.kind) \"\(name)\" is invalid: metadata.name: Invalid value: \"\(name)\": "
                                   + "a lowercase RFC 1123 \(isNamespace ? "label" : "subdomain") must consist of "
                                   + "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        }
    }

    /// What the API server does to each kind on write.
    static func normalize(_ object: inout ManifestValue, _ resource: APIResource) throws(APIError) {
        switch resource.type {
        case .secrets:
            // stringData is write-only: merged into data (as base64), then dropped.
            if let stringData = object["stringData"] {
                for key in stringData.keys {
                    object.setValue(.string(Base64.encode(Array((stringData[key]?.stringValue ?? "").utf8))), at: ["data", key])
                }
                object.setValue(nil, at: ["stringData"])
            }
            for key in object["data"]?.keys ?? [] {
                guard let value = object.string(at: ["data", key]), (try? Base64.decode(value)) != nil else {
                    throw APIError.invalid("Secret \"\(object.string(at: ["metadata", "name"]) ?? "")\" is invalid: data[\(key)]: "
                                           + "Invalid value: illegal base64 data")
                }
            }
            if (object["type"]?.stringValue ?? "").isEmpty { object.setValue(.string("Opaque"), at: ["type"]) }
        case .namespaces:
            object.setValue(.object([("phase", .string("Active"))]), at: ["status"])
        default:
            break
        }
    }
}

import CachetCrypto
