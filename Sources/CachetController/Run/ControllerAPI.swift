#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests
import Hummingbird
import HummingbirdCore
import HTTPTypes
import NIOCore

/// The request context of the controller's servers: Hummingbird's basic one plus the peer address, which the rate
/// limiter needs.
package struct ControllerRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Bitnami's HTTP API, on `--listen-addr`: `/healthz`, `GET /v1/cert.pem`, `POST /v1/verify`, `POST /v1/rotate`; and
/// Cachet's `GET /v1/recipients.txt` (the age recipient format v2 values are sealed to: the newest key's) and
/// `POST /v1/rotate` of a `List` (many objects in one request, so bulk re-encryption is not held to 2 requests a second).
///
/// It answers before the first reconcile (the certificate once a key is loaded: 503 until then). The two POSTs
/// decrypt on request, which makes them an oracle and a lever on the controller's CPU if unbounded, so:
/// - both are rate-limited in requests (Bitnami limits only verify), per client and in total;
/// - bodies are capped (413), read no further than the cap, and must arrive within a deadline (408);
/// - the RSA work is bounded per request (items, and operations including keys tried), and budgeted in operations
///   per client and in total; it runs on one thread of its own (``APIWorker``), so reconciling and `/healthz` never
///   wait behind it;
/// - every answer about a well-formed SealedSecret is one of two constant bodies, so nothing but "did it decrypt"
///   can be learnt from it: no error text, no item names, no key ids.
struct ControllerAPI: HTTPResponder {
    typealias Context = ControllerRequestContext

    let keys: KeyManager
    let metrics: ControllerMetrics
    let limits: APIWorkLimits
    /// Per client: path + the address the request came from (see ``clientAddress(of:context:)``).
    let clientLimiter: RateLimiter
    /// Per path, for all clients together: a client that can forge its address cannot get past this one.
    let totalLimiter: RateLimiter
    /// RSA operations, per client address and for everyone together.
    let clientWork: RateLimiter
    let totalWork: RateLimiter
    let worker: APIWorker
    let bodies: BodyBudget
    /// Whether `GET /` serves the sealing page (``SealingPage``).
    let webUI: Bool

    /// Largest body accepted: a SealedSecret is at most the API server's 1.5 MiB object limit in practice.
    static let maxBodyBytes = 2 << 20
    static let measuredPaths = Set(["/v1/cert.pem", "/v1/recipients.txt", "/v1/verify", "/v1/rotate"]).union(SealingPage.files.keys)

    init(keys: KeyManager, metrics: ControllerMetrics, rate: Double, burst: Double, limits: APIWorkLimits = APIWorkLimits(), webUI: Bool = true) {
        self.webUI = webUI
        self.keys = keys
        self.metrics = metrics
        self.limits = limits
        clientLimiter = RateLimiter(rate: rate, burst: burst)
        totalLimiter = RateLimiter(rate: rate * 10, burst: burst * 10)
        clientWork = RateLimiter(rate: limits.clientOperationsPerSecond, burst: limits.clientOperationsBurst)
        totalWork = RateLimiter(rate: limits.totalOperationsPerSecond, burst: limits.totalOperationsBurst)
        worker = APIWorker(maxWaiting: limits.maxWaiting)
        bodies = BodyBudget(maxBytes: limits.maxBodyBytesInFlight, maxPerClient: limits.maxBodiesPerClient)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let response = await route(request, path: path, context: context)
        if Self.measuredPaths.contains(path) {
            metrics.httpRequest(path: path, method: request.method.rawValue, code: Int(response.status.code),
                                seconds: (ContinuousClock.now - started).seconds)
        }
        return response
    }

