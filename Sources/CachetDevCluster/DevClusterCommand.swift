#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
import Logging
import ServiceLifecycle

/// The whole of `cachet-dev-cluster`'s `main`: parse, serve until SIGINT or SIGTERM, and report failures as
/// `cachet-dev-cluster: error: …`.
package enum DevClusterMain {
    package static func run(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        await Program.run(DevClusterCommand.self, program: "cachet-dev-cluster", arguments: arguments)
    }
}

/// `cachet-dev-cluster`: the strict stand-in API server, on its own, for the one-machine demo. Not part of the
/// product: the controller and the CLI never link it.
struct DevClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachet-dev-cluster",
        abstract: "Serve a development Kubernetes API on 127.0.0.1 (not a real cluster: see docs/controller.md).",
        discussion: """
            Holds Namespaces, Secrets, ConfigMaps, Services, Events, ServiceAccounts, Leases, CRDs and SealedSecrets \
            in memory, with resourceVersions, watches, patches, the status subresource and garbage collection, and \
            answers kubectl as a cluster would. Runs until interrupted (SIGINT or SIGTERM); state is not kept.
            """
    )

    @Option(help: "The port to listen on (127.0.0.1 only).")
    var port: Int = 6443

    @Option(name: .customLong("write-kubeconfig"), help: "Write a kubeconfig for kubectl and the controller to this file (mode 0600).")
    var kubeconfig: String?

    @Flag(help: "Serve HTTPS with a freshly generated CA (written into the kubeconfig), and require a bearer token.")
    var secure = false

    @Option(name: .customLong("token-file"),
            help: "Require a bearer token listed in this file (one per line, read again on every request); off by default.")
    var tokenFile: String?

    func run() async throws {
        var settings = DevCluster.Settings()
        settings.bearerTokenFile = tokenFile
        if secure {
            settings.tls = try DevCluster.TLSMaterial.generate()
            // SystemRandomNumberGenerator draws from getrandom(2): fine for a token.
            settings.bearerToken = String((0..<32).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        }
        let cluster = await DevCluster(settings: settings)
        try await cluster.start(port: port)
        if let kubeconfig {
            try writeKubeconfig(cluster.kubeconfig(), to: kubeconfig)
        }
        StandardError.write("cachet-dev-cluster: serving \(cluster.url)" + (kubeconfig.map { "; kubeconfig in \($0)" } ?? ""))
        var logger = Logger(label: "cachet-dev-cluster")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: [cluster], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    private func writeKubeconfig(_ text: String, to path: String) throws {
        // The kubeconfig holds the bearer token and the client key: created 0600, never wider.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        fchmod(descriptor, 0o600)
        try Array(text.utf8).withUnsafeBytes { try SecretFiles.write($0, to: descriptor) }
    }
}
