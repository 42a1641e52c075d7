#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram

/// `cachet-controller render`: the sync-engine plugin (Argo CD config-management plugin, kustomize KRM function or
/// legacy exec plugin, or a plain pipe).
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Replace each SealedSecret in a manifest stream by its Secret; pass everything else through.",
        discussion: """
            Reads FILEs, DIRectories (their .yaml, .yml and .json files, recursively, in path order) or stdin. \
            Every SealedSecret becomes the Secret the controller would write; every other document keeps its bytes \
            and its place. A KRM ResourceList on stdin (a kustomize function call) gets a ResourceList back. If any \
            SealedSecret cannot be opened, nothing is written to stdout and each failure is named on stderr.

            Plaintext leaves this command: a sync engine that caches its output (Argo CD does, in Redis) keeps \
            plaintext Secrets there. See docs/controller.md.
            """
    )

    /// The variable that can name the keys instead of `--keys` (a mounted Secret in plugin configuration).
    static let keysVariable = "CACHET_KEYS"

    @Option(name: .customLong("keys"), parsing: .singleValue,
            help: "A PEM private key, a key directory (tls.key) or a Secret backup. Repeatable. Default: $CACHET_KEYS (comma-separated).")
    var keys: [String] = []

    @Option(name: [.customShort("n"), .customLong("namespace")],
            help: "Namespace for SealedSecrets that have none. Default: $ARGOCD_APP_NAMESPACE (Argo CD's destination namespace).")
    var namespace: String?

    @Option(help: "Threads that open values in parallel. Default: the number of cores.")
    var jobs: Int?

    @Option(name: .customLong("input-name"),
            help: "What to call stdin in messages, e.g. \"kustomize build apps/db\" (default: <stdin>).")
    var inputName: String?

    @Argument(help: "Files or directories to render; stdin when none is given. As a kustomize exec plugin, the plugin's configuration file (resources come on stdin).")
    var inputs: [String] = []

    /// kustomize sets this for the exec plugins it runs; their argument is the plugin's own configuration file, and
    /// the resources come on stdin.
    static let execPluginVariable = "KUSTOMIZE_PLUGIN_CONFIG_ROOT"

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    var keyPaths: [String] {
        if !keys.isEmpty { return keys }
        let variable = getenv(Self.keysVariable).map { String(cString: $0) } ?? ""
        return variable.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }

    func run() throws {
        // Here, not in validate() (which runs before an unknown option is reported): a mistyped flag is named as such.
        if keyPaths.isEmpty {
            throw ValidationError("missing --keys: name the private keys (or set \(Self.keysVariable))")
        }
        // Keys first: a key problem is reported before any input is read, and keys are loaded exactly once.
        let keyRing = try KeyRing.load(paths: keyPaths)
        let namespace = self.namespace ?? getenv("ARGOCD_APP_NAMESPACE").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        var renderer = Renderer(unsealer: Unsealer(keyRing: keyRing, namespace: namespace),
                                jobs: jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // As a kustomize exec plugin (`exec cachet-controller render "$@"`), the argument is kustomize's config file
        // for the plugin, not input: read it as input and the output would be that one object, exit 0 — and with
        // pruning, the application deleted. The resources are on stdin.
        let isExecPlugin = getenv(Self.execPluginVariable) != nil
        let stdinName = inputName ?? (isExecPlugin ? "<kustomize exec plugin input>" : "<stdin>")
        let sources = try RenderInputs.collect(isExecPlugin ? [] : inputs, stdinName: stdinName)
        // Inside a kustomize build (an exec plugin, or a KRM function, which gets a ResourceList) an overlay can
        // still rename what render outputs; see Renderer.namesAreFinal.
        renderer.namesAreFinal = !isExecPlugin

        if sources.count == 1, isExecPlugin || inputs.isEmpty {
            let documents = try inFile(sources[0].name) { try ManifestReader.documents(in: sources[0].bytes, limits: Renderer.limits) }
            if Renderer.isResourceList(documents) {
                renderer.namesAreFinal = false
                let (output, problems) = renderer.renderResourceList(sources[0], document: documents[0])
                try output.withUnsafeBytes { try SecretFiles.write($0, to: 1) }
                guard problems.isEmpty else {
                    // Also on stderr: kustomize shows a failed function's stderr, not its results.
                    for problem in problems { ControllerMain.report("\(problem)") }
                    throw CommandFailure.alreadyReported(exitCode: 1)
                }
                return
            }
        }
        let output = try renderer.render(sources)
        try output.withUnsafeBytes { try SecretFiles.write($0, to: 1) }
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
