import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import Foundation
import Logging
import CachetTestSupport
import Testing
@testable import CachetController

/// `cachet-controller run`'s flags (Bitnami's names and defaults, `SEALED_SECRETS_*`), and the process itself.
@Suite("controller: the run command")
struct RunCommandTests {
    static func resolve(_ arguments: [String], environment: [String: String] = [:]) throws -> RunCommand.Resolved {
        let command = try RunCommand.parse(RunCommand.normalizingBooleans(arguments))
        return try command.resolve(environment: environment)
    }

    @Test("defaults are Bitnami's")
    func defaults() throws {
        let resolved = try Self.resolve([], environment: ["POD_NAMESPACE": "sealed"])
        let settings = resolved.controller
        #expect(settings.listen == .init(host: "0.0.0.0", port: 8080))
        #expect(settings.listenMetrics == .init(host: "0.0.0.0", port: 8081))
        #expect(settings.keys.namespace == "sealed")
        #expect(settings.keys.keyPrefix == "sealed-secrets-key")
        #expect(settings.keys.keyBits == 4096)
        #expect(settings.keys.renewPeriod == .seconds(720 * 3600))
        #expect(settings.keys.keyValidity == .seconds(87600 * 3600))
        #expect(settings.keys.cutoff == nil)
        #expect(settings.reconciler.namespaces == nil)
        #expect(settings.reconciler.updateStatus)
        #expect(settings.rateLimit == 2 && settings.rateLimitBurst == 2)
        #expect(settings.reconciler.workers >= 1)
        #expect(settings.keys.order == .certificateNotBefore && settings.keys.commonName == nil)
        #expect(settings.keys.secretLabels.isEmpty && settings.keys.secretAnnotations.isEmpty && settings.keys.watchKeySecrets)
        #expect(settings.reconciler.labelSelector == nil && settings.reconciler.recreateDeletedSecrets)
        #expect(settings.reconciler.maxRetries == nil)
        #expect(resolved.logFormat == .text && !resolved.logInfoToStdout && resolved.requestRate == nil)
        #expect(settings.webUI)
    }

    @Test("--web-ui: on by default; --web-ui=false, --web-ui false and SEALED_SECRETS_WEB_UI=false turn the sealing page off")
    func webUI() throws {
        #expect(try Self.resolve(["--web-ui"]).controller.webUI)
        #expect(try !Self.resolve(["--web-ui=false"]).controller.webUI)
        #expect(try !Self.resolve(["--web-ui", "false"]).controller.webUI)
        #expect(try !Self.resolve([], environment: ["SEALED_SECRETS_WEB_UI": "false"]).controller.webUI)
        #expect(throws: (any Error).self) { try Self.resolve([], environment: ["SEALED_SECRETS_WEB_UI": "nope"]) }
    }

    @Test("--log-info-stdout splits the log: below warning to one stream, warnings and errors to the other")
    func splitLog() throws {
        let routine = LogCapture(), problems = LogCapture()
        var logger = Logger(label: "split") { _ in SplitLogHandler(routine: routine, problems: problems) }
        logger.logLevel = .debug
        logger[metadataKey: "component"] = "test"
        logger.trace("hidden")
        logger.info("started")
        logger.notice("noted")
        logger.warning("careful")
        logger.error("failed")
        #expect(routine.text == "info started \nnotice noted ")
        #expect(problems.text == "warning careful \nerror failed ")
        // Level and metadata reach both streams' handlers (values, as real handlers are: read them back from the split).
        let split = try #require(logger.handler as? SplitLogHandler)
        #expect(split.routine.metadata["component"] == "test" && split.problems.metadata["component"] == "test")
        #expect(split.routine.logLevel == .debug && split.problems.logLevel == .debug)
    }

