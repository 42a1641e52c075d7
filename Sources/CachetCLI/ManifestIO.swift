#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram

/// `-f`, `-o` and `-w` as plain values, with what they do: read the input stream and write the output
/// (``ManifestIOOptions`` declares the flags; the kubeseal mode fills these from kubeseal's flags).
struct ManifestIOValues: Equatable {
    var file: String?
    var format: ManifestFormatOption?
    var output: String?

    /// The name input errors are reported under.
    var inputName: String { file ?? "<stdin>" }

    var outputFormat: ManifestFormat {
        if let format { return format == .yaml ? .yaml : .json }
        return output.flatMap(ManifestFormat.implied(byPath:)) ?? .json
    }

    func validate() throws {
        if let output, let file, file != "-", output == file || OutputFiles.sameFile(output, file) {
            throw ValidationError("-w names the input file \(file); write to another file (the input would be lost on failure)")
        }
    }

    /// The objects of the input stream; an empty stream is an error.
    func readObjects(what: String, limits: ParseLimits = .default) throws -> [ManifestObject] {
        if file == nil, isatty(0) == 1 {
            StandardError.write("cachet: reading \(what) from the terminal (stdin); end with Ctrl-D, or use -f FILE")
        }
        let input = try SecretFiles.read(file ?? "-", limit: limits.maxBytes)
        let objects = try inFile(inputName) { try ManifestReader.objects(in: ManifestReader.documents(in: input, limits: limits)) }
        guard !objects.isEmpty else { throw CommandFailure("no \(what) found in \(inputName)") }
        return objects
    }

    /// Writes the objects to `-w` (atomically, with `mode`) or to stdout.
    func write(_ objects: [ManifestValue], mode: mode_t) throws {
        let bytes = try outputFormat.write(objects)
        if let output {
            try OutputFiles.replace(output, contents: bytes, mode: mode)
        } else {
            try bytes.withUnsafeBytes { try StandardStreams.write($0, to: 1) }
        }
    }
}

/// Input and output of manifest streams for `seal` and `unseal`: `-f`, `-o`, `-w`.
struct ManifestIOOptions: ParsableArguments {
    // Declared repeatable only so that a second -f is refused rather than silently winning over the first.
    @Option(name: [.customShort("f"), .customLong("file"), .customLong("secret-file")], parsing: .singleValue,
            help: "Read manifests from this file instead of stdin.")
    var files: [String] = []

    @Option(name: [.customShort("o"), .customLong("format")],
            help: "Output format: json (the default, as kubeseal) or yaml (the default when -w ends in .yaml or .yml).")
    var format: ManifestFormatOption?

    @Option(name: [.customShort("w"), .customLong("sealed-secret-file")],
            help: "Write the output to this file, atomically (nothing is written if anything fails).")
    var output: String?

    var values: ManifestIOValues { ManifestIOValues(file: files.first, format: format, output: output) }

    func validate() throws {
        if files.count > 1 { throw ValidationError("-f given \(files.count) times; this command reads one input (cat them together, or run it once per file)") }
        try values.validate()
    }
}

extension ManifestFormatOption: ExpressibleByArgument {}

/// `-o json|yaml`.
enum ManifestFormatOption: String, CaseIterable {
    case json, yaml
}
