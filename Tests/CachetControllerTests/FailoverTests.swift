import CachetController
import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing

/// Two `cachet-controller run --leader-elect` processes on one dev API server: the leader killed (SIGKILL, no
/// release) with SealedSecrets pending, then the new leader stopped with SIGTERM (a release). Every Secret arrives,
/// once, with its value. The figures (takeover and convergence times) are printed for the closing notes; the test
/// asserts only the outcome.
@Suite("failover: controller processes with leader election")
struct FailoverTests {
    /// Shorter than client-go's defaults (15 s, 10 s, 2 s), so that the test is quick, with a renew deadline that a
    /// machine busy with the whole parallel suite (two cores) still meets.
    static let timing = ["--leader-elect-lease-duration", "8s", "--leader-elect-renew-deadline", "6s", "--leader-elect-retry-period", "500ms"]
    static let count = 1_000

    final class Replica {
        let name: String
        let process = Process()
        let log: URL

        init(name: String, kubeconfig: String, directory: URL) throws {
            self.name = name
            log = directory.appendingPathComponent("\(name).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = Repository.executable("cachet-controller")
            process.arguments = ["run", "--kubeconfig", kubeconfig, "--leader-elect", "--listen-addr", "127.0.0.1:0",
                                 "--listen-metrics-addr", "127.0.0.1:0", "--key-renew-period", "0", "--resync-period", "1m"] + FailoverTests.timing
            process.environment = ["POD_NAMESPACE": "kube-system", "POD_NAME": name, "PATH": "/usr/bin:/bin"]
            let handle = try FileHandle(forWritingTo: log)
            process.standardError = handle
            process.standardOutput = handle
            try process.run()
        }

        var text: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func kill(_ signal: Int32) {
            if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        }
    }

    static func holder(_ client: KubeClient) async -> String? {
        let lease = try? await client.get(.leases, name: "cachet-controller", namespace: "kube-system")
        return lease?.string(at: ["spec", "holderIdentity"]).flatMap { $0.isEmpty ? nil : String($0.prefix { $0 != "_" }) }
    }

    /// Secrets in team-a holding the right value, by name.
    static func converged(_ client: KubeClient) async throws -> Int {
        let secrets = try await client.listAll(.secrets, namespace: "team-a").items
        return secrets.filter { ControllerHarness.data($0)["password"] == Support.canary }.count
    }

    @Test("SIGKILL of the leader with 1,000 SealedSecrets pending, then SIGTERM of the next: each handover converges, nothing lost or doubled",
          .timeLimit(.minutes(3)))
    func killAndTerminate() async throws {
        let cluster = await DevCluster(settings: .init())
        try await cluster.start()
        let directory = try TemporaryDirectory()
        let kubeconfig = try directory.write("kubeconfig", cluster.kubeconfig())
        let client = try KubeClient(config: cluster.clientConfig())
        var replicas: [Replica] = []
        try await withCleanUp {
            _ = try await client.create(.secrets, ControllerHarness.keySecret(name: "sealed-secrets-keyfixture"), namespace: "kube-system")
            _ = try await client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                              ("metadata", .object([("name", .string("team-a"))]))]))
            let first = try Replica(name: "first", kubeconfig: kubeconfig, directory: directory.url)
            replicas.append(first)
            try await eventually("the first process leads") { await Self.holder(client) == "first" }
            let second = try Replica(name: "second", kubeconfig: kubeconfig, directory: directory.url)
            replicas.append(second)
            try await eventually("the second process has loaded the key") { second.text.contains("waiting to become the leader") && second.text.contains("listening") }