    @Test("the other Bitnami flags: key order, common name, key Secret labels and annotations, selector, skip-recreate, log format")
    func otherFlags() throws {
        let resolved = try Self.resolve([
            "--key-order-priority", "SecretCreationTimestamp", "--my-cn", "sealed-secrets",
            "--privatekey-labels", "team=platform, example.com/tier=keys", "--privatekey-annotations", "owner=SRE team,note=",
            "--label-selector", "tier in (web,api)", "--skip-recreate", "--watch-for-secrets=false", "--log-format", "json",
            "--max-unseal-retries", "5", "--log-info-stdout", "--kubeclient-qps", "5", "--kubeclient-burst", "10",
        ])
        let settings = resolved.controller
        #expect(settings.keys.order == .secretCreationTimestamp)
        #expect(settings.keys.commonName == "sealed-secrets")
        #expect(settings.keys.secretLabels == ["team": "platform", "example.com/tier": "keys"])
        #expect(settings.keys.secretAnnotations == ["owner": "SRE team", "note": ""])
        #expect(!settings.keys.watchKeySecrets)
        #expect(settings.reconciler.labelSelector == "tier in (web,api)")
        #expect(!settings.reconciler.recreateDeletedSecrets)
        #expect(settings.reconciler.maxRetries == 5)
        #expect(resolved.logFormat == .json && resolved.logInfoToStdout)
        #expect(resolved.requestRate?.rate == 5 && resolved.requestRate?.burst == 10)
        #expect(settings.leaderElection == nil, "no leader election unless asked, as Bitnami's")
        let elected = try #require(try Self.resolve(["--leader-elect", "--leader-elect-retry-period=1s"],
                                                   environment: ["POD_NAME": "cachet-7d9f-x2"]).controller.leaderElection)
        #expect(elected.leaseName == "cachet-controller" && elected.leaseDuration == .seconds(15) && elected.renewDeadline == .seconds(10))
        #expect(elected.retryPeriod == .seconds(1) && elected.identity.hasPrefix("cachet-7d9f-x2_") && elected.namespace == settings.keys.namespace)
        let fromEnvironment = try Self.resolve([], environment: ["SEALED_SECRETS_SKIP_RECREATE": "true", "SEALED_SECRETS_MY_CN": "x"])
        #expect(!fromEnvironment.controller.reconciler.recreateDeletedSecrets && fromEnvironment.controller.keys.commonName == "x")
    }

    @Test("flags win over SEALED_SECRETS_* variables, which win over defaults; Go's boolean forms work")
    func environment() throws {
        let environment = [
            "SEALED_SECRETS_LISTEN_ADDR": "127.0.0.1:9000", "SEALED_SECRETS_KEY_PREFIX": "from-env",
            "SEALED_SECRETS_UPDATE_STATUS": "false", "SEALED_SECRETS_KEY_RENEW_PERIOD": "0",
            "SEALED_SECRETS_ADDITIONAL_NAMESPACES": "team-a, team-b", "SEALED_SECRETS_NAMESPACE": "ctl",
            "SEALED_SECRETS_KEY_CUTOFF_TIME": "Mon, 02 Jan 2006 15:04:05 -0700",
        ]
        let fromEnvironment = try Self.resolve([], environment: environment).controller
        #expect(fromEnvironment.listen == .init(host: "127.0.0.1", port: 9000))
        #expect(fromEnvironment.keys.keyPrefix == "from-env")
        #expect(!fromEnvironment.reconciler.updateStatus)
        #expect(fromEnvironment.keys.renewPeriod == .zero)
        #expect(fromEnvironment.reconciler.namespaces == ["ctl", "team-a", "team-b"])
        #expect(fromEnvironment.keys.cutoff == Date(timeIntervalSince1970: 1_136_239_445))

        let flags = try Self.resolve(["--listen-addr", "[::1]:7000", "--key-prefix", "from-flag", "--update-status",
                                      "--all-namespaces=false", "--namespace", "own"], environment: environment).controller
        #expect(flags.listen == .init(host: "::1", port: 7000))
        #expect(flags.keys.keyPrefix == "from-flag")
        #expect(flags.reconciler.updateStatus)
        #expect(flags.reconciler.namespaces == ["own", "team-a", "team-b"])
        let onlyOwn = try Self.resolve(["--all-namespaces=false"], environment: ["POD_NAMESPACE": "ctl"]).controller
        #expect(onlyOwn.reconciler.namespaces == ["ctl"])
    }

    @Test("Go durations and RFC 1123Z times")
    func parsers() {
        #expect(GoDuration.parse("720h") == .seconds(720 * 3600))
        #expect(GoDuration.parse("1h30m") == .seconds(5400))
        #expect(GoDuration.parse("250ms") == .milliseconds(250))
        #expect(GoDuration.parse("0") == .zero)
        for bad in ["", "10", "h", "1d", "-5m", "1h30"] { #expect(GoDuration.parse(bad) == nil, "\(bad)") }
        #expect(RFC1123Z.parse("Thu, 26 Nov 2026 10:00:00 +0100") == Date(timeIntervalSince1970: 1_795_683_600))
        for bad in ["2026-11-26", "Thu, 26 Nov 2026 10:00:00", "Thu, 32 Nov 2026 10:00:00 +0000", "Thu, 26 Foo 2026 10:00:00 +0000"] {
            #expect(RFC1123Z.parse(bad) == nil, "\(bad)")
        }
        #expect(Controller.ListenAddress(":8080") == .init(host: "0.0.0.0", port: 8080))
        #expect(Controller.ListenAddress("::1:80") == nil)
        #expect(Controller.ListenAddress("host:99999") == nil)
    }

    @Test("the work budgets of /v1/verify and /v1/rotate: defaults, flags, and the environment")
    func workBudgets() throws {
        let defaults = try Self.resolve([]).controller.apiWork
        #expect(defaults.clientOperationsPerSecond == 16 && defaults.clientOperationsBurst == 256)
        #expect(defaults.totalOperationsPerSecond == 64 && defaults.totalOperationsBurst == 512)
        let raised = try Self.resolve(["--api-client-operations", "100", "--api-client-operations-burst", "1000",
                                       "--api-operations", "200", "--api-operations-burst=2000"]).controller.apiWork
        #expect(raised.clientOperationsPerSecond == 100 && raised.clientOperationsBurst == 1000)
        #expect(raised.totalOperationsPerSecond == 200 && raised.totalOperationsBurst == 2000)
        let fromEnvironment = try Self.resolve([], environment: ["SEALED_SECRETS_API_OPERATIONS": "8"]).controller.apiWork
        #expect(fromEnvironment.totalOperationsPerSecond == 8)
    }

    @Test("bad values are refused with the flag's name", arguments: [
        (["--listen-addr", "8080"], "--listen-addr"), (["--key-renew-period", "30d"], "--key-renew-period"),
        (["--key-cutoff-time", "yesterday"], "--key-cutoff-time"), (["--key-prefix", "Bad_Prefix"], "--key-prefix"),
        (["--key-size", "1024"], "--key-size"), (["--namespace", "No Such"], "namespace"), (["--rate-limit", "0"], "--rate-limit"),
        (["--log-level", "loud"], "--log-level"), (["--additional-namespaces", "ok,BAD"], "namespace"),
        (["--key-order-priority", "Newest"], "--key-order-priority"), (["--privatekey-labels", "team"], "--privatekey-labels"),
        (["--privatekey-labels", "bad key=x"], "--privatekey-labels"), (["--privatekey-labels", "team=-x"], "--privatekey-labels"),
        (["--privatekey-annotations", "=x"], "--privatekey-annotations"), (["--label-selector", "tier within (a,b)"], "--label-selector"),
        (["--log-format", "xml"], "--log-format"), (["--max-unseal-retries=-1"], "--max-unseal-retries"),
        (["--kubeclient-qps", "0"], "--kubeclient-qps"), (["--kubeclient-burst", "3"], "--kubeclient-burst"),
        (["--kubeclient-qps", "5", "--kubeclient-burst", "0"], "--kubeclient-burst"),
        (["--leader-elect", "--leader-elect-renew-deadline", "20s"], "must be longer than the renew deadline"),
        (["--leader-elect", "--leader-elect-retry-period", "9s"], "1.2 × the retry period"),
        (["--leader-elect", "--leader-elect-lease-duration", "soon"], "--leader-elect-lease-duration"),
        (["--leader-elect", "--leader-elect-resource-name", "No Lease"], "--leader-elect-resource-name"),
        (["--leader-elect", "--watch-for-secrets=false"], "--leader-elect needs --watch-for-secrets"),
        (["--api-client-operations", "0"], "--api-client-operations must be a positive number"),
        (["--api-operations", "nan"], "--api-operations must be a positive number"),
        (["--api-client-operations-burst", "100"], "--api-client-operations-burst must be at least 256"),
        (["--api-operations-burst", "inf"], "--api-operations-burst must be at least 256"),
    ])
    func badValues(arguments: [String], expected: String) {
        #expect {
            try Self.resolve(arguments)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("the process: serves, makes a new key on SIGUSR1, then exits 0 on SIGTERM after a graceful shutdown; a bad flag exits 64 with one line")
    func process() async throws {
        let cluster = await DevCluster(settings: .init())
        try await cluster.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try cluster.kubeconfig().write(to: kubeconfig, atomically: true, encoding: .utf8)

        let bad = try TestProcess.run(Repository.executable("cachet-controller"), ["run", "--kubeconfig", kubeconfig.path, "--key-size", "1000"])
        #expect(bad.status == 64)
        #expect(bad.error.split(separator: "\n").count == 1 && bad.error.contains("--key-size"), "\(bad.error)")

        // Below Linux's ephemeral range (32768–60999), so that no outgoing connection of a parallel test holds it.
        let port = Int.random(in: 20_000..<32_000)
        let process = Process()
        process.executableURL = Repository.executable("cachet-controller")
        process.arguments = ["run", "--kubeconfig", kubeconfig.path, "--listen-addr", "127.0.0.1:\(port)",
                             "--listen-metrics-addr", "127.0.0.1:\(port + 1)", "--key-size", "2048", "--log-format", "json"]
        process.environment = ["POD_NAMESPACE": "kube-system", "PATH": "/usr/bin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let client = try KubeClient(config: cluster.clientConfig())
        // Whatever fails below, the controller, the client and the API server are stopped before the test ends.
        try await withCleanUp {
            try await eventually("cert.pem") {
                // A process that exited (a port taken after all) is reported with its log, not waited for.
                guard process.isRunning else {
                    let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    Issue.record("the controller exited with \(process.terminationStatus): \(log)")
                    return true
                }
                return (try? await ControllerHarness.request("http://127.0.0.1:\(port)/v1/cert.pem"))?.status == 200
            }
            // SIGUSR1: Bitnami's manual rotation, a second key Secret.
            kill(process.processIdentifier, SIGUSR1)
            try await eventually("a second key after SIGUSR1") {
                guard process.isRunning else { return true }
                let keys = try? await client.listAll(.secrets, namespace: "kube-system", labelSelector: "\(KeyManager.keyLabel)=active")
                return keys?.items.count == 2
            }
            #expect(process.isRunning, "SIGUSR1 ended the process")
            process.terminate()  // SIGTERM
            process.waitUntilExit()
        } cleanUp: {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? await client.shutdown()
            await cluster.shutdown()
        }
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(log)")
        // --log-format json: every line one object with slog's fields.
        let lines = try log.split(separator: "\n").map { try ManifestValue(json: Array($0.utf8)) }
        #expect(!lines.isEmpty && lines.allSatisfy { $0["time"]?.stringValue?.hasSuffix("Z") == true && $0["level"] != nil && $0["msg"] != nil }, "\(log)")
        #expect(lines.contains { $0["msg"]?.stringValue == "stopped" && $0["level"]?.stringValue == "INFO" })
    }

    @Test("the process through an exec credential plugin (--context picks the plugin's context): keys load with its token")
    func processWithExecPlugin() async throws {
        let plugin = try CredentialPlugin()
        var settings = DevCluster.Settings(bearerToken: "harness-token", tls: try DevCluster.TLSMaterial.generate())
        settings.bearerTokenFile = plugin.accepted
        let cluster = await DevCluster(settings: settings)
        try await cluster.start()
        let kubeconfig = try TemporaryFile(plugin.kubeconfig(server: cluster.url, certificateAuthority: settings.tls?.certificateAuthorityPEM))
        let port = Int.random(in: 20_000..<32_000)
        let process = Process()
        process.executableURL = Repository.executable("cachet-controller")
        process.arguments = ["run", "--kubeconfig", kubeconfig.path, "--context", "plugin", "--listen-addr", "127.0.0.1:\(port)",
                             "--listen-metrics-addr", "127.0.0.1:\(port + 1)", "--key-size", "2048"]
        process.environment = ["POD_NAMESPACE": "kube-system", "PATH": "/usr/bin:/bin"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try await withCleanUp {
            try await eventually("cert.pem") {
                guard process.isRunning else { Issue.record("the controller exited"); return true }
                return (try? await ControllerHarness.request("http://127.0.0.1:\(port)/v1/cert.pem"))?.status == 200
            }
            #expect(plugin.runs >= 1)
        } cleanUp: {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            await cluster.shutdown()
        }
        #expect(process.terminationStatus == 0)
    }

    /// The reconciler polled for keys without noticing shutdown: against an API server that never answered, the
    /// controller was still running 15 s after SIGTERM. A server that accepts connections and says nothing, and no
    /// server at all, must both end in a prompt exit 0.
    @Test("SIGTERM while the keys cannot be loaded (and, with --leader-elect, the Lease not taken): a prompt, clean exit",
          arguments: [true, false], [false, true])
    func shutdownWhileLoadingKeys(blackHole: Bool, leaderElect: Bool) async throws {
        // Listening but never accepting: connections complete and no answer ever comes. Without listen, refused.
        let (listener, apiPort) = try #require(LoopbackSockets.bind(listening: blackHole))
        defer { close(listener) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:\(apiPort)"}}]
            users: [{name: u, user: {}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """.write(to: kubeconfig, atomically: true, encoding: .utf8)
        let port = Int.random(in: 20_000..<32_000)
        let process = Process()
        process.executableURL = Repository.executable("cachet-controller")
        process.arguments = ["run", "--kubeconfig", kubeconfig.path, "--listen-addr", "127.0.0.1:\(port)",
                             "--listen-metrics-addr", "127.0.0.1:\(port + 1)", "--key-size", "2048"] + (leaderElect ? ["--leader-elect"] : [])
        process.environment = ["POD_NAMESPACE": "kube-system", "PATH": "/usr/bin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try await Task.sleep(for: .seconds(2))  // into the key-loading state (a request pending, or a retry's pause)
        #expect(process.isRunning)
        kill(process.processIdentifier, SIGTERM)
        var waited = 0
        while process.isRunning, waited < 100 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(waited < 100, "still running 10 s after SIGTERM: \(log)")
        #expect(process.terminationStatus == 0, "\(log)")
    }

    /// Help on stdout with exit 0 would land in a pipeline's output as if it were manifests.
    @Test("no subcommand: exit 64, nothing on stdout")
    func noSubcommand() throws {
        let result = try TestProcess.run(Repository.executable("cachet-controller"), [])
        #expect(result.status == 64 && result.output.isEmpty)
        #expect(result.error.hasPrefix("cachet-controller: error: name a command"), "\(result.error)")
    }
}
