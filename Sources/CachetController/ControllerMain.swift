import CachetCrypto
import CachetProgram

/// The whole of `cachet-controller`'s `main`: parse, run, and report failures as `cachet-controller: error: …`
/// (exit 64 for usage mistakes, 1 otherwise).
package enum ControllerMain {
    package static func run(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        ProcessHardening.apply()
        // Go's flag package reads a bare `--update-status` as true; argument-parser needs the value spelled out.
        let arguments = arguments.first == "run" ? RunCommand.normalizingBooleans(arguments) : arguments
        await Program.run(ControllerCommand.self, program: "cachet-controller", arguments: arguments)
    }

    /// One `cachet-controller: error: …` line, for a command that goes on (or exits with
    /// ``CommandFailure/alreadyReported(exitCode:)``) after saying it.
    static func report(_ message: String) {
        StandardError.write("cachet-controller: error: \(message)")
    }
}