    private func route(_ request: Request, path: String, context: Context) async -> Response {
        switch path {
        case "/healthz":
            return Self.text(.ok, "ok\n")
        case "/v1/cert.pem":
            guard request.method == .get || request.method == .head else { return Self.methodNotAllowed("GET") }
            guard let pem = keys.newestCertificatePEM else {
                return Self.text(.serviceUnavailable, "no sealing key yet; try again shortly\n")
            }
            return Response(status: .ok, headers: [.contentType: "application/x-pem-file"],
                            body: .init(byteBuffer: ByteBuffer(string: pem)))
        case "/v1/recipients.txt":
            // Public keys only, as /v1/cert.pem: the newest key's recipient, as the newest key's certificate. An empty
            // list (200, no lines) means the newest key has no identity: cachet seal refuses v2 then, rather than write
            // values this cluster cannot open.
            guard request.method == .get || request.method == .head else { return Self.methodNotAllowed("GET") }
            guard let recipients = keys.sealingRecipients else {
                return Self.text(.serviceUnavailable, "no sealing key yet; try again shortly\n")
            }
            return Self.text(.ok, recipients.map { "\($0)\n" }.joined())
        case "/v1/verify", "/v1/rotate":
            guard request.method == .post else { return Self.methodNotAllowed("POST") }
            let address = Self.clientAddress(of: request, context: context)
            guard clientLimiter.allow(path + " " + address), totalLimiter.allow(path) else { return Self.slowDown }
            let declared = request.headers[.contentLength].flatMap(Int.init)
            if let declared, declared > Self.maxBodyBytes { return Self.tooLarge }
            // The memory a body may take is reserved before it is read, and given back when the request is done.
            let reserved = max(0, declared ?? Self.maxBodyBytes)
            guard bodies.reserve(reserved, for: address) else { return Self.slowDown }
            defer { bodies.release(reserved, for: address) }
            let body: [UInt8]
            switch await Self.collect(request.body, limit: Self.maxBodyBytes, within: limits.bodyDeadline) {
            case .success(let bytes): body = bytes
            case .failure(.tooLarge): return Self.tooLarge
            case .failure(.tooSlow): return Self.text(.requestTimeout, "the request body did not arrive in time\n")
            }
            // Everything from here on (parsing, RSA) runs on the worker thread, within the operation budgets.
            guard let response = await worker.run({ self.decryptingWork(path: path, body: body, client: address) }) else {
                return Self.slowDown
            }
            return response
        default:
            if webUI, let file = SealingPage.files[path] {
                guard request.method == .get || request.method == .head else { return Self.methodNotAllowed("GET") }
                return SealingPage.response(file)
            }
            return Self.text(.notFound, "not found\n")
        }
    }

    /// Reads, bounds and does one verify or rotate request (on the worker thread).
    private func decryptingWork(path: String, body: [UInt8], client: String) -> Response {
        let objects: [SealedSecretManifest]
        let isList: Bool
        switch Self.sealedSecrets(in: body, listAllowed: path == "/v1/rotate") {
        case .success(let found): (objects, isList) = found
        case .failure(let problem): return Self.text(.badRequest, problem.message)
        }
        // Items of all objects together: one request with many objects costs what they would cost one by one, and no more
        // than the per-request cap (each object costs at least one operation, even with no items).
        let items = objects.reduce(0) { $0 + max($1.encryptedData.count, 1) }
        guard items <= limits.maxItems else {
            return Self.text(.contentTooLarge, "too many items in one request (limit \(limits.maxItems)); send fewer objects at once\n")
        }
        // Each item costs at least one operation, taken up front; operations beyond that (keys tried that did not
        // fit) are charged afterwards, leaving the buckets in debt until they refill.
        var cost = Double(items)
        guard totalWork.allow("all", cost: cost) else { return Self.slowDown }
        guard clientWork.allow(client, cost: cost) else {
            totalWork.charge("all", cost: -cost)
            return Self.slowDown
        }
        let budget = OperationBudget(limit: limits.maxOperationsPerRequest)
        var unsealer = Unsealer(keyRing: keys.keyRing)
        unsealer.budget = budget
        let response: Response
        if path == "/v1/verify" {
            response = (try? unsealer.unseal(objects[0])) != nil ? Self.text(.ok, "ok\n") : Self.cannotDecrypt
        } else if let newest = keys.newestSealingKey {
            let sealer = Sealer(sealingKey: newest)
            if isList {
                let (list, deferred) = Self.rotated(objects, sealer: sealer, unsealer: unsealer, budget: budget)
                response = Self.json(.ok, list)
                // Objects sent back to be sent again did no work here: their up-front cost is given back.
                cost -= deferred
                totalWork.charge("all", cost: -deferred)
                clientWork.charge(client, cost: -deferred)
            } else {
                response = (try? sealer.reencrypt(objects[0], using: unsealer)).map { Self.json(.ok, $0.manifestValue) } ?? Self.cannotDecrypt
            }
        } else {
            response = Self.text(.serviceUnavailable, "no sealing key yet; try again shortly\n")
        }
        let extra = Double(budget.used) - cost
        if extra > 0 {
            totalWork.charge("all", cost: extra)
            clientWork.charge(client, cost: extra)
        }
        metrics.apiOperations(path: path, count: budget.used)
        return response
    }

