#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKube
import CachetKubeSyntax
import CachetManifests
import CachetProgram
import FoundationEssentials
import Logging

/// `cachet-controller run`: the in-cluster controller, a drop-in for Bitnami's (same flags where they exist, same
/// defaults, and every flag also read from `SEALED_SECRETS_<FLAG>` when not given).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Reconcile SealedSecrets into Secrets, own the sealing keys, and serve the HTTP API and metrics.",
        discussion: """
            Every option can also be set from the environment: --listen-addr from SEALED_SECRETS_LISTEN_ADDR, and so on \
            (the flag wins). Boolean options take Go's forms: --update-status, --update-status=false. \
            SIGTERM or SIGINT shuts down gracefully; SIGUSR1 generates a new sealing key at once.
            """
    )

    @Option(help: "Kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the pod's service account).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use (default: its current context).")
    var context: String?

    @Option(help: "The controller's namespace, where the key Secrets live (default: POD_NAMESPACE, then the service account's namespace, then \"default\").")
    var namespace: String?

    @Option(help: "Address of the HTTP API (default: :8080).")
    var listenAddr: String?

    @Option(help: "Address of /metrics (default: :8081).")
    var listenMetricsAddr: String?

    @Option(help: "Name prefix of generated key Secrets (default: sealed-secrets-key).")
    var keyPrefix: String?

    @Option(help: "Size of generated RSA keys in bits (default: 4096).")
    var keySize: Int?

    @Option(help: "Validity of generated certificates, as a Go duration (default: 87600h).")
    var keyTtl: String?

    @Option(help: "Generate a new key this often, as a Go duration; 0 disables (default: 720h).")
    var keyRenewPeriod: String?

    @Option(help: "Generate a new key at start-up if the newest is older than this RFC 1123Z time (`date -R`).")
    var keyCutoffTime: String?

    @Option(help: "Which key seals: CertNotBefore (the newest certificate) or SecretCreationTimestamp (the key Secret created last) (default: CertNotBefore).")
    var keyOrderPriority: String?

    @Option(help: "Common name for the subject and issuer of generated certificates (default: empty, as Bitnami's).")
    var myCn: String?

    @Option(help: "Labels for generated key Secrets, as comma-separated key=value pairs.")
    var privatekeyLabels: String?

    @Option(help: "Annotations for generated key Secrets, as comma-separated key=value pairs.")
    var privatekeyAnnotations: String?

    @Option(help: "Pick up key Secrets added by others without a restart (default: true).")
    var watchForSecrets: Bool?

    @Flag(help: "Make a first sealing key even when SealedSecrets exist and no key does (they will not open with it); without it, start-up waits for the keys to be restored.")
    var forceNewKey = false

    @Option(help: "Watch SealedSecrets in every namespace (default: true).")
    var allNamespaces: Bool?

    @Option(help: "Comma-separated namespaces to watch besides the controller's own; switches off --all-namespaces.")
    var additionalNamespaces: String?

    @Option(help: "Reconcile only SealedSecrets matching this label selector (default: all).")
    var labelSelector: String?

    @Option(help: "Do not watch the Secrets the controller wrote, so a deleted one is recreated only at the next change or resync; for installations that may not watch Secrets (default: false).")
    var skipRecreate: Bool?

    @Option(help: "Retries of a failing SealedSecret before it waits for its next change, a new key or the resync (default: retry forever, with backoff up to 5 minutes).")
    var maxUnsealRetries: Int?

    @Option(help: "API requests a second, client-side (default: no limit of its own; the API server's priority and fairness applies).")
    var kubeclientQps: Double?

    @Option(help: "Burst of API requests above --kubeclient-qps (default: 10 when --kubeclient-qps is given).")
    var kubeclientBurst: Int?

    @Option(help: "Reconcile this many objects at once (default: twice the number of cores, so that decryption overlaps API round trips).")
    var workers: Int?

    @Option(help: "Requests per second per client to /v1/verify and /v1/rotate (default: 2).")
    var rateLimit: Double?

    @Option(help: "Burst of requests per client to /v1/verify and /v1/rotate (default: 2).")
    var rateLimitBurst: Double?

    @Option(help: "Private-key operations a second that one client's /v1/verify and /v1/rotate requests may cause (default: 16).")
    var apiClientOperations: Double?

    @Option(help: "Burst of such operations per client, at least 256, the items one request may carry (default: 256).")
    var apiClientOperationsBurst: Double?

    @Option(help: "Private-key operations a second that all clients' /v1/verify and /v1/rotate requests together may cause (default: 64).")
    var apiOperations: Double?

    @Option(help: "Burst of such operations for all clients together, at least 256 (default: 512).")
    var apiOperationsBurst: Double?

    @Option(help: "Write the Synced condition and observedGeneration to each SealedSecret (default: true).")
    var updateStatus: Bool?

    @Option(help: "Reconcile every SealedSecret again this often, as a Go duration (default: 10m).")
    var resyncPeriod: String?

    @Option(help: "Run as one of several replicas: only the holder of a Lease reconciles and makes keys (default: false, as Bitnami's; deploy/ turns it on).")
    var leaderElect: Bool?

    @Option(help: "How long a Lease holds without renewal, as a Go duration (default: 15s, client-go's).")
    var leaderElectLeaseDuration: String?

    @Option(help: "How long the leader keeps trying to renew before it stops, as a Go duration (default: 10s).")
    var leaderElectRenewDeadline: String?

    @Option(help: "How often candidates try to take, and the leader to renew, the Lease, as a Go duration (default: 2s).")
    var leaderElectRetryPeriod: String?

    @Option(help: "Name of the Lease in the controller's namespace (default: cachet-controller).")
    var leaderElectResourceName: String?

    @Option(name: .customLong("web-ui"), help: "Serve the sealing page at / (it seals in the browser; values never reach the controller) (default: true).")
    var webUI: Bool?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info).")
    var logLevel: String?

    @Option(help: "Log format: text, or json (one object per line) (default: text).")
    var logFormat: String?

    @Option(help: "Log messages below warning to stdout, warnings and errors to stderr (default: false: everything to stderr).")
    var logInfoStdout: Bool?

    /// Options that take a boolean, so that Go's bare `--update-status` can be read as `--update-status=true`.
    static let booleanOptions: Set<String> = [
        "--all-namespaces", "--update-status", "--skip-recreate", "--watch-for-secrets", "--log-info-stdout", "--leader-elect",
        "--web-ui",
    ]

    /// Rewrites a bare boolean option (no value follows) into `--option=true`, as Go's flag package reads it.
    static func normalizingBooleans(_ arguments: [String]) -> [String] {
        GoFlags.normalizingBooleans(arguments, booleans: booleanOptions)
    }

    func run() async throws {
        let environment = KubeConfig.currentEnvironment()
        let settings = try resolve(environment: environment)
        let json = settings.logFormat == .json, split = settings.logInfoToStdout
        var logger = Logger(label: "cachet-controller") { label -> any LogHandler in
            let problems: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            guard split else { return problems }
            let routine: any LogHandler = json ? JSONLogHandler(label: label, descriptor: 1) : StreamLogHandler.standardOutput(label: label)
            return SplitLogHandler(routine: routine, problems: problems)
        }
        logger.logLevel = settings.logLevel
        let config = try KubeConfig.resolve(kubeconfig: value(kubeconfig, "kubeconfig", environment),
                                            context: value(context, "context", environment), environment: environment)
        let client = try KubeClient(config: config, requestRate: settings.requestRate, environment: environment)
        let controller = Controller(client: client, settings: settings.controller, logger: logger)
        logger.info("starting", metadata: [
            "namespace": "\(settings.controller.keys.namespace)", "server": "\(config.server)",
            "watching": "\(settings.controller.reconciler.namespaces?.joined(separator: ",") ?? "all namespaces")",
        ])
        do {
            try await controller.run(signals: [.sigterm, .sigint], renewalSignals: [.sigusr1])
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        logger.info("stopped")
    }

    struct Resolved {
        var controller: Controller.Settings
        var logLevel: Logger.Level
        var logFormat: LogFormat
        var logInfoToStdout: Bool
        var requestRate: TokenBucket?
    }

    enum LogFormat: String { case text, json }

    /// Flags, then `SEALED_SECRETS_*`, then Bitnami's defaults; every bad value is named.
    func resolve(environment: [String: String]) throws -> Resolved {
        func text(_ given: String?, _ flag: String) -> String? { value(given, flag, environment) }
        func number<T: LosslessStringConvertible>(_ given: T?, _ flag: String) throws -> T? {
            if let given { return given }
            guard let raw = text(nil, flag) else { return nil }
            guard let parsed = T(raw) else { throw CommandFailure.usage("SEALED_SECRETS_\(Self.variable(flag)): not a number: \(raw)") }
            return parsed
        }
        func duration(_ given: String?, _ flag: String, default fallback: Duration) throws -> Duration {
            guard let raw = text(given, flag) else { return fallback }
            guard let parsed = GoDuration.parse(raw) else {
                throw CommandFailure.usage("--\(flag): not a duration (like 720h, 10m, 30s): \(raw)")
            }
            return parsed
        }
        func address(_ given: String?, _ flag: String, default fallback: String) throws -> Controller.ListenAddress {
            let raw = text(given, flag) ?? fallback
            guard let parsed = Controller.ListenAddress(raw) else { throw CommandFailure.usage("--\(flag): not HOST:PORT: \(raw)") }
            return parsed
        }

        let namespace = text(namespace, "namespace") ?? environment["POD_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.serviceAccountNamespace() ?? "default"
        try Self.checkNamespace(namespace, flag: "--namespace")
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let workers = try number(workers, "workers") ?? max(2, 2 * cores)
        guard workers >= 1 else { throw CommandFailure.usage("--workers: must be at least 1") }
        var settings = Controller.Settings(namespace: namespace, workers: workers)
        settings.listen = try address(listenAddr, "listen-addr", default: ":8080")
        settings.listenMetrics = try address(listenMetricsAddr, "listen-metrics-addr", default: ":8081")

        settings.keys.keyPrefix = text(keyPrefix, "key-prefix") ?? "sealed-secrets-key"
        // So that generated names are valid Secret names.
        guard KubeSyntax.isGenerateNamePrefix(settings.keys.keyPrefix) else {
            throw CommandFailure.usage("--key-prefix: use 1 to 245 of a-z, 0-9 and -, starting with a letter or digit")
        }
        settings.keys.keyBits = try number(keySize, "key-size") ?? 4096
        guard [2048, 3072, 4096, 8192].contains(settings.keys.keyBits) else {
            throw CommandFailure.usage("--key-size: must be 2048, 3072, 4096 or 8192")
        }
        settings.keys.keyValidity = try duration(keyTtl, "key-ttl", default: .seconds(87600 * 3600))
        settings.keys.renewPeriod = try duration(keyRenewPeriod, "key-renew-period", default: .seconds(720 * 3600))
        if let raw = text(keyCutoffTime, "key-cutoff-time"), !raw.isEmpty {
            guard let cutoff = RFC1123Z.parse(raw) else {
                throw CommandFailure.usage("--key-cutoff-time: not an RFC 1123Z time like \"Mon, 02 Jan 2006 15:04:05 -0700\": \(raw)")
            }
            settings.keys.cutoff = cutoff
        }

        let order = text(keyOrderPriority, "key-order-priority") ?? KeyManager.KeyOrder.certificateNotBefore.rawValue
        guard let keyOrder = KeyManager.KeyOrder(rawValue: order) else {
            throw CommandFailure.usage("--key-order-priority: CertNotBefore or SecretCreationTimestamp, not \(order)")
        }
        settings.keys.order = keyOrder
        settings.keys.commonName = text(myCn, "my-cn").flatMap { $0.isEmpty ? nil : $0 }
        settings.keys.secretLabels = try Self.pairs(text(privatekeyLabels, "privatekey-labels"), flag: "--privatekey-labels", labels: true)
        settings.keys.secretAnnotations = try Self.pairs(text(privatekeyAnnotations, "privatekey-annotations"), flag: "--privatekey-annotations", labels: false)
        settings.keys.watchKeySecrets = try boolean(watchForSecrets, "watch-for-secrets", environment) ?? true
        settings.keys.forceNewKey = forceNewKey

        let additional = (text(additionalNamespaces, "additional-namespaces") ?? "").split(separator: ",")
            .map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
        for extra in additional { try Self.checkNamespace(extra, flag: "--additional-namespaces") }
        let everywhere = try boolean(allNamespaces, "all-namespaces", environment) ?? true
        // Bitnami's rule: additional namespaces switch off all-namespaces mode, and the own namespace is watched.
        settings.reconciler.namespaces = everywhere && additional.isEmpty ? nil : Array(Set([namespace] + additional)).sorted()
        settings.reconciler.updateStatus = try boolean(updateStatus, "update-status", environment) ?? true
        settings.reconciler.resyncPeriod = try duration(resyncPeriod, "resync-period", default: .seconds(600))
        guard settings.reconciler.resyncPeriod > .zero else { throw CommandFailure.usage("--resync-period: must be positive") }
        if let selector = text(labelSelector, "label-selector"), !selector.isEmpty {
            if let problem = KubeSyntax.labelSelectorProblem(selector) { throw CommandFailure.usage("--label-selector: \(problem)") }
            settings.reconciler.labelSelector = selector
        }
        settings.reconciler.recreateDeletedSecrets = !(try boolean(skipRecreate, "skip-recreate", environment) ?? false)
        if let retries = try number(maxUnsealRetries, "max-unseal-retries") {
            guard retries >= 0 else { throw CommandFailure.usage("--max-unseal-retries: must be 0 or more") }
            settings.reconciler.maxRetries = retries
        }

        if try boolean(leaderElect, "leader-elect", environment) ?? false {
            // The followers serve the keys the leader makes: they must see them arrive.
            guard settings.keys.watchKeySecrets else {
                throw CommandFailure.usage("--leader-elect needs --watch-for-secrets: the replicas that do not lead serve the keys the leader makes")
            }
            // Unique per process, as client-go's users make it: a restarted pod is a new candidate, never mistaken
            // for the holder it replaced.
            let pod = environment["POD_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.hostName()
            var election = LeaderElection.Settings(namespace: namespace, identity: pod + "_" + UUID().uuidString.lowercased())
            election.leaseName = text(leaderElectResourceName, "leader-elect-resource-name") ?? "cachet-controller"
            guard KubeSyntax.isDNSSubdomain(election.leaseName) else {
                throw CommandFailure.usage("--leader-elect-resource-name: not a valid object name: \(election.leaseName)")
            }
            election.leaseDuration = try duration(leaderElectLeaseDuration, "leader-elect-lease-duration", default: .seconds(15))
            election.renewDeadline = try duration(leaderElectRenewDeadline, "leader-elect-renew-deadline", default: .seconds(10))
            election.retryPeriod = try duration(leaderElectRetryPeriod, "leader-elect-retry-period", default: .seconds(2))
            do { try election.validate() } catch { throw CommandFailure.usage("--leader-elect: \(error)") }
            settings.leaderElection = election
        }

        settings.webUI = try boolean(webUI, "web-ui", environment) ?? true
        settings.rateLimit = try number(rateLimit, "rate-limit") ?? 2
        settings.rateLimitBurst = try number(rateLimitBurst, "rate-limit-burst") ?? 2
        guard settings.rateLimit > 0, settings.rateLimitBurst >= 1 else {
            throw CommandFailure.usage("--rate-limit must be positive and --rate-limit-burst at least 1")
        }
        // The work budgets of /v1/verify and /v1/rotate, in private-key operations (the cost an anonymous client can
        // impose): raised for fast online bulk re-encryption, lowered on a small controller. A burst below the items
        // one request may carry would refuse such a request for ever, so it is refused here instead.
        var work = settings.apiWork
        work.clientOperationsPerSecond = try number(apiClientOperations, "api-client-operations") ?? work.clientOperationsPerSecond
        work.clientOperationsBurst = try number(apiClientOperationsBurst, "api-client-operations-burst") ?? work.clientOperationsBurst
        work.totalOperationsPerSecond = try number(apiOperations, "api-operations") ?? work.totalOperationsPerSecond
        work.totalOperationsBurst = try number(apiOperationsBurst, "api-operations-burst") ?? work.totalOperationsBurst
        for (flag, rate) in [("api-client-operations", work.clientOperationsPerSecond), ("api-operations", work.totalOperationsPerSecond)]
        where !(rate.isFinite && rate > 0) {
            throw CommandFailure.usage("--\(flag) must be a positive number of operations a second, not \(rate)")
        }
        for (flag, burst) in [("api-client-operations-burst", work.clientOperationsBurst), ("api-operations-burst", work.totalOperationsBurst)]
        where !(burst.isFinite && burst >= Double(work.maxItems)) {
            throw CommandFailure.usage("--\(flag) must be at least \(work.maxItems), the items one request may carry, not \(burst)")
        }
        settings.apiWork = work
        let level = (text(logLevel, "log-level") ?? "info").lowercased()
        guard let logLevel = Logger.Level(rawValue: level == "warn" ? "warning" : level) else {
            throw CommandFailure.usage("--log-level: one of trace, debug, info, notice, warning, error, critical")
        }
        let format = (text(logFormat, "log-format") ?? "text").lowercased()
        guard let logFormat = LogFormat(rawValue: format) else { throw CommandFailure.usage("--log-format: text or json, not \(format)") }
        let logInfoToStdout = try boolean(logInfoStdout, "log-info-stdout", environment) ?? false
        var requestRate: TokenBucket?
        let qps: Double? = try number(kubeclientQps, "kubeclient-qps")
        let burst: Int? = try number(kubeclientBurst, "kubeclient-burst")
        if let qps {
            guard qps > 0, qps.isFinite else { throw CommandFailure.usage("--kubeclient-qps: must be positive") }
            let burst = burst ?? 10
            guard burst >= 1 else { throw CommandFailure.usage("--kubeclient-burst: must be at least 1") }
            requestRate = TokenBucket(rate: qps, burst: Double(burst))
        } else if burst != nil {
            throw CommandFailure.usage("--kubeclient-burst: needs --kubeclient-qps")
        }
        return Resolved(controller: settings, logLevel: logLevel, logFormat: logFormat, logInfoToStdout: logInfoToStdout,
                        requestRate: requestRate)
    }

    /// Bitnami's `k=v,k2=v2` lists. Label keys and values are checked as the API server would, so that a bad one
    /// fails here and not at the first key generation.
    static func pairs(_ text: String?, flag: String, labels: Bool) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in (text ?? "").split(separator: ",") where !entry.allSatisfy(\.isWhitespace) {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else { throw CommandFailure.usage("\(flag): not key=value: \(entry)") }
            if labels, let problem = KubeSyntax.labelProblem(key: parts[0], value: parts[1]) { throw CommandFailure.usage("\(flag): \(problem)") }
            result[parts[0]] = parts[1]
        }
        return result
    }

    private func boolean(_ given: Bool?, _ flag: String, _ environment: [String: String]) throws -> Bool? {
        if let given { return given }
        guard let raw = value(nil, flag, environment) else { return nil }
        guard let parsed = GoFlags.boolean(raw) else {
            throw CommandFailure.usage("SEALED_SECRETS_\(Self.variable(flag)): not true or false: \(raw)")
        }
        return parsed
    }

    /// The flag's value, else its `SEALED_SECRETS_` variable (an empty variable counts as unset).
    private func value(_ given: String?, _ flag: String, _ environment: [String: String]) -> String? {
        if let given { return given }
        guard let raw = environment["SEALED_SECRETS_" + Self.variable(flag)], !raw.isEmpty else { return nil }
        return raw
    }

    static func checkNamespace(_ namespace: String, flag: String) throws {
        do {
            try SealingScope.validateNamespace(namespace)
        } catch let error as CachetCryptoError {
            throw CommandFailure.usage("\(flag): \(error.message)")
        }
    }

    static func variable(_ flag: String) -> String {
        String(GoFlags.variable(prefix: "", flag: flag).dropFirst())
    }

    /// The pod's name, as a pod sees its hostname (client-go's users take the same default).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "cachet-controller" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "cachet-controller" : name
    }

    static func serviceAccountNamespace() -> String? {
        guard let bytes = try? SecretFiles.read("/var/run/secrets/kubernetes.io/serviceaccount/namespace") else { return nil }
        let text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.filter { !$0.isWhitespace }
        return text.isEmpty ? nil : text
    }
}

