import CachetCrypto
import CachetKubeConfig
import CachetManifests

/// What a failed command tells its user: each of `errors` as `<program>: error: …`, then `hint` as
/// `<program>: hint: …` when a next step helps, then exit with `exitCode`. No secret bytes ever reach it: every
/// message is built from names, paths and positions, never from values.
public struct Diagnostic: Sendable {
    /// What went wrong, one line each (usually one). Empty when the command has already said it.
    public var errors: [String]
    public var hint: String?
    public var exitCode: Int32

    /// The exit code for a usage mistake (a bad flag, a missing argument), as sysexits' EX_USAGE and as
    /// argument-parser uses for its own parse errors.
    public static let usageExitCode: Int32 = 64

    public init(errors: [String], hint: String? = nil, exitCode: Int32 = 1) {
        self.errors = errors
        self.hint = hint
        self.exitCode = exitCode
    }
}

/// An error that knows how it is reported: every executable turns a thrown error into its lines the same way
/// (see ``Program``).
public protocol ReportableError: Error {
    var diagnostic: Diagnostic { get }
}

/// A failure a command reports to its user: one message, maybe a hint, and a non-zero exit (64 for a usage mistake).
public struct CommandFailure: ReportableError, CustomStringConvertible {
    public let message: String
    public let hint: String?
    public let exitCode: Int32

    public init(_ message: String, hint: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.hint = hint
        self.exitCode = exitCode
    }

    /// A bad flag or setting value found after parsing: reported like a parse error (exit 64).
    public static func usage(_ message: String, hint: String? = nil) -> CommandFailure {
        CommandFailure(message, hint: hint, exitCode: Diagnostic.usageExitCode)
    }

    /// The command has already reported what went wrong (on stderr, or in its output) and only needs to exit.
    public static func alreadyReported(exitCode: Int32 = 1) -> CommandFailure {
        CommandFailure("", exitCode: exitCode)
    }

    public var description: String { message }

    public var diagnostic: Diagnostic {
        Diagnostic(errors: message.isEmpty ? [] : [message], hint: hint, exitCode: exitCode)
    }
}

extension CachetCryptoError: ReportableError {
    public var diagnostic: Diagnostic { Diagnostic(errors: [message]) }
}

extension ManifestError: ReportableError {
    public var diagnostic: Diagnostic { Diagnostic(errors: [description]) }
}

extension FileError: ReportableError {
    public var diagnostic: Diagnostic { Diagnostic(errors: [message], hint: hint) }
}

extension KubeError: ReportableError {
    public var diagnostic: Diagnostic { Diagnostic(errors: [description]) }
}
