import ArgumentParser
import CachetCrypto
import FoundationEssentials

/// `cachet keys inspect PATH…`: everything public about a key. Never prints private material.
struct KeysInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the details of certificates and keys (never private material)."
    )

    @OptionGroup var files: KeyFileArguments

    func run() throws {
        let keys = try files.load()
        let blocks = keys.map { key in
            var fields: [(String, String)] = [
                ("file", key.path),
                ("kind", key.kindName),
                ("key id", key.keyID.hex),
                ("algorithm", key.algorithm),
            ]
            switch key.kind {
            case .ageIdentity(let identity): fields.append(("recipient", identity.recipient.description))
            case .ageRecipient(let recipient): fields.append(("recipient", recipient.description))
            default: break
            }
            if case .certificate(let certificate) = key.kind {
                let now = Date()
                let state = now < certificate.notBefore ? "not yet valid" : now > certificate.notAfter ? "expired" : "valid"
                fields += [
                    ("subject", certificate.subject.isEmpty ? "(empty)" : certificate.subject),
                    ("issuer", certificate.issuer.isEmpty ? "(empty)" : certificate.issuer),
                    ("not before", certificate.notBefore.formatted(.iso8601)),
                    ("not after", certificate.notAfter.formatted(.iso8601)),
                    ("status", state),
                ]
            }
            return fields.map { "\($0.0):".padded(to: 12) + $0.1 }
                .joined(separator: "\n")
        }
        try StandardStreams.writeOutput(blocks.joined(separator: "\n\n") + "\n")
    }
}