    /// A `/v1/rotate` of a `v1` `List`: a `List` of the same length and order, each item the re-encrypted SealedSecret
    /// or a `Status` saying why not, and the up-front cost of the objects not tried (``deferredCost``).
    ///
    /// The answers must tell a prober nothing a series of single requests would not. So whether an object is tried is
    /// decided before trying it, from public facts only: the first object always is (as a request of its own would
    /// be); each later one only if its worst case (``KeyRing/worstCaseOperations(sealedValue:)``: every key on every
    /// value) fits in what the objects before it could have taken at worst. Past the first that does not fit, every
    /// object is `429` ("send it again"). An object that was tried and did not open is `409`, whatever it cost. Since a
    /// tried object's worst case fits, the request's budget never runs out inside one.
    static func rotated(_ objects: [SealedSecretManifest], sealer: Sealer, unsealer: Unsealer, budget: OperationBudget)
        -> (list: ManifestValue, deferredCost: Double) {
        var items: [ManifestValue] = []
        var reserved = 0
        var deferred = 0.0
        for object in objects {
            let worst = max(1, object.encryptedData.values.reduce(0) { $0 + unsealer.keyRing.worstCaseOperations(sealedValue: $1) })
            guard items.isEmpty || (deferred == 0 && reserved + worst <= budget.limit) else {
                items.append(overBudgetStatus)
                deferred += Double(max(object.encryptedData.count, 1))
                continue
            }
            reserved += worst
            items.append((try? sealer.reencrypt(object, using: unsealer))?.manifestValue ?? cannotDecryptStatus)
        }
        return (.object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(items))]), deferred)
    }

    static func status(_ code: Int, reason: String, message: String) -> ManifestValue {
        .object([("apiVersion", .string("v1")), ("kind", .string("Status")), ("status", .string("Failure")),
                 ("code", .number(String(code))), ("reason", .string(reason)), ("message", .string(message))])
    }

    static let cannotDecryptStatus = status(409, reason: "Conflict", message: "cannot decrypt")
    static let overBudgetStatus = status(429, reason: "TooManyRequests", message: "not tried: over this request's work budget; send it again")

    struct BodyMessage: Error { let message: String }

    /// The SealedSecrets a request carries: exactly one (JSON or YAML, Bitnami's form), or for rotate a `v1` `List`
    /// of them (`isList`, answered with a `List`).
    static func sealedSecrets(in body: [UInt8], listAllowed: Bool) -> Result<(objects: [SealedSecretManifest], isList: Bool), BodyMessage> {
        let one = BodyMessage(message: listAllowed
            ? "the body must be one SealedSecret or a v1 List of them (JSON or YAML)\n"
            : "the body must be exactly one SealedSecret (JSON or YAML)\n")
        guard let documents = try? ManifestReader.documents(in: body), documents.count == 1,
              let objects = try? ManifestReader.objects(in: documents)
        else { return .failure(one) }
        let root = documents[0].root
        let isList = listAllowed && root["kind"]?.scalar?.text == "List" && root["apiVersion"]?.scalar?.text == "v1"
        guard isList || objects.count == 1 else { return .failure(one) }
        var sealed: [SealedSecretManifest] = []
        for object in objects {
            guard let manifest = try? SealedSecretManifest(object) else {
                return .failure(isList ? BodyMessage(message: "item \(object.itemIndex ?? 0) of the List is not a SealedSecret\n") : one)
            }
            sealed.append(manifest)
        }
        guard !sealed.isEmpty else { return .failure(BodyMessage(message: "the List has no items\n")) }
        return .success((sealed, isList))
    }

    static func json(_ status: HTTPResponse.Status, _ value: ManifestValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
    }

    enum BodyProblem: Error { case tooLarge, tooSlow }

    /// The whole body, at most `limit` bytes, arrived within `deadline`: a body trickling in a byte every few seconds
    /// would otherwise hold a connection (and its buffer) for as long as the sender likes.
    static func collect(_ body: RequestBody, limit: Int, within deadline: Duration) async -> Result<[UInt8], BodyProblem> {
        await withTaskGroup(of: Result<[UInt8], BodyProblem>?.self) { group in
            group.addTask {
                do {
                    return .success(Array(buffer: try await body.collect(upTo: limit)))
                } catch {
                    return Task.isCancelled ? nil : .failure(.tooLarge)
                }
            }
            group.addTask {
                try? await Task.sleep(for: deadline)
                return Task.isCancelled ? nil : .failure(.tooSlow)
            }
            defer { group.cancelAll() }
            while let result = await group.next() {
                if let result { return result }
            }
            return .failure(.tooSlow)
        }
    }

    /// Who the request is from, for rate limiting. Through the API server's service proxy (how the CLI and kubeseal
    /// come) the peer is the API server, which appends the real client to `X-Forwarded-For`; the **last** entry is
    /// the one the nearest proxy wrote, so prepending forged entries does not buy a fresh bucket. It counts only
    /// when it is an IP address: anything else (a 4 KiB string, a new one per request) would make every bucket key as
    /// large as a header, and 65,536 of those fill the controller's memory. Without a usable header, the peer address.
    static func clientAddress(of request: Request, context: Context) -> String {
        if let forwarded = request.headers[Self.forwardedFor],
           let last = forwarded.split(separator: ",").last?.filter({ $0 != " " && $0 != "\t" }), isIPAddress(last) {
            return String(last)
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }

    /// An IPv4 or IPv6 address in its textual form (at most 45 characters), as `inet_pton` reads it.
    static func isIPAddress(_ text: some StringProtocol) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 45 else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        return String(text).withCString { inet_pton(AF_INET, $0, &buffer) == 1 || inet_pton(AF_INET6, $0, &buffer) == 1 }
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let cannotDecrypt = text(.conflict, "cannot decrypt\n")
    static let tooLarge = text(.contentTooLarge, "request body too large (limit \(maxBodyBytes) bytes)\n")
    static let slowDown = text(.tooManyRequests, "too many requests; slow down\n", headers: [.retryAfter: "1"])

    static func methodNotAllowed(_ allowed: String) -> Response {
        text(.methodNotAllowed, "method not allowed\n", headers: [.allow: allowed])
    }

    static func text(_ status: HTTPResponse.Status, _ body: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// `/metrics` on `--listen-metrics-addr`, in the Prometheus text format, and `/healthz` for probes.
struct MetricsEndpoint: HTTPResponder {
    typealias Context = ControllerRequestContext

    let metrics: ControllerMetrics

    func respond(to request: Request, context: Context) async throws -> Response {
        switch request.uri.path {
        case "/metrics":
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        case "/healthz":
            return ControllerAPI.text(.ok, "ok\n")
        default:
            return ControllerAPI.text(.notFound, "not found\n")
        }
    }
}
