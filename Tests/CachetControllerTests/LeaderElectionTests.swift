import CachetController
import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Logging
import Testing

/// Several replicas on one dev API server, with `--leader-elect`: one Lease holder reconciles and makes keys, all
/// serve the keys; a graceful stop hands the Lease over at once; a leader that cannot renew stops.
@Suite("leader election")
struct LeaderElectionTests {
    /// A controller in this process, with its own API client and log.
    struct Replica {
        let controller: Controller
        let client: KubeClient
        let logs: LogCapture
        let apiURL: String
        let metricsURL: String
        let running: Task<Void, any Error>

        var isLeader: Bool { controller.election?.isLeader ?? false }

        @discardableResult
        func stop() async -> Result<Void, any Error> {
            await controller.shutdown()
            let result = await running.result
            try? await client.shutdown()
            return result
        }
    }

    static let lease = "cachet-controller"

    /// Lease duration, renew deadline and retry period for replicas in this process. The deadline is generous because
    /// the test process's two cooperative threads are shared with hundreds of tests running in parallel, and a Lease
    /// answer can wait seconds in that queue: with tight timing a leader here loses its Lease to the test run, not to
    /// the fault under test. Tight timing is proven where each controller has a process of its own (FailoverTests).
    static let timing: (lease: Double, renew: Double, retry: Double) = (20, 15, 0.3)

    static func replica(_ cluster: DevCluster, name: String, elect: Bool = true,
                        timing: (lease: Double, renew: Double, retry: Double) = timing,
                        requestRate: TokenBucket? = nil, configure: (inout Controller.Settings) -> Void = { _ in }) async throws -> Replica {
        let client = try KubeClient(config: cluster.clientConfig(), retry: .init(maxAttempts: 3, maxDelay: .milliseconds(200), baseDelay: .milliseconds(20)),
                                    requestRate: requestRate)
        var settings = ControllerHarness.testSettings()
        configure(&settings)
        var election = LeaderElection.Settings(namespace: ControllerHarness.namespace, identity: name + "_" + UUID().uuidString)
        election.leaseName = lease
        election.leaseDuration = .milliseconds(Int(timing.lease * 1000))
        election.renewDeadline = .milliseconds(Int(timing.renew * 1000))
        election.retryPeriod = .milliseconds(Int(timing.retry * 1000))
        settings.leaderElection = elect ? election : nil
        let logs = LogCapture()
        var logger = Logger(label: name) { _ in logs }
        logger.logLevel = .debug
        let controller = Controller(client: client, settings: settings, logger: logger)
        let running = Task { try await controller.run() }
        let ports = try #require(await controller.listeningPorts())
        return Replica(controller: controller, client: client, logs: logs, apiURL: "http://127.0.0.1:\(ports.api)",
                       metricsURL: "http://127.0.0.1:\(ports.metrics)", running: running)
    }