            // 1,000 SealedSecrets, then the leader dies without a word while most are pending.
            let objects = try (0..<Self.count).map { try ControllerHarness.sealed("s\($0)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slice in stride(from: 0, to: objects.count, by: 100) {
                    group.addTask {
                        for object in objects[slice..<min(slice + 100, objects.count)] {
                            _ = try await client.create(.sealedSecrets, object, namespace: "team-a")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let killed = ContinuousClock.now
            first.kill(SIGKILL)
            first.process.waitUntilExit()
            let pendingAtKill = Self.count - (try await Self.converged(client))
            try await eventually("the second process takes over", timeout: .seconds(30)) { await Self.holder(client) == "second" }
            let takeover = ContinuousClock.now - killed
            do {
                try await eventually("every Secret after the SIGKILL", timeout: .seconds(90)) { try await Self.converged(client) == Self.count }
            } catch {
                Issue.record("the second process's log ends with: \(second.text.suffix(3000))")
                throw error
            }
            let convergence = ContinuousClock.now - killed
            print("failover: SIGKILL with \(pendingAtKill) of \(Self.count) pending: takeover \(takeover) (lease 8 s + retry 0.5 s), every Secret after \(convergence)")
            #expect(second.text.contains("taking over an expired lease"))

            // SIGTERM: the leader releases the Lease, and a fresh process takes it without waiting out the lease.
            let third = try Replica(name: "third", kubeconfig: kubeconfig, directory: directory.url)
            replicas.append(third)
            try await eventually("the third process is up") { third.text.contains("waiting to become the leader") }
            let more = try (0..<100).map { try ControllerHarness.sealed("t\($0)") }
            for object in more { _ = try await client.create(.sealedSecrets, object, namespace: "team-a") }
            let terminated = ContinuousClock.now
            second.kill(SIGTERM)
            try await eventually("the third process takes over", timeout: .seconds(30)) { await Self.holder(client) == "third" }
            let handover = ContinuousClock.now - terminated
            second.process.waitUntilExit()
            let exited = ContinuousClock.now - terminated
            #expect(second.process.terminationStatus == 0, "\(second.text.suffix(2000))")
            #expect(second.text.contains("released the lease"))
            try await eventually("every Secret after the SIGTERM", timeout: .seconds(60)) { try await Self.converged(client) == Self.count + 100 }
            print("failover: SIGTERM: handover \(handover), the old leader exited after \(exited), every Secret after \(ContinuousClock.now - terminated)")

            // Nothing doubled: one Secret per SealedSecret, each owned by it; one key.
            let secrets = try await client.listAll(.secrets, namespace: "team-a").items
            #expect(secrets.count == Self.count + 100)
            #expect(secrets.allSatisfy { $0.value(at: ["metadata", "ownerReferences"])?.arrayValue?.count == 1 })
            #expect(try await client.listAll(.secrets, namespace: "kube-system", labelSelector: "\(KeyManager.keyLabel)=active").items.count == 1)
            let lease = try await client.get(.leases, name: "cachet-controller", namespace: "kube-system")
            #expect(lease.string(at: ["spec", "holderIdentity"])?.hasPrefix("third_") == true, "\(lease)")

            // The API server restarts under the leader (its state kept): the leader keeps the Lease or wins it back,
            // and what arrives afterwards converges.
            try await cluster.restart(keepingState: true)
            let late = try (0..<20).map { try ControllerHarness.sealed("r\($0)") }
            for object in late { _ = try await client.create(.sealedSecrets, object, namespace: "team-a") }
            try await eventually("every Secret after the restart", timeout: .seconds(60)) { try await Self.converged(client) == Self.count + 120 }
            #expect(third.process.isRunning)

            // SIGTERM with the API server gone: the release is attempted, bounded, and the process still exits
            // promptly and cleanly (well inside Kubernetes' 30-second grace period).
            await cluster.stop()
            let orphaned = ContinuousClock.now
            third.kill(SIGTERM)
            third.process.waitUntilExit()
            let exitedAlone = ContinuousClock.now - orphaned
            print("failover: SIGTERM with the API server gone: the leader exited after \(exitedAlone)")
            #expect(third.process.terminationStatus == 0, "\(third.text.suffix(2000))")
            #expect(exitedAlone < .seconds(20), "the shutdown took \(exitedAlone)")
            #expect(!replicas.contains { $0.text.contains(Support.canary) }, "a value reached a log")
        } cleanUp: {
            for replica in replicas {
                replica.kill(SIGKILL)
                replica.process.waitUntilExit()
            }
            try? await client.shutdown()
            await cluster.shutdown()
        }
    }
}
