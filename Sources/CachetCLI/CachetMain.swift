#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests

/// The whole of `cachet`'s `main`: parse, run, and turn every failure into `cachet: error: …` with the right exit
/// code (64 for usage mistakes, 1 for everything else).
public enum CachetMain {
    public static func run(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        ProcessHardening.apply()
        do {
            var command = try CachetCommand.parseAsRoot(arguments)
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
            let exitCode = CachetCommand.exitCode(for: error)
            let message = CachetCommand.fullMessage(for: error)
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

    private static func report(_ message: String, hint: String?) {
        StandardStreams.diagnose("cachet: error: \(message)")
        if let hint { StandardStreams.diagnose("cachet: hint: \(hint)") }
    }
}
