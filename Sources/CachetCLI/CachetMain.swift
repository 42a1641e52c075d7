#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests

/// The whole of `cachet`'s `main`: parse, run, and turn every failure into `cachet: error: …` with the right exit
/// code (64 for usage mistakes, 1 for everything else).
public enum CachetMain {
    public static func run(
        _ arguments: [String] = Array(CommandLine.arguments.dropFirst()), programName: String = CommandLine.arguments.first ?? "cachet"
    ) -> Never {
        ProcessHardening.apply()
        // Called as `kubeseal` (a symlink), or `cachet kubeseal …`: kubeseal's command line, errors and exit codes.
        if programName.split(separator: "/").last == "kubeseal" { runKubeseal(arguments) }
        if arguments.first == KubesealCommand._commandName { runKubeseal(Array(arguments.dropFirst())) }
        // `cachet seal` is the command run most, often in loops and hooks: it is parsed on its own, which spares
        // building the whole command tree (argument-parser reflects over every command it visits) — about a tenth of
        // its start-up. Help, usage and errors read the same ("cachet seal …").
        let root: any ParsableCommand.Type = arguments.first == SealCommand._commandName ? SealCommand.self : CachetCommand.self
        do {
            // Plain `cachet seal` invocations skip argument-parser altogether (see SealValues.init(quickParsing:));
            // anything it does not read plainly, or that fails validation, goes the usual way for the usual errors.
            if root == SealCommand.self, let values = SealValues(quickParsing: Array(arguments.dropFirst())),
               (try? values.validate()) != nil {
                try values.run()
                exit(0)
            }
            var command = try root.parseAsRoot(root == SealCommand.self ? Array(arguments.dropFirst()) : arguments)
            try command.run()
            exit(0)
        } catch let failure as CommandFailure {
            report(failure.message, hint: failure.hint)
            exit(failure.exitCode)
        } catch let failure as CachetCryptoError {
            report(failure.message, hint: nil)
            exit(1)
        } catch let failure as ManifestError {
            report(failure.description, hint: nil)
            exit(1)
        } catch let failure as FileError {
            report(failure.message, hint: failure.hint)
            exit(1)
        } catch {
            let exitCode = root.exitCode(for: error)
            var message = root.fullMessage(for: error)
            if root == SealCommand.self {
                // argument-parser names only the root in its "See '… --help'" line.
                message = message.replacing("See 'seal ", with: "See 'cachet seal ")
            }
            if exitCode == .success {
                // --help and --version
                print(message)
                exit(0)
            }
            let prefix = "Error: "
            let text = message.hasPrefix(prefix) ? "cachet: error: " + message.dropFirst(prefix.count) : message
            StandardStreams.diagnose(text)
            exit(exitCode.rawValue)
        }
    }

    /// kubeseal's way: `error: …` on stderr and exit 1 for every failure of the command, exit 2 for a command line
    /// the flag parser refuses (as pflag does); help and version on stdout.
    static func runKubeseal(_ arguments: [String]) -> Never {
        do {
            var command = try KubesealCommand.parseAsRoot(GoFlags.normalizingBooleans(arguments, booleans: KubesealCommand.booleanOptions))
            try command.run()
            exit(0)
        } catch let failure as CommandFailure {
            kubesealReport(failure.message, hint: failure.hint)
        } catch let failure as CachetCryptoError {
            kubesealReport(failure.message, hint: nil)
        } catch let failure as ManifestError {
            kubesealReport(failure.description, hint: nil)
        } catch let failure as FileError {
            kubesealReport(failure.message, hint: failure.hint)
        } catch {
            let message = KubesealCommand.fullMessage(for: error)
            if KubesealCommand.exitCode(for: error) == .success {
                print(message)
                exit(0)
            }
            StandardStreams.diagnose(message.hasPrefix("Error: ") ? "error: " + message.dropFirst(7) : message)
            exit(2)
        }
        exit(1)
    }

    private static func kubesealReport(_ message: String, hint: String?) {
        StandardStreams.diagnose("error: \(message)")
        if let hint { StandardStreams.diagnose("hint: \(hint)") }
    }

    private static func report(_ message: String, hint: String?) {
        StandardStreams.diagnose("cachet: error: \(message)")
        if let hint { StandardStreams.diagnose("cachet: hint: \(hint)") }
    }
}
