/// A problem with a file the user named (missing, unreadable, unsafe permissions), with a next step when one helps.
package struct FileError: Error, Sendable, CustomStringConvertible {
    package let message: String
    package let hint: String?

    package init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    package var description: String { message }
}
