#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests
import FoundationEssentials
import Subprocess
import SystemPackage

/// A kubeconfig user's `exec` credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`), as client-go runs
/// it: EKS's `aws eks get-token`, GKE's `gke-gcloud-auth-plugin`, AKS's `kubelogin`, OIDC's `kubectl oidc-login`.
package struct ExecPlugin: Sendable {
    package enum InteractiveMode: String, Sendable {
        case never = "Never", ifAvailable = "IfAvailable", always = "Always"
    }

    package static let supportedVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    package var apiVersion: String
    /// A bare name (looked up in PATH) or a path; a relative path was made relative to the kubeconfig's directory.
    package var command: String
    package var arguments: [String] = []
    /// Added to the caller's environment, later entries winning.
    package var environment: [(name: String, value: String)] = []
    package var installHint: String?
    package var interactiveMode: InteractiveMode
    /// `spec.cluster` of the input (`provideClusterInfo: true`); nil when the plugin did not ask for it.
    package var cluster: ManifestValue?
    /// The kubeconfig user it belongs to, for messages.
    package var userName: String

    /// Reads `users[].user.exec` with client-go's checks: the version must be one it still speaks (v1alpha1 was
    /// removed in Kubernetes 1.24), and v1 must say how interactive the plugin may be.
    package init(_ exec: ManifestValue, userName: String, directory: String, where place: String) throws {
        func fail(_ problem: String) -> KubeError {
            KubeError(.configuration, "\(place): user \"\(userName)\": exec plugin: \(problem)")
        }
        self.userName = userName
        guard let apiVersion = exec["apiVersion"]?.stringValue, !apiVersion.isEmpty else { throw fail("apiVersion is missing") }
        guard Self.supportedVersions.contains(apiVersion) else {
            throw fail("apiVersion \"\(apiVersion)\" is not supported (use client.authentication.k8s.io/v1 or v1beta1)")
        }
        self.apiVersion = apiVersion
        guard let command = exec["command"]?.stringValue, !command.isEmpty else { throw fail("command is missing") }
        // client-go: a command with a path separator is relative to the kubeconfig; a bare name is looked up in PATH.
        self.command = command.contains("/") && !command.hasPrefix("/") ? SecretFiles.join(directory, command) : command
        for argument in exec["args"]?.arrayValue ?? [] {
            guard let text = argument.stringValue else { throw fail("args must be strings") }
            arguments.append(text)
        }
        for entry in exec["env"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, !name.isEmpty, !name.contains("="), let value = entry["value"]?.stringValue else {
                throw fail("every env entry needs a name (without '=') and a value")
            }
            environment.append((name, value))
        }
        installHint = exec["installHint"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        switch exec["interactiveMode"]?.stringValue {
        case nil, "":
            guard apiVersion != "client.authentication.k8s.io/v1" else {
                throw fail("interactiveMode must be set for client.authentication.k8s.io/v1 (Never, IfAvailable or Always)")
            }
            interactiveMode = .ifAvailable  // v1beta1's default
        case let mode?:
            guard let known = InteractiveMode(rawValue: mode) else {
                throw fail("interactiveMode \"\(mode)\" is not one of Never, IfAvailable, Always")
            }
            interactiveMode = known
        }
    }

    /// `spec.cluster`, as client-go fills it for `provideClusterInfo: true`: where the cluster is and how to trust it,
    /// and the cluster's `client.authentication.k8s.io/exec` extension as `config`.
    package static func clusterInfo(_ cluster: ManifestValue, certificateAuthorityPEM: [UInt8]?) -> ManifestValue {
        var fields: [(String, ManifestValue)] = [("server", cluster["server"] ?? .string(""))]
        if let name = cluster["tls-server-name"]?.stringValue { fields.append(("tls-server-name", .string(name))) }
        if cluster["insecure-skip-tls-verify"] == .bool(true) { fields.append(("insecure-skip-tls-verify", .bool(true))) }
        if let authority = certificateAuthorityPEM { fields.append(("certificate-authority-data", .string(Base64.encode(authority)))) }
        if let proxy = cluster["proxy-url"]?.stringValue { fields.append(("proxy-url", .string(proxy))) }
        for extensionEntry in cluster["extensions"]?.arrayValue ?? [] where extensionEntry["name"]?.stringValue == "client.authentication.k8s.io/exec" {
            if let config = extensionEntry["extension"] { fields.append(("config", config)) }
        }
        return .object(fields)
    }
}

/// What a plugin returned: a bearer token, or a client certificate and key; valid until `expiry` (nil: until the API
/// server refuses it).
package struct ExecCredential: Sendable {
    package var token: String?
    package var clientCertificatePEM: [UInt8]?
    package var clientKeyPEM: SecureBytes?
    package var expiry: Date?
    /// Which run of the plugin made it: a 401 discards the cached credential only if it is the one that was refused,
    /// so that concurrent requests failing together run the plugin once, not once each.
    package var generation: Int
}

/// Runs a plugin when a credential is needed and caches its answer as client-go does: until `expirationTimestamp`,
/// else until a request is refused with 401. One run at a time: concurrent callers wait for the same run.
package actor ExecCredentialSource {
    nonisolated package let plugin: ExecPlugin
    private var cached: ExecCredential?
    private var running: Task<ExecCredential, any Error>?
    private var generation = 0
    /// How often the plugin ran (for tests and the debug log).
    package private(set) var runs = 0

    /// Longest answer read from a plugin; a credential is a few KiB.
    static let outputLimit = 1 << 20

    /// The time expiries are compared with (tests move it).
    private let now: @Sendable () -> Date

    package init(_ plugin: ExecPlugin, now: @escaping @Sendable () -> Date = { Date() }) {
        self.plugin = plugin
        self.now = now
    }

    package func credential() async throws -> ExecCredential {
        if let cached, cached.expiry.map({ now() < $0 }) ?? true { return cached }
        if let running { return try await running.value }
        let plugin = plugin
        let nextGeneration = generation + 1
        let task = Task { try await Self.run(plugin, generation: nextGeneration) }
        running = task
        defer { running = nil }
        let fresh = try await task.value
        generation = nextGeneration
        runs += 1
        cached = fresh
        return fresh
    }

    /// After a 401: forget the credential of that generation, so the next request runs the plugin again.
    package func refused(generation refusedGeneration: Int) {
        if cached?.generation == refusedGeneration { cached = nil }
    }

    /// Runs the plugin once. Its stderr is the caller's (plugins print prompts and progress there, as under kubectl);
    /// its stdin is the caller's only when it may interact and the caller has a terminal.
    static func run(_ plugin: ExecPlugin, generation: Int) async throws -> ExecCredential {
        let name = plugin.command.split(separator: "/").last.map(String.init) ?? plugin.command
        let terminal = isatty(STDIN_FILENO) == 1
        let interactive: Bool
        switch plugin.interactiveMode {
        case .never: interactive = false
        case .ifAvailable: interactive = terminal
        case .always:
            guard terminal else {
                throw KubeError(.configuration, "getting credentials: exec plugin \(name) (user \"\(plugin.userName)\") runs only interactively (interactiveMode Always), and standard input is not a terminal")
            }
            interactive = true
        }
        var spec: [(String, ManifestValue)] = [("interactive", .bool(interactive))]
        if let cluster = plugin.cluster { spec.insert(("cluster", cluster), at: 0) }
        let info = ManifestValue.object([
            ("apiVersion", .string(plugin.apiVersion)), ("kind", .string("ExecCredential")), ("spec", .object(spec)),
        ])
        var overrides: [Environment.Key: String?] = [:]
        for (variable, value) in plugin.environment { overrides[Environment.Key(rawValue: variable)!] = value }
        overrides["KUBERNETES_EXEC_INFO"] = String(decoding: info.jsonBytes, as: UTF8.self)
        let executable: Executable = plugin.command.contains("/") ? .path(FilePath(plugin.command)) : .name(plugin.command)

        let result: ExecutionResult<Void, BytesOutput, FileDescriptorOutput>
        do {
            if interactive {
                result = try await Subprocess.run(executable, arguments: Arguments(plugin.arguments), environment: .inherit.updating(overrides),
                                                  input: .currentStandardInput, output: .bytes(limit: outputLimit), error: .currentStandardError)
            } else {
                result = try await Subprocess.run(executable, arguments: Arguments(plugin.arguments), environment: .inherit.updating(overrides),
                                                  input: .none, output: .bytes(limit: outputLimit), error: .currentStandardError)
            }
        } catch let error as SubprocessError {
            if error.code == .executableNotFound || (error.code == .spawnFailed && !isExecutable(plugin.command)) {
                // kubectl's message, and the plugin's own install hint, which says what to install.
                throw KubeError(.configuration, "getting credentials: exec: executable \(name) not found",
                                hint: plugin.installHint ?? "it looks like a client-go credential plugin that is not installed (kubeconfig user \"\(plugin.userName)\")")
            }
            if error.code == .outputLimitExceeded {
                throw KubeError(.configuration, "getting credentials: exec plugin \(name) wrote more than \(outputLimit >> 20) MiB")
            }
            throw KubeError(.configuration, "getting credentials: exec: executable \(name) could not be run: \(error.code)")
        }
        switch result.terminationStatus {
        case .exited(0): break
        case .exited(let code):
            throw KubeError(.configuration, "getting credentials: exec: executable \(name) failed with exit code \(code)")
        case .signaled(let signal):
            throw KubeError(.configuration, "getting credentials: exec: executable \(name) was killed by signal \(signal)")
        }
        return try parse(result.standardOutput, plugin: plugin, name: name, generation: generation)
    }

    /// The plugin's ExecCredential, checked as client-go checks it. Messages never quote the output: it holds the
    /// credential.
    package static func parse(_ output: [UInt8], plugin: ExecPlugin, name: String, generation: Int) throws -> ExecCredential {
        func fail(_ problem: String) -> KubeError {
            KubeError(.configuration, "getting credentials: exec plugin \(name): \(problem)")
        }
        guard let object = try? ManifestValue(json: output), case .object = object else { throw fail("its output is not a JSON object") }
        guard object["kind"]?.stringValue == "ExecCredential" else { throw fail("its output is not an ExecCredential") }
        let version = object["apiVersion"]?.stringValue ?? ""
        guard version == plugin.apiVersion else {
            throw fail("it was configured for \(plugin.apiVersion) and returned \"\(version.prefix(80))\"")
        }
        guard let status = object["status"], case .object = status else { throw fail("it returned no status") }
        var credential = ExecCredential(generation: generation)
        if let token = status["token"]?.stringValue, !token.isEmpty {
            // A header value: a line break would end the header and start one of the plugin's choosing.
            guard token.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { throw fail("its token holds control characters") }
            credential.token = token
        }
        let certificate = status["clientCertificateData"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let key = status["clientKeyData"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        switch (certificate, key) {
        case let (certificate?, key?):
            credential.clientCertificatePEM = Array(certificate.utf8)
            credential.clientKeyPEM = try SecureBytes(copying: Array(key.utf8))
        case (nil, nil): break
        default: throw fail("it returned a client certificate or key, not both")
        }
        guard credential.token != nil || credential.clientCertificatePEM != nil else {
            throw fail("it returned neither a token nor a client certificate and key")
        }
        if let stamp = status["expirationTimestamp"]?.stringValue, !stamp.isEmpty {
            guard let expiry = parseTimestamp(stamp) else { throw fail("expirationTimestamp \"\(stamp.prefix(40))\" is not an RFC 3339 time") }
            credential.expiry = expiry
        }
        return credential
    }

    static func parseTimestamp(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    private static func isExecutable(_ path: String) -> Bool {
        path.contains("/") && access(path, X_OK) == 0
    }
}
