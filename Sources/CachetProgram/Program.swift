#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests

/// How every Cachet executable ends: `<program>: error: …` (and `<program>: hint: …`) on stderr with the error's own
/// exit code, argument-parser's messages in the same form (exit 64 for usage), and help or version on stdout with
/// exit 0.
package enum Program {
    /// Parses `arguments` with `command` as the root, runs the command they name, and exits: 0 on success, else
    /// through ``exit(reporting:program:command:)``.
    package static func run(_ command: any ParsableCommand.Type, program: String, arguments: [String]) async -> Never {
        do {
            var parsed = try command.parseAsRoot(arguments)
            if var asyncCommand = parsed as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try parsed.run()
            }
            Glibc.exit(0)
        } catch {
            exit(reporting: error, program: program, command: command)
        }
    }

    /// Exits with the report of `error`; `command` is the root command, whose help argument-parser's messages cite.
    package static func exit(reporting error: any Error, program: String, command: any ParsableCommand.Type) -> Never {
        if let error = error as? any ReportableError {
            let diagnostic = error.diagnostic
            for line in diagnostic.errors { StandardError.write("\(program): error: \(line)") }
            if let hint = diagnostic.hint { StandardError.write("\(program): hint: \(hint)") }
            Glibc.exit(diagnostic.exitCode)
        }
        let exitCode = command.exitCode(for: error)
        let message = command.fullMessage(for: error)
        if exitCode == .success {
            // --help and --version
            print(message)
            Glibc.exit(0)
        }
        let prefix = "Error: "
        var text = Substring(message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message)
        // argument-parser appends the usage after the error, on lines of its own. Those lines come from the command's
        // own definition and are written as lines; the error part may quote input and stays one escaped line.
        var usage: [Substring] = []
        if let range = text.ranges(of: "\nUsage: ").last {
            usage = text[text.index(after: range.lowerBound)...].split(separator: "\n")
            text = text[..<range.lowerBound]
        }
        if !text.isEmpty { StandardError.write("\(program): error: \(text)") }
        for line in usage { StandardError.write(String(line)) }
        Glibc.exit(exitCode.rawValue)
    }
}

/// Unbuffered lines on stderr.
package enum StandardError {
    /// Writes `line` and a newline. One line, always: names and file names in diagnostics come from input, and their
    /// control characters (a newline forging a "success" line, a terminal escape) are shown escaped. Failures to write
    /// are ignored: there is nowhere left to report them.
    package static func write(_ line: String) {
        var text = line.escapingControlCharacters() + "\n"
        text.withUTF8 { buffer in try? SecretFiles.write(UnsafeRawBufferPointer(buffer), to: 2) }
    }
}
