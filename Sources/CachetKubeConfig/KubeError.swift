/// A failure talking to the Kubernetes API, typed by what the caller can do about it, with the API's own message.
public struct KubeError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        public static let badRequest = Code("badRequest")          // 400
        public static let unauthorized = Code("unauthorized")      // 401
        public static let forbidden = Code("forbidden")            // 403
        public static let notFound = Code("notFound")              // 404
        public static let conflict = Code("conflict")              // 409: a stale resourceVersion
        public static let alreadyExists = Code("alreadyExists")    // 409 with reason AlreadyExists
        public static let gone = Code("gone")                      // 410: resourceVersion or continue token too old
        public static let invalid = Code("invalid")                // 422
        public static let tooManyRequests = Code("tooManyRequests") // 429
        public static let serverError = Code("serverError")        // 5xx
        public static let unexpectedStatus = Code("unexpectedStatus")
        /// The request never got an HTTP answer (connection refused, TLS failure, timeout).
        public static let transport = Code("transport")
        /// The answer could not be understood.
        public static let decoding = Code("decoding")
        /// The kubeconfig or in-cluster configuration is unusable.
        public static let configuration = Code("configuration")

        public var description: String { name }
    }

    public let code: Code
    /// The HTTP status, when there was one.
    public let status: Int?
    /// The Status object's `reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, …).
    public let reason: String?
    public let message: String
    /// Seconds the server asked to wait (Retry-After).
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, status: Int? = nil, reason: String? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.reason = reason
        self.retryAfter = retryAfter
    }

    /// The code for an HTTP status (and Status reason).
    public static func code(forStatus status: Int, reason: String?) -> Code {
        switch status {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: reason == "AlreadyExists" ? .alreadyExists : .conflict
        case 410: .gone
        case 422: .invalid
        case 429: .tooManyRequests
        case 500...599: .serverError
        default: .unexpectedStatus
        }
    }

    public var description: String {
        status.map { "\(message) (HTTP \($0))" } ?? message
    }
}
