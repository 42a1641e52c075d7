/// A failure talking to the Kubernetes API, typed by what the caller can do about it, with the API's own message.
package struct KubeError: Error, Sendable, CustomStringConvertible {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        package static let badRequest = Code("badRequest")          // 400
        package static let unauthorized = Code("unauthorized")      // 401
        package static let forbidden = Code("forbidden")            // 403
        package static let notFound = Code("notFound")              // 404
        package static let conflict = Code("conflict")              // 409: a stale resourceVersion
        package static let alreadyExists = Code("alreadyExists")    // 409 with reason AlreadyExists
        package static let gone = Code("gone")                      // 410: resourceVersion or continue token too old
        package static let invalid = Code("invalid")                // 422
        package static let tooManyRequests = Code("tooManyRequests") // 429
        package static let serverError = Code("serverError")        // 5xx
        package static let unexpectedStatus = Code("unexpectedStatus")
        /// The request never got an HTTP answer (connection refused, TLS failure, timeout).
        package static let transport = Code("transport")
        /// The answer could not be understood.
        package static let decoding = Code("decoding")
        /// The kubeconfig or in-cluster configuration is unusable.
        package static let configuration = Code("configuration")

        package var description: String { name }
    }

    package let code: Code
    /// The HTTP status, when there was one.
    package let status: Int?
    /// The Status object's `reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, …).
    package let reason: String?
    package let message: String
    /// Seconds the server asked to wait (Retry-After).
    package let retryAfter: Int?
    /// What the user can do about it, when the failure knows better than the caller (an exec plugin's installHint).
    package let hint: String?

    package init(_ code: Code, _ message: String, status: Int? = nil, reason: String? = nil, retryAfter: Int? = nil, hint: String? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.reason = reason
        self.retryAfter = retryAfter
        self.hint = hint
    }

    /// The code for an HTTP status (and Status reason).
    package static func code(forStatus status: Int, reason: String?) -> Code {
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

    /// kube-apiserver's answer to a watch from a resourceVersion it has not reached (its state went back, as after
    /// an etcd restore, or a cache lags): like 410 Gone, it means "list again".
    package var isTooLargeResourceVersion: Bool {
        status == 504 && message.hasPrefix("Too large resource version")
    }

    package var description: String {
        status.map { "\(message) (HTTP \($0))" } ?? message
    }
}
