#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram

/// `kubeseal`'s own command line, so that scripts written for it run unchanged when `kubeseal` resolves to Cachet (a
/// `kubeseal` symlink to `cachet`, or `cachet kubeseal …`): its flags and their Go forms (`--raw=false`), its
/// `SEALED_SECRETS_*` variables, its defaults (JSON output, `kube-system/sealed-secrets-controller`), its order of
/// modes, and its exit status 1 with `error: …`. The work is done by the same code as Cachet's own commands.
///
/// This is the one place with mode flags (`--raw`, `--validate`, `--re-encrypt`, …); Cachet's own commands are
/// subcommands. Flags Cachet does not honour yet (most of kubectl's connection overrides) fail with a message.
struct KubesealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeseal",
        abstract: "kubeseal's command line, for scripts written for Bitnami's kubeseal.",
        discussion: """
            Every flag can also be set as SEALED_SECRETS_<FLAG> (SEALED_SECRETS_CONTROLLER_NAMESPACE, …); the flag wins. \
            Modes, in kubeseal's order: --recovery-unseal, --validate, --re-encrypt, --fetch-cert, --merge-into, --raw, \
            else seal the Secrets read from -f or stdin.
            """)

    @Option(help: "Certificate to seal to: a file, an https:// URL, or http:// on this machine. Overrides --controller-*.")
    var cert: String?
    @Option(name: .customLong("controller-namespace"), help: "Namespace of the controller (default kube-system).")
    var controllerNamespace: String?
    @Option(name: .customLong("controller-name"), help: "Name of the controller (default sealed-secrets-controller).")
    var controllerName: String?
    @Option(name: [.customShort("o"), .customLong("format")], help: "Output format: json (default) or yaml.")
    var format: String?
    @Option(name: [.customShort("w"), .customLong("sealed-secret-file")], help: "Output file, written atomically.")
    var output: String?
    @Option(name: [.customShort("f"), .customLong("secret-file")], help: "Input file (default: stdin).")
    var input: String?
    @Option(name: .customLong("fetch-cert"), help: "Write the certificate to stdout.")
    var fetchCert: Bool?
    @Option(name: .customLong("allow-empty-data"), help: "Allow a Secret with no data.")
    var allowEmptyData: Bool?
    @Option(help: "Ask the controller whether it can decrypt the SealedSecrets.")
    var validate: Bool?
    @Option(name: .customLong("merge-into"), help: "Merge the Secret's items into this SealedSecret file, in place.")
    var mergeInto: String?
    @Option(help: "Seal one value (stdin or --from-file) instead of Secrets.")
    var raw: Bool?
    @Option(help: "Name for --raw with strict scope; overrides metadata.name otherwise.")
    var name: String?
    @Option(name: .customLong("from-file"), parsing: .singleValue, help: "With --raw: [key=]path of the value. Repeatable, comma-separated.")
    var fromFile: [String] = []
    @Option(help: "Kubeconfig file.")
    var kubeconfig: String?
    @Option(help: "strict, namespace-wide or cluster-wide.")
    var scope: String?
    @Option(name: .customLong("re-encrypt"), help: "Re-encrypt SealedSecrets to the controller's newest key.")
    var reEncrypt: Bool?
    @Option(help: ArgumentHelp("Deprecated alias of --re-encrypt.", visibility: .hidden))
    var rotate: Bool?
    @Option(name: .customLong("recovery-unseal"), help: "Decrypt SealedSecrets with --recovery-private-key.")
    var recoveryUnseal: Bool?
    @Option(name: .customLong("recovery-private-key"), parsing: .singleValue,
            help: "Private key files or key backups for --recovery-unseal. Repeatable, comma-separated.")
    var recoveryPrivateKey: [String] = []
    @Option(help: "The kubeconfig context.")
    var context: String?
    @Option(name: [.customShort("n"), .customLong("namespace")], help: "Namespace (default: the Secret's, else the kubeconfig's).")
    var namespace: String?
    @Option(help: "Print the version.")
    var version: Bool?

    // kubectl's connection overrides, which kubeseal also takes: --server and --token are honoured; the rest are refused
    // by name rather than ignored.
    @Option(name: .customLong("cluster"), help: .hidden) var cluster: String?
    @Option(name: .customLong("user"), help: .hidden) var user: String?
    @Option(name: [.customShort("s"), .customLong("server")], help: "The API server's URL, in place of the kubeconfig's.") var server: String?
    @Option(name: .customLong("token"), help: "A bearer token for the API server.") var token: String?
    @Option(name: .customLong("as"), help: .hidden) var impersonate: String?
    @Option(name: .customLong("as-group"), help: .hidden) var impersonateGroup: String?
    @Option(name: .customLong("as-uid"), help: .hidden) var impersonateUID: String?
    @Option(name: .customLong("username"), help: .hidden) var username: String?
    @Option(name: .customLong("password"), help: .hidden) var password: String?
    @Option(name: .customLong("client-certificate"), help: .hidden) var clientCertificate: String?
    @Option(name: .customLong("client-key"), help: .hidden) var clientKey: String?
    @Option(name: .customLong("certificate-authority"), help: .hidden) var certificateAuthority: String?
    @Option(name: .customLong("insecure-skip-tls-verify"), help: .hidden) var insecureSkipTLSVerify: Bool?
    @Option(name: .customLong("request-timeout"), help: .hidden) var requestTimeout: String?
    @Option(name: .customLong("tls-server-name"), help: .hidden) var tlsServerName: String?
    @Option(name: .customLong("proxy-url"), help: .hidden) var proxyURL: String?

    /// kubeseal's boolean flags, which Go lets stand bare or take `=true`/`=false`.
    static let booleanOptions: Set<String> = [
        "--fetch-cert", "--allow-empty-data", "--validate", "--raw", "--re-encrypt", "--rotate", "--recovery-unseal", "--version",
        "--insecure-skip-tls-verify",
    ]

    func run() throws {
        let settings = try KubesealSettings(self, environment: KubeConfig.currentEnvironment())
        try settings.run()
    }

    /// Each flag, else its `SEALED_SECRETS_` variable.
    func value(_ given: String?, _ flag: String, _ environment: [String: String]) -> String? {
        if let given { return given }
        return environment[GoFlags.variable(prefix: "SEALED_SECRETS", flag: flag)].flatMap { $0.isEmpty ? nil : $0 }
    }

    func boolean(_ given: Bool?, _ flag: String, _ environment: [String: String]) throws -> Bool {
        if let given { return given }
        guard let text = value(nil, flag, environment) else { return false }
        guard let parsed = GoFlags.boolean(text) else {
            throw CommandFailure("\(GoFlags.variable(prefix: "SEALED_SECRETS", flag: flag)): not true or false: \(text)")
        }
        return parsed
    }

    /// pflag's string slices: repeatable, each comma-separated; else the variable's comma-separated list.
    func list(_ given: [String], _ flag: String, _ environment: [String: String]) -> [String] {
        let raw = given.isEmpty ? value(nil, flag, environment).map { [$0] } ?? [] : given
        return raw.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
    }

    /// The connection overrides given (flag or variable), which Cachet does not honour yet.
    func unsupportedOverrides(_ environment: [String: String]) -> [String] {
        let given: [(String?, String)] = [
            (cluster, "cluster"), (user, "user"), (impersonate, "as"),
            (impersonateGroup, "as-group"), (impersonateUID, "as-uid"), (username, "username"), (password, "password"),
            (clientCertificate, "client-certificate"), (clientKey, "client-key"), (certificateAuthority, "certificate-authority"),
            (insecureSkipTLSVerify.map { String($0) }, "insecure-skip-tls-verify"), (requestTimeout, "request-timeout"),
            (tlsServerName, "tls-server-name"), (proxyURL, "proxy-url"),
        ]
        return given.compactMap { value($0.0, $0.1, environment) == nil ? nil : "--" + $0.1 }
    }
}
