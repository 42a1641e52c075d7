/// A failure a command reports to its user: `cachet: error: <message>`, then `cachet: hint: <hint>` when a next step
/// helps, and a non-zero exit. Messages never contain secret bytes.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let hint: String?
    let exitCode: Int32

    init(_ message: String, hint: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.hint = hint
        self.exitCode = exitCode
    }

    var description: String { message }
}
