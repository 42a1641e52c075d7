import CachetDevCluster
import CachetKube
import CachetManifests
import Foundation
import Testing

/// A dev cluster and a client for one test; both are shut down by `close()`.
struct Harness {
    let cluster: DevCluster
    let client: KubeClient

    static func start(settings: DevCluster.Settings = .init(), retry: KubeClient.RetryPolicy = .init(maxDelay: .seconds(2), baseDelay: .milliseconds(20))) async throws -> Harness {
        var settings = settings
        settings.bookmarkInterval = .milliseconds(200)
        let cluster = await DevCluster(settings: settings)
        try await cluster.start()
        return Harness(cluster: cluster, client: try KubeClient(config: cluster.clientConfig(), retry: retry))
    }

    func close() async {
        try? await client.shutdown()
        await cluster.shutdown()
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
    static let path = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Result {
        let status: Int32
        let output: String
        let error: String
    }

    /// Runs kubectl against a kubeconfig.
    static func run(_ arguments: [String], kubeconfig: String, stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path!)
        process.arguments = arguments
        process.environment = ["KUBECONFIG": kubeconfig, "HOME": NSTemporaryDirectory(), "PATH": "/usr/bin:/bin"]
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        if let stdin { try input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                      error: String(decoding: errorData, as: UTF8.self))
    }
}

/// A temporary file removed when the owner goes away.
final class TemporaryFile: Sendable {
    let path: String
    init(_ contents: String, name: String = UUID().uuidString, mode: Int = 0o600) throws {
        path = NSTemporaryDirectory() + "cachet-\(name)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: mode])
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
