#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetDevCluster
import CachetManifests
import Dispatch

/// `cachet-controller dev-cluster`: the strict stand-in API server, on its own, for the one-machine demo.
struct DevClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-cluster",
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

    func run() async throws {
        var settings = DevCluster.Settings()
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
        Diagnostics.write("cachet-controller: dev cluster serving \(cluster.url)" + (kubeconfig.map { "; kubeconfig in \($0)" } ?? ""))
        await Self.waitForTermination()
        await cluster.shutdown()
    }

    private func writeKubeconfig(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        fchmod(descriptor, 0o600)
        try Array(text.utf8).withUnsafeBytes { try SecretFiles.write($0, to: descriptor) }
    }

    /// Suspends until SIGINT or SIGTERM.
    static func waitForTermination() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
        sources.forEach { $0.cancel() }
    }
}
