import AsyncHTTPClient
import CachetCrypto
import CachetManifests
import NIOCore
import NIOHTTP1
import NIOSSL

/// A minimal Kubernetes API client: typed CRUD, JSON merge patch, the status subresource, watch, and the service
/// proxy. Objects are ``ManifestValue``s (ordered JSON), so anything the API returns round-trips unchanged.
///
/// 429 and 5xx answers are retried, honouring `Retry-After` (capped); 409 is surfaced to the caller, who decides how to
/// re-read and retry (``updateRetryingConflicts(_:name:namespace:attempts:mutate:)`` does the common case).
package final class KubeClient: Sendable {
    package let config: KubeConfig
    package let retry: RetryPolicy
    private let connections: Connections
    private let tokens: TokenSource
    /// Client-side request rate (`--kubeclient-qps`, `--kubeclient-burst`), as client-go's limiter: every request,
    /// watches and retries included, waits for a token. nil: no limit of its own (the API server's priority and
    /// fairness still applies).
    private let requestRate: Mutex<TokenBucket>?

    /// How requests are retried when the server asks for it.
    package struct RetryPolicy: Sendable {
        package var maxAttempts: Int
        /// Longest wait between attempts, whatever `Retry-After` says.
        package var maxDelay: Duration
        /// First wait when the server gives no `Retry-After`; doubled each attempt.
        package var baseDelay: Duration

        package init(maxAttempts: Int = 5, maxDelay: Duration = .seconds(30), baseDelay: Duration = .milliseconds(200)) {
            self.maxAttempts = maxAttempts
            self.maxDelay = maxDelay
            self.baseDelay = baseDelay
        }
    }

    package init(
        config: KubeConfig, retry: RetryPolicy = RetryPolicy(), requestRate: TokenBucket? = nil,
        environment: [String: String] = KubeConfig.currentEnvironment()
    ) throws {
        self.config = config
        self.retry = retry
        self.requestRate = requestRate.map { Mutex($0) }
        connections = try Connections(config: config, proxy: try config.proxy(environment: environment))
        tokens = TokenSource(config.credentials)
    }

    private init(config: KubeConfig, retry: RetryPolicy, connections: Connections, tokens: TokenSource) {
        self.config = config
        self.retry = retry
        requestRate = nil
        self.connections = connections
        self.tokens = tokens
    }

    /// A client for the same server with the same credentials (an exec plugin's token shared), but connections of its
    /// own and no request-rate limit, so that its requests never queue behind this one's. Shut it down separately.
    package func separate() throws -> KubeClient {
        KubeClient(config: config, retry: retry, connections: try connections.separate(), tokens: tokens)
    }

    /// Closes connections. Call once, when done with the client.
    package func shutdown() async throws {
        try await connections.shutdown()
    }

    // MARK: - Typed operations

    package func get(_ type: ResourceType, name: String, namespace: String? = nil) async throws -> ManifestValue {
        try await send(.GET, type.path(namespace: namespace, name: name)).json()
    }

    /// One page of a list. `limit`/`continueToken` page through large lists.
    package func list(
        _ type: ResourceType, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        limit: Int? = nil, continueToken: String? = nil
    ) async throws -> ObjectList {
        var query: [(String, String)] = []
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        if let limit { query.append(("limit", String(limit))) }
        if let continueToken { query.append(("continue", continueToken)) }
        let list = try await send(.GET, type.path(namespace: namespace), query: query).json()
        let token = list.string(at: ["metadata", "continue"]).flatMap { $0.isEmpty ? nil : $0 }
        return ObjectList(items: list["items"]?.arrayValue ?? [],
                          resourceVersion: list.string(at: ["metadata", "resourceVersion"]) ?? "",
                          continueToken: token)
    }

    /// Every item, following `continue` tokens page by page. The resourceVersion is the first page's (the
    /// snapshot every later page belongs to).
    package func listAll(
        _ type: ResourceType, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        pageSize: Int = 500
    ) async throws -> ObjectList {
        var page = try await list(type, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var all = page
        while let token = page.continueToken {
            page = try await list(type, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                  limit: pageSize, continueToken: token)
            all.items += page.items
        }
        all.continueToken = nil
        return all
    }

    package func create(_ type: ResourceType, _ object: ManifestValue, namespace: String? = nil) async throws -> ManifestValue {
        let namespace = namespace ?? object.string(at: ["metadata", "namespace"])
        return try await send(.POST, type.path(namespace: namespace), body: object.jsonBytes).json()
    }

    /// PUT: replaces the object. Its `metadata.resourceVersion` makes the write conditional: a stale one is a 409
    /// (`KubeError.Code.conflict`), never a silent overwrite.
    package func update(_ type: ResourceType, _ object: ManifestValue) async throws -> ManifestValue {
        try await put(type, object, subresource: nil)
    }

    /// PUT on the status subresource: only `status` is written.
    package func updateStatus(_ type: ResourceType, _ object: ManifestValue) async throws -> ManifestValue {
        try await put(type, object, subresource: "status")
    }

    private func put(_ type: ResourceType, _ object: ManifestValue, subresource: String?) async throws -> ManifestValue {
        guard let name = object.string(at: ["metadata", "name"]) else {
            throw KubeError(.badRequest, "the object has no metadata.name")
        }
        let path = type.path(namespace: object.string(at: ["metadata", "namespace"]), name: name, subresource: subresource)
        return try await send(.PUT, path, body: object.jsonBytes).json()
    }

    /// RFC 7386 JSON merge patch (`application/merge-patch+json`), optionally on a subresource (`status`).
    package func patch(
        _ type: ResourceType, name: String, namespace: String? = nil, mergePatch: ManifestValue, subresource: String? = nil
    ) async throws -> ManifestValue {
        try await send(.PATCH, type.path(namespace: namespace, name: name, subresource: subresource), body: mergePatch.jsonBytes,
                       contentType: "application/merge-patch+json").json()
    }

    package func delete(_ type: ResourceType, name: String, namespace: String? = nil) async throws {
        _ = try await send(.DELETE, type.path(namespace: namespace, name: name))
    }

    /// Read, change, write; on a 409 (someone else wrote in between) read again and re-apply `mutate`, up to
    /// `attempts` times. `mutate` returns false when the object already is as wanted (nothing is written).
    package func updateRetryingConflicts(
        _ type: ResourceType, name: String, namespace: String? = nil, attempts: Int = 5,
        mutate: (inout ManifestValue) async throws -> Bool
    ) async throws -> ManifestValue {
        var attempt = 0
        while true {
            attempt += 1
            var object = try await get(type, name: name, namespace: namespace)
            guard try await mutate(&object) else { return object }
            do {
                return try await update(type, object)
            } catch let error as KubeError where error.code == .conflict && attempt < attempts {
                continue
            }
        }
    }

    /// A watch from `resourceVersion`, consumed incrementally: each event is decoded as its line arrives; nothing
    /// is buffered beyond one event. An `ERROR` event (410 Gone for a too-old resourceVersion) is thrown as a
    /// ``KubeError``. The sequence ends when the server closes the stream (`timeoutSeconds`).
    package func watch(
        _ type: ResourceType, namespace: String? = nil, resourceVersion: String?, labelSelector: String? = nil,
        fieldSelector: String? = nil, timeoutSeconds: Int = 300
    ) -> WatchEvents {
        var query: [(String, String)] = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", String(timeoutSeconds))]
        if let resourceVersion { query.append(("resourceVersion", resourceVersion)) }
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        return WatchEvents(client: self, path: type.path(namespace: namespace), query: query, timeoutSeconds: timeoutSeconds)
    }

    /// A request to a Service through the API server's proxy (how kubeseal reaches the controller):
    /// `/api/v1/namespaces/NS/services/SCHEME:NAME:PORT/proxy/PATH`. Returns the status and body as they came.
    package func proxy(
        _ method: HTTPMethod, namespace: String, service: String, scheme: String = "http", port: String = "",
        path: String, body: [UInt8]? = nil, contentType: String = "application/json"
    ) async throws -> (status: Int, body: [UInt8]) {
        let target = "\(scheme):\(service):\(port)"
        let fullPath = "/api/v1/namespaces/\(PathEscape.segment(namespace))/services/\(target)/proxy" + (path.hasPrefix("/") ? path : "/" + path)
        let response = try await send(method, fullPath, body: body, contentType: contentType, accept: "*/*", throwOnError: false)
        return (response.status, response.body)
    }

    // MARK: - Transport

    struct Response: Sendable {
        let status: Int
        let body: [UInt8]

        func json() throws -> ManifestValue {
            do {
                return try ManifestValue(json: body)
            } catch {
                throw KubeError(.decoding, "the API server's answer is not JSON: \(error)", status: status)
            }
        }
    }

    /// Largest response body accepted (lists of a big cluster's objects).
    static let maxBodyBytes = 256 << 20

    /// A request ready to go: the HTTP client to send it with (one per client certificate) and, for a credential
    /// from an exec plugin, which run of the plugin made it.
    struct PreparedRequest {
        var request: HTTPClientRequest
        var http: HTTPClient
        var execGeneration: Int?
    }

    func prepare(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: [UInt8]?,
                 contentType: String, accept: String) async throws -> PreparedRequest {
        let base = config.server.hasSuffix("/") ? String(config.server.dropLast()) : config.server
        var request = HTTPClientRequest(url: connections.requestBase(base) + path + (query.isEmpty ? "" : "?" + PathEscape.query(query)))
        request.method = method
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "cachet/0.1")
        var http = try connections.client(certificate: nil)
        var execGeneration: Int?
        if let source = try config.execSource() {
            let credential = try await source.credential()
            execGeneration = credential.generation
            if let token = credential.token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
            if let certificate = credential.clientCertificatePEM, let key = credential.clientKeyPEM {
                http = try connections.client(certificate: (certificate, key))
            }
        } else if let authorization = try tokens.authorization() {
            request.headers.add(name: "Authorization", value: authorization)
        }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return PreparedRequest(request: request, http: http, execGeneration: execGeneration)
    }

    /// A 401 to a request carrying a plugin's credential: that credential is dropped, so the next request runs the
    /// plugin again (client-go's behaviour). Returns whether there was one to drop.
    func refused(_ prepared: PreparedRequest) async -> Bool {
        guard case .exec(let source) = config.credentials, let generation = prepared.execGeneration else { return false }
        await source.refused(generation: generation)
        return true
    }

    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
        contentType: String = "application/json", accept: String = "application/json", throwOnError: Bool = true
    ) async throws -> Response {
        var attempt = 0
        var refreshedCredential = false
        while true {
            attempt += 1
            try await waitForRequestToken()
            let prepared = try await prepare(method, path, query: query, body: body, contentType: contentType, accept: accept)
            let status: Int
            let responseBody: [UInt8]
            let retryAfter: Int?
            do {
                let response = try await prepared.http.execute(prepared.request, timeout: .seconds(60))
                status = Int(response.status.code)
                retryAfter = KubeClient.retryAfter(response.headers.first(name: "Retry-After"))
                var buffer = try await response.body.collect(upTo: Self.maxBodyBytes)
                responseBody = buffer.readBytes(length: buffer.readableBytes) ?? []
            } catch let error as KubeError {
                throw error
            } catch {
                // No HTTP answer at all. Reads are safe to repeat; writes may have happened, so they are not.
                if method == .GET, attempt < retry.maxAttempts {
                    try await Task.sleep(for: delay(attempt: attempt, retryAfter: nil))
                    continue
                }
                throw KubeError(.transport, "cannot reach the API server at \(config.server): \(error)")
            }
            // A refused plugin credential (revoked, or expired early): run the plugin again and repeat once.
            if status == 401, !refreshedCredential, await refused(prepared) {
                refreshedCredential = true
                continue
            }
            if (200..<300).contains(status) || !throwOnError { return Response(status: status, body: responseBody) }
            let failure = Self.error(status: status, body: responseBody, retryAfter: retryAfter)
            if shouldRetry(method: method, status: status, retryAfter: retryAfter), attempt < retry.maxAttempts {
                try await Task.sleep(for: delay(attempt: attempt, retryAfter: retryAfter))
                continue
            }
            throw failure
        }
    }

    /// 429 and 503 mean the request was not processed, so any method may be repeated; other 5xx only for methods
    /// that are safe to repeat (a POST may have created the object).
    private func shouldRetry(method: HTTPMethod, status: Int, retryAfter: Int?) -> Bool {
        switch status {
        case 429, 503: true
        case 500...599: method != .POST || retryAfter != nil
        default: false
        }
    }

    /// The server's `Retry-After` when it gave one, else the policy's backoff; never more than `maxDelay`.
    func delay(attempt: Int, retryAfter: Int?) -> Duration {
        let backoff = Backoff(initial: retry.baseDelay, maximum: retry.maxDelay)
        return retryAfter.map { min(.seconds($0), retry.maxDelay) } ?? backoff.delay(afterFailures: attempt)
    }

    /// `Retry-After` in seconds, as the server sent it, but never negative (an immediate retry) and never more than a
    /// day (the retry delay is capped lower still): a hostile value must neither spin the client nor stall it.
    static func retryAfter(_ value: String?) -> Int? {
        value.flatMap { Int($0) }.map { min(max($0, 0), 86_400) }
    }

    /// A typed error carrying the Status object's message and reason.
    static func error(status: Int, body: [UInt8], retryAfter: Int?) -> KubeError {
        let object = try? ManifestValue(json: body)
        let reason = object?["reason"]?.stringValue
        let message = object?["message"]?.stringValue ?? "the API server answered HTTP \(status)"
        return KubeError(KubeError.code(forStatus: status, reason: reason), message, status: status, reason: reason,
                         retryAfter: retryAfter)
    }

    func execute(_ prepared: PreparedRequest, timeoutSeconds: Int) async throws -> HTTPClientResponse {
        try await waitForRequestToken()
        return try await prepared.http.execute(prepared.request, timeout: .seconds(Int64(timeoutSeconds) + 30))
    }

    private func waitForRequestToken() async throws {
        guard let wait = requestRate?.withLock({ $0.reserve() }), wait > .zero else { return }
        try await Task.sleep(for: wait)
    }
}

