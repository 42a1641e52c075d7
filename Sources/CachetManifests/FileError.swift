/// A problem with a file the user named (missing, unreadable, unsafe permissions), with a next step when one helps.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message }
}
