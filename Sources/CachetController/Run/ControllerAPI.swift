import CachetCrypto
import CachetManifests
import Hummingbird
import HummingbirdCore
import HTTPTypes
import NIOCore

/// The request context of the controller's servers: Hummingbird's basic one plus the peer address, which the rate
/// limiter needs.
public struct ControllerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Bitnami's HTTP API, on `--listen-addr`: `/healthz`, `GET /v1/cert.pem`, `POST /v1/verify`, `POST /v1/rotate`.
///
/// It answers before the first reconcile (the certificate once a key is loaded: 503 until then). The two POSTs
/// decrypt on request, which makes them an oracle if unbounded, so:
/// - both are rate-limited (Bitnami limits only verify), per client and in total;
/// - bodies are capped (413), read no further than the cap;
/// - every answer about a well-formed SealedSecret is one of two constant bodies, so nothing but "did it decrypt"
///   can be learnt from it: no error text, no item names, no key ids.
struct ControllerAPI: HTTPResponder {
    typealias Context = ControllerRequestContext

    let keys: KeyManager
    let metrics: ControllerMetrics
    /// Per client: path + the address the request came from (see ``clientAddress(of:context:)``).
    let clientLimiter: RateLimiter
    /// Per path, for all clients together: a client that can forge its address cannot get past this one.
    let totalLimiter: RateLimiter

    /// Largest body accepted: a SealedSecret is at most the API server's 1.5 MiB object limit in practice.
    static let maxBodyBytes = 2 << 20
    static let measuredPaths: Set<String> = ["/v1/cert.pem", "/v1/verify", "/v1/rotate"]

    init(keys: KeyManager, metrics: ControllerMetrics, rate: Double, burst: Double) {
        self.keys = keys
        self.metrics = metrics
        clientLimiter = RateLimiter(rate: rate, burst: burst)
        totalLimiter = RateLimiter(rate: rate * 10, burst: burst * 10)
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
        case "/v1/verify", "/v1/rotate":
            guard request.method == .post else { return Self.methodNotAllowed("POST") }
            let client = path + " " + Self.clientAddress(of: request, context: context)
            guard clientLimiter.allow(client), totalLimiter.allow(path) else {
                return Self.text(.tooManyRequests, "too many requests; slow down\n", headers: [.retryAfter: "1"])
            }
            if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes {
                return Self.tooLarge
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.maxBodyBytes)
            } catch {
                return Self.tooLarge
            }
            guard let sealed = Self.oneSealedSecret(Array(buffer: body)) else {
                return Self.text(.badRequest, "the body must be exactly one SealedSecret (JSON or YAML)\n")
            }
            return path == "/v1/verify" ? await verify(sealed) : await rotate(sealed)
        default:
            return Self.text(.notFound, "not found\n")
        }
    }

    private func verify(_ sealed: SealedSecretManifest) async -> Response {
        let keyRing = keys.keyRing
        let opened = (try? await Reconciler.offCooperativePool { try Unsealer(keyRing: keyRing).unseal(sealed) }) != nil
        return opened ? Self.text(.ok, "ok\n") : Self.cannotDecrypt
    }

    private func rotate(_ sealed: SealedSecretManifest) async -> Response {
        let keyRing = keys.keyRing
        guard let newest = keys.newestSealingKey else { return Self.text(.serviceUnavailable, "no sealing key yet; try again shortly\n") }
        let rotated = try? await Reconciler.offCooperativePool {
            try Sealer(sealingKey: newest).reencrypt(sealed, using: Unsealer(keyRing: keyRing))
        }
        guard let rotated else { return Self.cannotDecrypt }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: rotated.manifestValue.jsonBytes)))
    }

    /// The one SealedSecret in `bytes`, or nil: several documents (Bitnami's issue #114), another kind, or a
    /// malformed one. The parse limits are the defaults for untrusted input.
    static func oneSealedSecret(_ bytes: [UInt8]) -> SealedSecretManifest? {
        guard let documents = try? ManifestReader.documents(in: bytes),
              let objects = try? ManifestReader.objects(in: documents), objects.count == 1
        else { return nil }
        return try? SealedSecretManifest(objects[0])
    }

    /// Who the request is from, for rate limiting. Through the API server's service proxy (how the CLI and kubeseal
    /// come) the peer is the API server, which appends the real client to `X-Forwarded-For`; the **last** entry is
    /// the one the nearest proxy wrote, so prepending forged entries does not buy a fresh bucket. Without the
    /// header, the peer address.
    static func clientAddress(of request: Request, context: Context) -> String {
        if let forwarded = request.headers[Self.forwardedFor],
           let last = forwarded.split(separator: ",").last?.filter({ $0 != " " && $0 != "\t" }), !last.isEmpty {
            return String(last)
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let cannotDecrypt = text(.conflict, "cannot decrypt\n")
    static let tooLarge = text(.contentTooLarge, "request body too large (limit \(maxBodyBytes) bytes)\n")

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