/// Go's `time.ParseDuration` for the units a controller flag uses: `720h`, `1h30m`, `90s`, `500ms`, `0`.
enum GoDuration {
    static func parse(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var rest = Substring(text)
        var total = 0.0
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("h", 3600), ("m", 60), ("s", 1)]
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let amount = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += amount * scale
        }
        guard total.isFinite, total < 1e12 else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
    }
}

/// Go's `time.RFC1123Z`, which `date -R` prints: `Mon, 02 Jan 2006 15:04:05 -0700`.
enum RFC1123Z {
    static func parse(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","),
              let day = Int(parts[1]), (1...31).contains(day),
              let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), (1970...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        let zone = parts[5]
        guard clock.count == 3, clock[0] < 24, clock[1] < 60, clock[2] < 61, zone.count == 5,
              zone.first == "+" || zone.first == "-", let offset = Int(zone.dropFirst())
        else { return nil }
        var fields = tm()
        fields.tm_year = Int32(year - 1900)
        fields.tm_mon = Int32(month)
        fields.tm_mday = Int32(day)
        fields.tm_hour = Int32(clock[0])
        fields.tm_min = Int32(clock[1])
        fields.tm_sec = Int32(clock[2])
        let seconds = timegm(&fields)
        let zoneSeconds = (offset / 100 * 3600 + offset % 100 * 60) * (zone.first == "-" ? -1 : 1)
        return Date(timeIntervalSince1970: Double(Int(seconds) - zoneSeconds))
    }
}
