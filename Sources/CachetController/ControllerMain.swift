#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKube
import CachetManifests

/// The whole of `cachet-controller`'s `main`: parse, run, and report failures as `cachet-controller: error: …`
/// (exit 64 for usage mistakes, 1 otherwise).
public enum ControllerMain {
    public static func run(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        ProcessHardening.apply()
        do {
            let arguments = arguments.first == "run" ? RunCommand.normalizingBooleans(arguments) : arguments
            var command = try ControllerCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let failure as Renderer.Failure {
            for error in failure.errors { report("\(error)") }
            exit(1)
        } catch let failure as FileError {
            report(failure.message, hint: failure.hint)
            exit(1)
        } catch let failure as ManifestError {
            report(failure.description)
            exit(1)
        } catch let failure as CachetCryptoError {
            report(failure.message)
            exit(1)
        } catch let failure as UsageError {
            report(failure.message)
            exit(64)
        } catch let failure as KubeError {
            report(failure.description)
            exit(1)
        } catch let failure as RenderExit {
            exit(failure.code)
        } catch {
            let exitCode = ControllerCommand.exitCode(for: error)
            let message = ControllerCommand.fullMessage(for: error)
            if exitCode == .success {
                print(message)
                exit(0)
            }
            let prefix = "Error: "
            report(message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message)
            exit(exitCode.rawValue)
        }
    }

    static func report(_ message: String, hint: String? = nil) {
        Diagnostics.write("cachet-controller: error: \(message)")
        if let hint { Diagnostics.write("cachet-controller: hint: \(hint)") }
    }
}

/// A bad flag or setting value found after parsing (one line, exit 64, like a parse error).
struct UsageError: Error, CustomStringConvertible {
    let message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}

/// A command that has already reported what went wrong and only needs to exit with `code`.
struct RenderExit: Error {
    let code: Int32
}

/// Unbuffered stderr.
enum Diagnostics {
    static func write(_ line: String) {
        var text = line.escapingControlCharacters() + "\n"  // input-borne names must not split or forge lines
        text.withUTF8 { buffer in try? SecretFiles.write(UnsafeRawBufferPointer(buffer), to: 2) }
    }
}
