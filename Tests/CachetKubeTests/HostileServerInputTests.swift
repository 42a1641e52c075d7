import CachetDevCluster
@testable import CachetKube
import CachetKubeConfig
import CachetTestSupport
import Foundation
import Testing

/// Values from files and servers the client cannot vouch for, found by the audit of trapping code paths.
struct HostileServerInputTests {
    /// The token file's mtime was folded into nanoseconds in an `Int`: a date after 2262 overflowed and crashed the
    /// controller on its first request.
    @Test("a token file dated in the year 2300 is read, not crashed on")
    func farFutureTokenFile() async throws {
        try await Harness.with(settings: .init(bearerToken: "t0ken")) { harness in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-token-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let token = directory.appendingPathComponent("token")
            try Data("t0ken\n".utf8).write(to: token)
            let touch = Process()
            touch.executableURL = URL(fileURLWithPath: "/usr/bin/touch")
            touch.arguments = ["-d", "2300-01-01", token.path]
            try touch.run()
            touch.waitUntilExit()
            var config = harness.cluster.clientConfig()
            config.credentials = .bearerTokenFile(token.path)
            let client = try KubeClient(config: config)
            try await withCleanUp {
                _ = try await client.get(.namespaces, name: "default")
            } cleanUp: {
                try? await client.shutdown()
            }
        }
    }

    @Test("Retry-After is clamped to 0 s … 1 day")
    func retryAfter() {
        #expect(KubeClient.retryAfter("-5") == 0)
        #expect(KubeClient.retryAfter("-9223372036854775808") == 0)
        #expect(KubeClient.retryAfter("9223372036854775807") == 86_400)
        #expect(KubeClient.retryAfter("3") == 3)
        #expect(KubeClient.retryAfter(nil) == nil && KubeClient.retryAfter("soon") == nil)
    }
}
