import AsyncHTTPClient
import CachetKubeConfig
import CachetKubeSyntax
import CachetManifests
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import FoundationEssentials
import HummingbirdCore

/// The dev cluster's HTTP API: discovery, resource CRUD, watch, patch, the status subresource and the service proxy,
/// as kube-apiserver serves them (JSON only), plus the faults tests inject.
struct DevClusterResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let store: ObjectStore
    let faults: FaultInjector
    let settings: DevCluster.Settings
    let proxyClient: HTTPClient

    /// Largest request body accepted (the API server's own limit is 3 MiB).
    static let maxBodyBytes = 3 << 20

    func respond(to request: Request, context: Context) async throws -> Response {
        // A server that is stopping takes no new requests, so that no new watch can hold its shutdown open.
        if faults.stopping { return Self.failure(APIError(code: 503, reason: "ServiceUnavailable", message: "the server is shutting down")) }
        if let delay = faults.delay { try await Task.sleep(for: delay) }
        if !Self.isHealthPath(request.uri.path), !Self.authorizes(request.headers[.authorization], settings) {
            return Self.failure(APIError(code: 401, reason: "Unauthorized", message: "Unauthorized"))
        }
        if !Self.isHealthPath(request.uri.path), let fault = faults.takeFailure(method: request.method.rawValue, path: request.uri.path) {
            // A fault that lets the request happen first stands for a race lost to someone else's identical write.
            if fault.afterApplying { _ = try? await route(request) }
            let reason = fault.afterApplying && fault.status == 409 && request.method == .post ? "AlreadyExists" : Self.reason(for: fault.status)
            var error = APIError(code: fault.status, reason: reason, message: "injected fault: HTTP \(fault.status)")
            error.retryAfter = fault.retryAfter
            return Self.failure(error)
        }
        do {
            return try await route(request)
        } catch let error as APIError {
            return Self.failure(error)
        }
    }

    /// Whether the request carries a token the settings accept (any request, when they name none).
    static func authorizes(_ header: String?, _ settings: DevCluster.Settings) -> Bool {
        if settings.bearerToken == nil && settings.bearerTokenFile == nil { return true }
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let presented = header.dropFirst(7)
        if let token = settings.bearerToken, presented == token { return true }
        if let file = settings.bearerTokenFile, let bytes = try? SecretFiles.read(file) {
            let tokens = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.split(separator: "\n")
            return tokens.contains { !$0.isEmpty && $0 == presented }
        }
        return false
    }

    static func isHealthPath(_ path: String) -> Bool {
        ["/healthz", "/livez", "/readyz", "/version"].contains(path)
    }

    static func reason(for status: Int) -> String {
        switch status {
        case 403: "Forbidden"
        case 429: "TooManyRequests"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "Unknown"
        }
    }

    // MARK: - Routing

    private func route(_ request: Request) async throws -> Response {
        let parts = request.uri.path.split(separator: "/").map(String.init)
        switch parts {
        case ["healthz"], ["livez"], ["readyz"]:
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        case ["version"]:
            return Self.json(.object([
                ("major", .string("1")), ("minor", .string("32")), ("gitVersion", .string("v1.32.0-cachet-dev")),
                ("platform", .string("linux/amd64")),
            ]))
        case ["api"]:
            return Self.json(Discovery.apiVersions)
        case ["apis"]:
            return Self.json(Discovery.groupList(store.resources.values))
        case ["openapi", "v2"]:
            // kubectl asks for protobuf; anyone else gets JSON.
            guard (request.headers[.accept] ?? "").contains(OpenAPIV2.requestedType) else {
                return Self.json(OpenAPIV2.json(store.resources.values))
            }
            return Response(status: .ok, headers: [.contentType: OpenAPIV2.mediaType],
                            body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIV2.document(store.resources.values))))
        case ["openapi", "v3"]:
            return Self.json(OpenAPI.root(store.resources.values))
        case let path where path.count >= 3 && path[0] == "openapi" && path[1] == "v3":
            guard let document = OpenAPI.document(path[2...].joined(separator: "/"), store.resources.values) else {
                throw APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            return Self.json(document)
        case ["api", "v1"]:
            return Self.json(Discovery.resourceList(group: "", version: "v1", store.resources.values))
        case let path where path.count == 2 && path[0] == "apis":
            guard let group = Discovery.group(path[1], store.resources.values) else { throw APIError.notFound("groups", path[1]) }
            return Self.json(group)
        case let path where path.count == 3 && path[0] == "apis":
            let list = Discovery.resourceList(group: path[1], version: path[2], store.resources.values)
            guard list["resources"]?.arrayValue?.isEmpty == false else { throw APIError.notFound("groupversions", path[1] + "/" + path[2]) }
            return Self.json(list)
        default:
            break
        }
        let (group, version, rest): (String, String, ArraySlice<String>)
        if parts.count >= 3, parts[0] == "api", parts[1] == "v1" {
            (group, version, rest) = ("", "v1", parts[2...])
        } else if parts.count >= 4, parts[0] == "apis" {
            (group, version, rest) = (parts[1], parts[2], parts[3...])
        } else {
            throw APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        let target = try resolve(group: group, version: version, rest)
        if target.subresource == "proxy" {
            return try await proxy(request, target)
        }
        return try await handle(request, target)
    }

    struct Target {
        let resource: APIResource
        let namespace: String?
        let name: String?
        let subresource: String?
        /// For the service proxy: the path after `/proxy`.
        let proxyPath: String
    }

    /// `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE…]]`
    private func resolve(group: String, version: String, _ rest: ArraySlice<String>) throws -> Target {
        var rest = rest
        var namespace: String?
        func resource(_ name: String) -> APIResource? {
            store.resources.values.first { $0.type.group == group && $0.type.version == version && $0.type.resource == name }
        }
        if rest.count >= 3, rest.first == "namespaces", let candidate = resource(rest[rest.startIndex + 2]), candidate.type.namespaced {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let name = rest.first, let found = resource(name) else {
            throw APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        rest = rest.dropFirst()
        let objectName = rest.first
        rest = rest.dropFirst()
        let subresource = rest.first
        rest = rest.dropFirst()
        if let subresource, subresource != "status", !(subresource == "proxy" && found.type == .services) {
            throw APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(subresource))")
        }
        if subresource == "status", !found.hasStatusSubresource {
            throw APIError(code: 404, reason: "NotFound", message: "\(found.type) has no status subresource")
        }
        return Target(resource: found, namespace: namespace, name: objectName, subresource: subresource,
                      proxyPath: "/" + rest.joined(separator: "/"))
    }

    private func handle(_ request: Request, _ target: Target) async throws -> Response {
        let query = Query(request.uri.query ?? "")
        switch (request.method, target.name) {
        case (.get, let name?):
            let object = try await store.get(target.resource, namespace: target.namespace, name: name)
            if target.subresource == nil, let table = try await table(request, target, [object], metadata: .object([])) {
                return Self.json(table)
            }
            return Self.json(object)
        case (.get, nil):
            let labels = try query["labelSelector"].map { text throws(APIError) in
                do throws(LabelSelector.SyntaxError) { return try LabelSelector(text) } catch { throw APIError.badRequest(error.message) }
            }
            let fields = try query["fieldSelector"].map { try FieldSelector($0) }
            if let watch = query["watch"], watch == "true" || watch == "1" {
                return try await self.watch(target, query: query, labels: labels, fields: fields,
                                            table: try await tableFormat(request, target))
            }
            let limit = query["limit"].flatMap { Int($0) }
            let page = try await store.list(target.resource, namespace: target.namespace, labels: labels, fields: fields,
                                            limit: limit, continueToken: query["continue"].flatMap { $0.isEmpty ? nil : $0 })
            var metadata: [(String, ManifestValue)] = [("resourceVersion", .string(String(page.resourceVersion)))]
            if let token = page.continueToken { metadata.append(("continue", .string(token))) }
            if let table = try await table(request, target, page.items, metadata: .object(metadata)) {
                return Self.json(table)
            }
            return Self.json(.object([
                ("kind", .string(target.resource.type.kind + "List")), ("apiVersion", .string(target.resource.type.apiVersion)),
                ("metadata", .object(metadata)), ("items", .array(page.items)),
            ]))
        case (.post, nil):
            let body = try await Self.body(request)
            return Self.json(try await store.create(target.resource, namespace: target.namespace, object: body), status: .created)
        case (.put, let name?):
            let body = try await Self.body(request)
            return Self.json(try await store.update(target.resource, namespace: target.namespace, name: name, object: body,
                                                    subresource: target.subresource))
        case (.patch, let name?):
            let patched = try await patch(request, target, name: name)
            return Self.json(patched)
        case (.delete, let name?):
            return Self.json(try await store.delete(target.resource, namespace: target.namespace, name: name))
        default:
            throw APIError.methodNotAllowed("\(request.method) is not supported on this path")
        }
    }

    /// The Table version and columns when the request asks for a Table (kubectl get), else nil.
    private func tableFormat(_ request: Request, _ target: Target) async throws -> ServerTable.Format? {
        guard let version = ServerTable.requestedVersion(accept: request.headers[.accept]) else { return nil }
        var crd: ManifestValue?
        if !target.resource.type.group.isEmpty, let crds = store.resources[ResourceType.customResourceDefinitions.description] {
            crd = try? await store.get(crds, namespace: nil, name: "\(target.resource.type.resource).\(target.resource.type.group)")
        }
        return ServerTable.Format(version: version, columns: ServerTable.columns(for: target.resource, crd: crd))
    }

    /// `objects` as a meta.k8s.io Table when the request asks for one, else nil.
    private func table(_ request: Request, _ target: Target, _ objects: [ManifestValue], metadata: ManifestValue) async throws -> ManifestValue? {
        try await tableFormat(request, target).map { $0.table(objects, listMetadata: metadata) }
    }

    /// merge-patch (RFC 7386), strategic-merge-patch (applied as a merge patch: no list merge keys, documented) and
    /// json-patch (RFC 6902). The patched object goes through the same checks as an update, so a resourceVersion in
    /// the patch is a precondition.
    private func patch(_ request: Request, _ target: Target, name: String) async throws -> ManifestValue {
        let contentType = request.headers[.contentType] ?? ""
        let bytes = try await Self.bodyBytes(request)
        let existing = try await store.get(target.resource, namespace: target.namespace, name: name)
        var patched: ManifestValue
        if contentType.hasPrefix("application/merge-patch+json") || contentType.hasPrefix("application/strategic-merge-patch+json") {
            let patch = try Self.parse(bytes)
            patched = existing.applyingMergePatch(patch)
            // Without a resourceVersion in the patch, a patch is unconditional.
            if patch.value(at: ["metadata", "resourceVersion"]) == nil {
                patched.setValue(existing.value(at: ["metadata", "resourceVersion"]), at: ["metadata", "resourceVersion"])
            }
        } else if contentType.hasPrefix("application/json-patch+json") {
            patched = try JSONPatch.apply(try Self.parse(bytes), to: existing)
        } else {
            throw APIError.unsupportedMediaType("the patch type \(contentType) is not supported (use merge-patch, strategic-merge-patch or json-patch)")
        }
        return try await store.update(target.resource, namespace: target.namespace, name: name, object: patched,
                                      subresource: target.subresource)
    }

    // MARK: - Watch

    private func watch(
        _ target: Target, query: Query, labels: LabelSelector?, fields: FieldSelector?, table: ServerTable.Format?
    ) async throws -> Response {
        let timeout = query["timeoutSeconds"].flatMap { Int($0) }.map { Duration.seconds($0) } ?? settings.maxWatchDuration
        let bookmarks = query["allowWatchBookmarks"] == "true"
        let store = self.store
        let interval = settings.bookmarkInterval
        let resource = target.resource
        let started: (id: UUID, events: AsyncStream<ManifestValue>)
        do {
            started = try await store.watch(resource, namespace: target.namespace,
                                            from: query["resourceVersion"], labels: labels, fields: fields)
        } catch {
            guard error.code == 410 else { throw error }
            // As kube-apiserver does: a 200 whose only event is an ERROR carrying the 410 Status.
            let event = ObjectStore.event(.error, error.status)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: event.jsonBytes + [0x0A])))
        }
        let body = ResponseBody { writer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                if bookmarks {
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: interval)
                            await store.sendBookmark(started.id)
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    await store.stopWatch(started.id)
                }
                for await event in started.events {
                    let event = table.map { $0.watchEvent(event) } ?? event
                    try await writer.write(ByteBuffer(bytes: event.jsonBytes + [0x0A]))
                }
                group.cancelAll()
            }
            await store.stopWatch(started.id)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    // MARK: - Service proxy

    /// `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`. There are no pods here: a Service is
    /// backed by the URL in its `cachet.dev/dev-cluster-backend` annotation (set by whoever runs the backend).
    private func proxy(_ request: Request, _ target: Target) async throws -> Response {
        guard let spec = target.name else { throw APIError.badRequest("a service name is needed") }
        let fields = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let name = fields.count >= 2 ? fields[1] : fields[0]
        let service = try await store.get(target.resource, namespace: target.namespace, name: name)
        guard let backend = service.string(at: ["metadata", "annotations", DevCluster.backendAnnotation]) else {
            throw APIError(code: 503, reason: "ServiceUnavailable", message: "no endpoints available for service \"\(name)\"")
        }
        var forwarded = HTTPClientRequest(url: backend + target.proxyPath + (request.uri.query.map { "?" + $0 } ?? ""))
        forwarded.method = .init(rawValue: request.method.rawValue)
        for field in request.headers where [.contentType, .accept].contains(field.name) {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        if request.method == .post || request.method == .put {
            forwarded.body = .bytes(try await request.body.collect(upTo: Self.maxBodyBytes))
        }
        do {
            let response = try await proxyClient.execute(forwarded, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: Self.maxBodyBytes)
            // As kube-apiserver's proxy (a reverse proxy): the backend's headers pass through, a page's
            // Content-Security-Policy among them, all but the hop-by-hop ones and the length, which is set anew.
            var headers = HTTPFields()
            for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
                if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
            }
            return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
        } catch {
            throw APIError(code: 503, reason: "ServiceUnavailable", message: "error trying to reach service: \(error)")
        }
    }

    /// Response headers a proxy does not pass on (RFC 9110 §7.6.1), and Content-Length, which the server sets.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                                        "te", "trailer", "transfer-encoding", "upgrade", "content-length"]

    // MARK: - Helpers

    static func bodyBytes(_ request: Request) async throws -> [UInt8] {
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw APIError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is larger than \(maxBodyBytes) bytes")
        }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// A JSON body, or a protobuf one for the built-in types kubectl sends that way.
    static func body(_ request: Request) async throws -> ManifestValue {
        let bytes = try await bodyBytes(request)
        if let type = request.headers[.contentType], type.hasPrefix("application/vnd.kubernetes.protobuf") {
            return try ProtobufBody.decode(bytes)
        }
        return try parse(bytes)
    }

    static func parse(_ bytes: [UInt8]) throws(APIError) -> ManifestValue {
        do {
            return try ManifestValue(json: bytes)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    static func json(_ value: ManifestValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
    }

    static func failure(_ error: APIError) -> Response {
        var response = json(error.status, status: .init(code: error.code))
        if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// Faults the next requests will meet.
final class FaultInjector: Sendable {
    struct Failure: Sendable {
        let status: Int
        let retryAfter: Int?
        /// Only requests with this method, and a path containing `path`, meet it (others pass by); nil for any.
        var method: String? = nil
        var path: String? = nil
        /// Apply the request, then answer with the failure anyway.
        var afterApplying = false
    }

    /// Every write (not GET) fails with `status` until `until`.
    struct WriteOutage: Sendable {
        let status: Int
        let until: ContinuousClock.Instant
    }

    private let state = Mutex<(failures: [Failure], outage: WriteOutage?, delay: Duration?, stopping: Bool, injected: Int)>(([], nil, nil, false, 0))

    func failNext(_ count: Int, status: Int, retryAfter: Int?, method: String? = nil, path: String? = nil, afterApplying: Bool = false) {
        let failure = Failure(status: status, retryAfter: retryAfter, method: method, path: path, afterApplying: afterApplying)
        state.withLock { $0.failures += Array(repeating: failure, count: count) }
    }

    func failWrites(status: Int, for duration: Duration) {
        state.withLock { $0.outage = WriteOutage(status: status, until: .now + duration) }
    }

    /// The first pending failure for a request with `method` and `path`, taken; or the write outage's.
    func takeFailure(method: String, path: String) -> Failure? {
        state.withLock { state in
            if let outage = state.outage, method != "GET" {
                if ContinuousClock.now < outage.until {
                    state.injected += 1
                    return Failure(status: outage.status, retryAfter: nil)
                }
                state.outage = nil
            }
            guard let index = state.failures.firstIndex(where: { failure in
                (failure.method == nil || failure.method == method) && (failure.path.map { path.contains($0) } ?? true)
            }) else { return nil }
            state.injected += 1
            return state.failures.remove(at: index)
        }
    }

    /// How many requests have met an injected failure so far.
    var injectedCount: Int { state.withLock { $0.injected } }

    var delay: Duration? {
        get { state.withLock { $0.delay } }
        set { state.withLock { $0.delay = newValue } }
    }

    var stopping: Bool {
        get { state.withLock { $0.stopping } }
        set { state.withLock { $0.stopping = newValue } }
    }

    func clear() {
        state.withLock { $0.failures = []; $0.outage = nil; $0.delay = nil }
    }
}

/// A URL query as Go's `url.ParseQuery` reads it (what kube-apiserver uses): `+` is a space, `%XX` a byte.
struct Query: Sendable {
    private var values: [String: String] = [:]

    init(_ raw: String) {
        for pair in raw.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[Self.decode(parts[0])] = parts.count > 1 ? Self.decode(parts[1]) : ""
        }
    }

    subscript(_ key: String) -> String? { values[key] }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(),
                   let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
