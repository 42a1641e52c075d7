#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetProgram

/// The whole of `cachet`'s `main`: parse, run, and turn every failure into `cachet: error: …` with the right exit
/// code (64 for usage mistakes, 1 for everything else).
package enum CachetMain {
    package static func run(
        _ arguments: [String] = Array(CommandLine.arguments.dropFirst()), programName: String = CommandLine.arguments.first ?? "cachet"
    ) -> Never {
        ProcessHardening.apply()
        // Called as `kubeseal` (a symlink), or `cachet kubeseal …`: kubeseal's command line, errors and exit codes.
        if programName.split(separator: "/").last == "kubeseal" { runKubeseal(arguments) }
        if arguments.first == KubesealCommand._commandName { runKubeseal(Array(arguments.dropFirst())) }
        do {
            var command = try CachetCommand.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch {
            Program.exit(reporting: error, program: "cachet", command: CachetCommand.self)
        }
    }

    /// kubeseal's way: `error: …` on stderr and exit 1 for every failure of the command, exit 2 for a command line
    /// the flag parser refuses (as pflag does); help and version on stdout.
    static func runKubeseal(_ arguments: [String]) -> Never {
        do {
            var command = try KubesealCommand.parseAsRoot(GoFlags.normalizingBooleans(arguments, booleans: KubesealCommand.booleanOptions))
            try command.run()
            exit(0)
        } catch let failure as any ReportableError {
            let diagnostic = failure.diagnostic
            for line in diagnostic.errors { StandardError.write("error: \(line)") }
            if let hint = diagnostic.hint { StandardError.write("hint: \(hint)") }
            exit(1)
        } catch {
            let message = KubesealCommand.fullMessage(for: error)
            if KubesealCommand.exitCode(for: error) == .success {
                print(message)
                exit(0)
            }
            StandardError.write(message.hasPrefix("Error: ") ? "error: " + message.dropFirst(7) : message)
            exit(2)
        }
    }
}
