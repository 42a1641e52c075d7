import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
import FoundationEssentials

/// `cachet check PATH…`: what must not be committed, or will not work once committed — for pre-commit and CI.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Find plaintext Secrets, and SealedSecrets that are broken, stale or moved by an overlay.",
        discussion: """
            Reads the YAML and JSON files under each PATH (default: the current directory; in a git work tree, the \
            files git would commit, so gitignored plaintext stays private) and reports, with file, line and the \
            command that fixes it: a Secret with data or stringData; a kustomize secretGenerator with literals, env \
            files or files; a SealedSecret that does not parse; one whose sealed-by keys are not what its \
            .cachet.yaml rule seals to now (stale after a key renewal); one that a kustomization in the tree builds \
            with another namespace or name than its scope allows (kubectl kustomize is run; --no-build skips it).

            Exit status: 0 when clean, 1 when something is found, 64 for a usage mistake.
            """)

    enum OutputKind: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Argument(help: "Files or directories to check (default: .).")
    var paths: [String] = []

    @Option(name: [.customShort("o"), .customLong("output")], help: "text (default) or json.")
    var output: OutputKind = .text

    @Flag(name: .customLong("no-build"), help: "Do not build kustomizations (skips the overlay check).")
    var noBuild = false

    func run() throws {
        let paths = self.paths.isEmpty ? ["."] : self.paths
        for path in paths where !SecretFiles.exists(path) {
            throw CommandFailure.usage("\(path): no such file or directory")
        }
        var check = RepositoryCheck(build: !noBuild)
        let findings = try check.run(paths)
        switch output {
        case .text:
            for finding in findings {
                // Names come from the repository: a newline or a terminal escape in one must not forge a line.
                let line = "\(finding.file):\(finding.line): \(finding.message) [\(finding.kind.rawValue)]".escapingControlCharacters()
                try StandardStreams.writeOutput(line + "\n  fix: " + finding.fix.escapingControlCharacters() + "\n")
            }
            for note in check.notes { StandardStreams.warn(note) }
            if !findings.isEmpty {
                StandardStreams.warn("\(findings.count) problem\(findings.count == 1 ? "" : "s") in \(Set(findings.map(\.file)).count) file(s), \(check.filesRead) checked")
            }
        case .json:
            let value = ManifestValue.object([
                ("findings", .array(findings.map(\.manifestValue))),
                ("filesChecked", .number(String(check.filesRead))),
                ("notes", .array(check.notes.map { .string($0) })),
            ])
            try StandardStreams.writeOutput(String(decoding: value.jsonBytes, as: UTF8.self) + "\n")
        }
        if !findings.isEmpty { throw CommandFailure.alreadyReported(exitCode: 1) }
    }
}
