import ArgumentParser
import CachetCrypto
import FoundationEssentials

/// `cachet keys list PATH…`: one line per key, with its id.
struct KeysListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the keys in files or key directories: key id, kind, algorithm, expiry, file."
    )

    @OptionGroup var files: KeyFileArguments

    func run() throws {
        let keys = try files.load()
        let rows = [["KEY ID", "KIND", "ALGORITHM", "NOT AFTER", "FILE"]] + keys.map { key in
            let expiry = if case .certificate(let certificate) = key.kind { certificate.notAfter.formatted(.iso8601) } else { "-" }
            return [key.keyID.hex, key.kindName, key.algorithm, expiry, key.path]
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max()! }
        let lines = rows.map { row in
            (0..<4).map { row[$0].padded(to: widths[$0]) }.joined(separator: "  ")
                + "  " + row[4]
        }
        try StandardStreams.writeOutput(lines.joined(separator: "\n") + "\n")
    }
}
