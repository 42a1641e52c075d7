import ArgumentParser
import CachetCrypto
import Foundation

/// `cachet keys list PATH…`: one line per key, with its id.
struct KeysListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the keys in files or key directories: key id, kind, size, expiry, file."
    )

    @Argument(help: "Certificates, public or private keys, or key directories (holding tls.crt and tls.key).")
    var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one key file or key directory") }
    }

    func run() throws {
        let keys = try paths.flatMap { path throws in try KeyMaterial.load(path) }
        var lines = ["KEY ID            KIND         BITS  NOT AFTER             FILE"]
        let formatter = ISO8601DateFormatter()
        for key in keys {
            let expiry = if case .certificate(let certificate) = key.kind { formatter.string(from: certificate.notAfter) } else { "-" }
            lines.append([
                key.publicKey.keyID.hex,
                key.kindName.padding(toLength: 12, withPad: " ", startingAt: 0),
                String(key.publicKey.bits).padding(toLength: 5, withPad: " ", startingAt: 0),
                expiry.padding(toLength: 21, withPad: " ", startingAt: 0),
                key.path,
            ].joined(separator: "  "))
        }
        try StandardStreams.writeOutput(lines.joined(separator: "\n") + "\n")
    }
}