    static func withCluster(_ body: (DevCluster, KubeClient) async throws -> Void) async throws {
        var settings = DevCluster.Settings()
        settings.bookmarkInterval = .milliseconds(200)
        let cluster = await DevCluster(settings: settings)
        try await cluster.start()
        let client = try KubeClient(config: cluster.clientConfig())
        try await withCleanUp {
            _ = try await client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                              ("metadata", .object([("name", .string("team-a"))]))]))
            try await body(cluster, client)
        } cleanUp: {
            try? await client.shutdown()
            await cluster.shutdown()
        }
    }

    static func keySecrets(_ client: KubeClient) async throws -> [ManifestValue] {
        try await client.listAll(.secrets, namespace: ControllerHarness.namespace, labelSelector: "\(KeyManager.keyLabel)=active").items
    }

    @Test("two replicas on an empty cluster: one leader, one key, both serve it; only the leader writes; a graceful stop hands over at once")
    func twoReplicas() async throws {
        try await Self.withCluster { cluster, client in
            let first = try await Self.replica(cluster, name: "first")
            let second = try await Self.replica(cluster, name: "second")
            var replicas = [first, second]
            do {
                try await eventually("both replicas have their keys", timeout: .seconds(60)) {
                    first.controller.keys.isReady && second.controller.keys.isReady
                }
                #expect(try await Self.keySecrets(client).count == 1, "exactly one key for two replicas")
                #expect(replicas.filter(\.isLeader).count == 1)
                let certificates = try await replicas.asyncMap { String(decoding: try await ControllerHarness.request($0.apiURL + "/v1/cert.pem").body, as: UTF8.self) }
                #expect(certificates[0] == certificates[1] && certificates[0].contains("BEGIN CERTIFICATE"))

                let key = try #require(first.controller.keys.newestSealingKey)
                _ = try await client.create(.sealedSecrets, try ControllerHarness.sealed("before", sealingKey: key), namespace: "team-a")
                try await eventually("the leader unseals") { (try? await client.get(.secrets, name: "before", namespace: "team-a")) != nil }

                let leaders = replicas.filter(\.isLeader), followers = replicas.filter { !$0.isLeader }
                guard let leader = leaders.first, let follower = followers.first else {
                    Issue.record("no single leader: \(leaders.count) of \(replicas.count)")
                    throw CancellationError()
                }
                #expect(follower.logs.text.contains("waiting for the leader to make the sealing key") || follower.controller.keys.isReady)
                #expect(!follower.logs.text.contains("became the leader"))
                for (replica, value) in [(leader, 1), (follower, 0)] {
                    let body = try await ControllerHarness.request(replica.metricsURL + "/metrics").body
                    let text = String(decoding: body, as: UTF8.self)
                    #expect(text.contains("leader_election_master_status{name=\"\(Self.lease)\"} \(value)\n"), "\(text)")
                    try await ControllerAPITests.expectPromtoolAccepts(body)
                }

                // A graceful stop (SIGTERM) releases the Lease: the follower takes it at its next try, long before
                // the lease duration would have run out.
                let stopped = ContinuousClock.now
                if case .failure(let error) = await leader.stop() { Issue.record("the leader ended with \(error)") }
                replicas.removeAll { $0.apiURL == leader.apiURL }
                #expect(leader.logs.text.contains("released the lease"))
                try await eventually("the follower leads") { follower.isLeader }
                print("leader election: handover after a graceful stop took \(ContinuousClock.now - stopped)")
                let lease = try await client.get(.leases, name: Self.lease, namespace: ControllerHarness.namespace)
                #expect(lease.string(at: ["spec", "holderIdentity"]) == follower.controller.election?.settings.identity, "\(lease)")

                _ = try await client.create(.sealedSecrets, try ControllerHarness.sealed("after", sealingKey: key), namespace: "team-a")
                try await eventually("the new leader unseals") { (try? await client.get(.secrets, name: "after", namespace: "team-a")) != nil }
                #expect(try await Self.keySecrets(client).count == 1, "the new leader made no key of its own")
            } catch {
                for replica in replicas { print(replica.logs.text) }
                for replica in replicas { await replica.stop() }
                throw error
            }
            for replica in replicas {
                if case .failure(let error) = await replica.stop() { Issue.record("a replica ended with \(error)") }
            }
        }
    }

    /// Bitnami's default, and what docs/controller.md says happens: both replicas reconcile. Every Secret still
    /// ends right (each write is conditional on what was read), but both write, and both may make a key.
    @Test("two replicas without leader election: both reconcile, every Secret still ends with its value")
    func withoutElection() async throws {
        try await Self.withCluster { cluster, client in
            _ = try await client.create(.secrets, ControllerHarness.keySecret(name: "sealed-secrets-keyfixture"), namespace: ControllerHarness.namespace)
            let replicas = [try await Self.replica(cluster, name: "one", elect: false), try await Self.replica(cluster, name: "two", elect: false)]
            do {
                for index in 0..<50 { _ = try await client.create(.sealedSecrets, try ControllerHarness.sealed("s\(index)"), namespace: "team-a") }
                try await eventually("every Secret", timeout: .seconds(60)) {
                    let secrets = try await client.listAll(.secrets, namespace: "team-a").items
                    return secrets.count == 50 && secrets.allSatisfy { ControllerHarness.data($0)["password"] == Support.canary }
                }
                #expect(replicas.allSatisfy { $0.controller.election == nil && $0.controller.keys.isReady })
                #expect(try await Self.keySecrets(client).count == 1, "a key existed: neither made one")
                // Both replicas do the RSA work, and a write that loses to the other's is dropped or retried: no
                // status goes False and no warning Event fires for it (Bitnami's controllers, doubled, do both).
                try await eventually("every status True") {
                    try await client.listAll(.sealedSecrets, namespace: "team-a").items.allSatisfy { $0.synced?.status == "True" }
                }
                let events = try await client.listAll(.events, namespace: "team-a").items
                let warnings = events.filter { $0.string(at: ["type"]) == "Warning" }
                #expect(warnings.isEmpty, "\(warnings)")
                #expect(events.count <= 100)
            } catch {
                for replica in replicas { await replica.stop() }
                throw error
            }
            for replica in replicas { await replica.stop() }
        }
    }

    @Test("a leader whose renewals fail stops within the renew deadline, and the process ends with the reason")
    func partitionedLeader() async throws {
        try await Self.withCluster { cluster, client in
            let replica = try await Self.replica(cluster, name: "alone")
            try await eventually("it leads", timeout: .seconds(60)) { replica.isLeader && replica.controller.keys.isReady }
            let cut = ContinuousClock.now
            // Only its Lease writes fail: it still reads, and would go on writing Secrets if it did not stop itself.
            cluster.failNextRequests(100_000, status: 503, method: "PUT", path: "/leases/")
            let result = await replica.running.result
            print("leader election: a partitioned leader stopped \(ContinuousClock.now - cut) after its API server went away")
            cluster.clearFaults()
            guard case .failure(let error) = result else {
                Issue.record("the controller kept running without its lease")
                await replica.stop()
                return
            }
            #expect("\(error)".contains("leadership lost"), "\(error)")
            #expect(!replica.isLeader)
            #expect(replica.logs.text.contains("lost the lease"))
            try? await replica.client.shutdown()
        }
    }

    /// `--kubeclient-qps` throttles the controller's requests; Lease renewals queued behind every worker's (eight,
    /// at one token every two seconds: 16 s a request) would cost a busy leader its Lease within the renew deadline.
    /// They go through a client of their own.
    @Test("a leader with a backlog under a tight request limit keeps its Lease")
    func busyLeader() async throws {
        try await Self.withCluster { cluster, client in
            // A burst for a quick start; the workers use it up at once. Stopping cuts their queued requests off.
            let replica = try await Self.replica(cluster, name: "busy", requestRate: TokenBucket(rate: 0.5, burst: 20)) { settings in
                settings.reconciler.workers = 8
                settings.maximumShutdownDuration = .seconds(2)
            }
            do {
                try await eventually("it leads", timeout: .seconds(60)) { replica.isLeader && replica.controller.keys.isReady }
                let key = try #require(replica.controller.keys.newestSealingKey)
                for index in 0..<30 {
                    _ = try await client.create(.sealedSecrets, try ControllerHarness.sealed("b\(index)", sealingKey: key), namespace: "team-a")
                }
                try await Task.sleep(for: .seconds(Self.timing.renew + 2))
                #expect(replica.isLeader, "lost the Lease while busy: \(replica.logs.text.suffix(1000))")
                let written = try await client.listAll(.secrets, namespace: "team-a").items.count
                #expect(written < 30, "no backlog to compete with: all 30 written")
            } catch {
                await replica.stop()
                throw error
            }
            await replica.stop()
        }
    }

    /// A renewal stuck where cancellation does not reach (a credential plugin that hangs) must not hold up the
    /// renew deadline: the attempt gives up on time, and the stuck work is left behind.
    @Test("an attempt that never ends counts as failed once its time is up", .timeLimit(.minutes(1)))
    func stuckAttempt() async throws {
        let answer = await LeaderElection.first(within: .milliseconds(100), otherwise: false) {
            await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }  // never resumed, ignores cancellation
            return true
        }
        #expect(answer == false)
        #expect(await LeaderElection.first(within: .seconds(10), otherwise: false) { true } == true)
        // A graceful shutdown cancels the caller: that ends the wait too, long before the limit.
        let started = ContinuousClock.now
        let waiting = Task {
            await LeaderElection.first(within: .seconds(30), otherwise: false) {
                await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
                return true
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(await waiting.value == false)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("a stale or conflicting write of the Lease is refused (409), as kube-apiserver refuses it")
    func leaseConflicts() async throws {
        try await Self.withCluster { _, client in
            let lease: ManifestValue = .object([
                ("apiVersion", .string("coordination.k8s.io/v1")), ("kind", .string("Lease")),
                ("metadata", .object([("name", .string("race")), ("namespace", .string("kube-system"))])),
                ("spec", .object([("holderIdentity", .string("a")), ("leaseDurationSeconds", .number("15"))])),
            ])
            let created = try await client.create(.leases, lease, namespace: "kube-system")
            var mine = created, theirs = created
            mine.setValue(.string("me"), at: ["spec", "holderIdentity"])
            theirs.setValue(.string("them"), at: ["spec", "holderIdentity"])
            _ = try await client.update(.leases, mine)
            await #expect(throws: KubeError.self) { _ = try await client.update(.leases, theirs) }
            await #expect(throws: KubeError.self) { _ = try await client.create(.leases, lease, namespace: "kube-system") }
            #expect(try await client.get(.leases, name: "race", namespace: "kube-system").string(at: ["spec", "holderIdentity"]) == "me")
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
