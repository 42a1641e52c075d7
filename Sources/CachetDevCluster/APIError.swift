import CachetManifests

/// An API failure, answered as a `Status` object, as kube-apiserver answers.
struct APIError: Error, Sendable {
    let code: Int
    let reason: String
    let message: String
    var retryAfter: Int?

    static func badRequest(_ message: String) -> APIError { APIError(code: 400, reason: "BadRequest", message: message) }
    static func notFound(_ resource: String, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(resource) \"\(name)\" not found")
    }
    static func alreadyExists(_ resource: String, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists")
    }
    static func conflict(_ resource: String, _ name: String) -> APIError {
        APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(resource) \"\(name)\": "
                 + "the object has been modified; please apply your changes to the latest version and try again")
    }
    static func gone(_ message: String) -> APIError { APIError(code: 410, reason: "Expired", message: message) }
    /// A watch from a resourceVersion the server has not reached (its state went back, as after an etcd restore):
    /// kube-apiserver's answer, a Timeout whose message clients recognise and answer by listing again.
    static func tooLargeResourceVersion(_ requested: Int, current: Int) -> APIError {
        APIError(code: 504, reason: "Timeout", message: "Too large resource version: \(requested), current: \(current)")
    }
    static func invalid(_ message: String) -> APIError { APIError(code: 422, reason: "Invalid", message: message) }
    static func methodNotAllowed(_ message: String) -> APIError { APIError(code: 405, reason: "MethodNotAllowed", message: message) }
    static func unsupportedMediaType(_ message: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: message)
    }

    var status: ManifestValue {
        .object([
            ("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])),
            ("status", .string("Failure")), ("message", .string(message)), ("reason", .string(reason)),
            ("code", .number(String(code))),
        ])
    }
}