/// The Authorization header, with token files re-read when they change (service-account tokens rotate).
final class TokenSource: Sendable {
    private let credentials: KubeConfig.Credentials
    private let cache = Mutex<(token: String, modified: (Int, Int), size: Int)?>(nil)

    init(_ credentials: KubeConfig.Credentials) {
        self.credentials = credentials
    }

    func authorization() throws -> String? {
        switch credentials {
        case .none: return nil
        case .bearerToken(let token): return "Bearer " + token
        case .basic(let username, let password): return "Basic " + Base64.encode(Array("\(username):\(password)".utf8))
        case .bearerTokenFile(let path): return "Bearer " + (try currentToken(path))
        case .exec: return nil  // asynchronous: `prepare` asks the plugin
        }
    }

    /// The file is stat'ed on every request and read again only when its mtime or size changed.
    private func currentToken(_ path: String) throws -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { throw KubeError(.configuration, "cannot read the token file \(path)") }
        // Compared as a pair: folded into nanoseconds, a far-future mtime (year 2300) overflowed.
        let modified = (Int(status.st_mtim.tv_sec), Int(status.st_mtim.tv_nsec))
        let size = Int(status.st_size)
        if let cached = cache.withLock({ $0 }), cached.modified == modified, cached.size == size { return cached.token }
        let token = try SecretFiles.read(path).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.filter { !$0.isWhitespace }
        cache.withLock { $0 = (token, modified, size) }
        return token
    }
}

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension KubeClient {
    /// Records a core/v1 Event about `object` (which must carry kind, apiVersion, name, namespace and uid), as
    /// `kubectl describe` shows them. The message is the caller's: it must never hold a secret value.
    @discardableResult
    package func recordEvent(
        about object: ManifestValue, type: String = "Normal", reason: String, message: String, component: String
    ) async throws -> ManifestValue {
        let namespace = object.string(at: ["metadata", "namespace"]) ?? "default"
        let now = FoundationEssentials.Date().formatted(.iso8601)
        let reference: [(String, ManifestValue)] = [
            ("apiVersion", object["apiVersion"] ?? .null), ("kind", object["kind"] ?? .null),
            ("name", object.value(at: ["metadata", "name"]) ?? .null), ("namespace", .string(namespace)),
            ("uid", object.value(at: ["metadata", "uid"]) ?? .null),
            ("resourceVersion", object.value(at: ["metadata", "resourceVersion"]) ?? .null),
        ]
        let event = ManifestValue.object([
            ("apiVersion", .string("v1")), ("kind", .string("Event")),
            ("metadata", .object([("generateName", .string((object.string(at: ["metadata", "name"]) ?? "object") + ".")),
                                  ("namespace", .string(namespace))])),
            ("involvedObject", .object(reference)), ("type", .string(type)), ("reason", .string(reason)),
            ("message", .string(message)), ("source", .object([("component", .string(component))])),
            ("firstTimestamp", .string(now)), ("lastTimestamp", .string(now)), ("count", .number("1")),
            ("reportingComponent", .string(component)),
        ])
        return try await create(.events, event, namespace: namespace)
    }
}

import FoundationEssentials
