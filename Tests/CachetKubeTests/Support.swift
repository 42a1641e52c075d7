import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing

/// A dev cluster and a client for one test; both are shut down by `close()` (``with(settings:retry:_:)`` does it).
struct Harness {
    let cluster: DevCluster
    let client: KubeClient

    static func start(settings: DevCluster.Settings = .init(), retry: KubeClient.RetryPolicy = .init(maxDelay: .seconds(2), baseDelay: .milliseconds(20))) async throws -> Harness {
        var settings = settings
        settings.bookmarkInterval = .milliseconds(200)
        let cluster = await DevCluster(settings: settings)
        try await cluster.start()
        do {
            return Harness(cluster: cluster, client: try KubeClient(config: cluster.clientConfig(), retry: retry))
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    func close() async {
        try? await client.shutdown()
        await cluster.shutdown()
    }

    /// Runs `body` with a started harness, and closes it when `body` ends, whether it returned or threw.
    static func with<Result>(
        settings: DevCluster.Settings = .init(), retry: KubeClient.RetryPolicy = .init(maxDelay: .seconds(2), baseDelay: .milliseconds(20)),
        _ body: (Harness) async throws -> Result
    ) async throws -> Result {
        let harness = try await start(settings: settings, retry: retry)
        return try await withCleanUp { try await body(harness) } cleanUp: { await harness.close() }
    }
}

extension ManifestValue {
    static func configMap(_ name: String, namespace: String = "default", labels: [String: String] = [:], data: [String: String] = [:]) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = [("name", .string(name)), ("namespace", .string(namespace))]
        if !labels.isEmpty { metadata.append(("labels", .stringMap(labels))) }
        return .object([("apiVersion", .string("v1")), ("kind", .string("ConfigMap")), ("metadata", .object(metadata)),
                        ("data", .stringMap(data))])
    }

    var name: String? { string(at: ["metadata", "name"]) }
    var resourceVersion: String? { string(at: ["metadata", "resourceVersion"]) }
}

/// Expects a KubeError with `code` from `body`.
func expectKubeError(_ code: KubeError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch let error as KubeError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a KubeError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

enum Kubectl {
    /// Runs the real kubectl against a kubeconfig, with nothing of the test process's environment.
    static func run(_ arguments: [String], kubeconfig: String, stdin: String = "") async throws -> ProcessResult {
        try await TestProcess.runOffPool(Repository.kubectl!, arguments, stdin: Data(stdin.utf8),
                            environment: .exactly(["KUBECONFIG": kubeconfig, "HOME": NSTemporaryDirectory(), "PATH": "/usr/bin:/bin"]))
    }
}
