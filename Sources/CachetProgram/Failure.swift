import CachetCrypto
import CachetKubeConfig
import CachetManifests

/// What a failed command tells its user: each of `errors` as `<program>: error: …`, then `hint` as
/// `<program>: hint: …` when a next step helps, then exit with `exitCode`. No secret bytes ever reach it: every
/// message is built from names, paths and positions, never from values.
package struct Diagnostic: Sendable {
    /// What went wrong, one line each (usually one). Empty when the command has already said it.
    package var errors: [String]
    package var hint: String?
    package var exitCode: Int32

    /// The exit code for a usage mistake (a bad flag, a missing argument), as sysexits' EX_USAGE and as
    /// argument-parser uses for its own parse errors.
    package static let usageExitCode: Int32 = 64

    package init(errors: [String], hint: String? = nil, exitCode: Int32 = 1) {
        self.errors = errors
        self.hint = hint
        self.exitCode = exitCode
    }
}

/// An error that knows how it is reported: every executable turns a thrown error into its lines the same way
/// (see ``Program``).
package protocol ReportableError: Error {
    var diagnostic: Diagnostic { get }
}

/// A failure a command reports to its user: one message, maybe a hint, and a non-zero exit (64 for a usage mistake).
package struct CommandFailure: ReportableError, CustomStringConvertible {
    package let message: String
    package let hint: String?
    package let exitCode: Int32

    package init(_ message: String, hint: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.hint = hint
        self.exitCode = exitCode
    }

    /// A bad flag or setting value found after parsing: reported like a parse error (exit 64).
    package static func usage(_ message: String, hint: String? = nil) -> CommandFailure {
        CommandFailure(message, hint: hint, exitCode: Diagnostic.usageExitCode)
    }

    /// The command has already reported what went wrong (on stderr, or in its output) and only needs to exit.
    package static func alreadyReported(exitCode: Int32 = 1) -> CommandFailure {
        CommandFailure("", exitCode: exitCode)
    }

    package var description: String { message }

    package var diagnostic: Diagnostic {
        Diagnostic(errors: message.isEmpty ? [] : [message], hint: hint, exitCode: exitCode)
    }
}

extension CachetCryptoError: ReportableError {
    package var diagnostic: Diagnostic { Diagnostic(errors: [message]) }
}

extension ManifestError: ReportableError {
    package var diagnostic: Diagnostic { Diagnostic(errors: [description]) }
}

extension FileError: ReportableError {
    package var diagnostic: Diagnostic { Diagnostic(errors: [message], hint: hint) }
}

extension KubeError: ReportableError {
    package var diagnostic: Diagnostic { Diagnostic(errors: [description], hint: hint) }
}
