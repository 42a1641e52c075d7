import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import Foundation
import Testing
@testable import CachetController

/// The dev API server's faults, one by one: the controller converges after each, and never half-writes a Secret.
/// Each runs with the controller alone (Bitnami's way) and as the Lease holder (`--leader-elect`), where the fault
/// must not cost it the Lease either.
@Suite("controller: API faults")
struct ControllerFaultTests {
    /// With a renew deadline three times client-go's: this process's cooperative threads are shared with the whole
    /// parallel test run, which can hold a Lease answer for seconds (see LeaderElectionTests.timing).
    static func electing(_ on: Bool) -> (inout Controller.Settings) -> Void {
        { settings in
            guard on else { return settings.leaderElection = nil }
            var election = LeaderElection.Settings(namespace: ControllerHarness.namespace, identity: "harness_\(UUID().uuidString)")
            election.leaseDuration = .seconds(40)
            election.renewDeadline = .seconds(30)
            settings.leaderElection = election
        }
    }

    /// Runs `body` with a harness, with or without leader election; with it, the controller still leads at the end.
    static func with(leaderElection: Bool, _ body: (ControllerHarness) async throws -> Void) async throws {
        try await ControllerHarness.with(configure: electing(leaderElection)) { harness in
            try await body(harness)
            if leaderElection { #expect(harness.controller.election?.isLeader == true, "the fault cost the Lease") }
        }
    }

    /// Every Secret `names` exists with the canary value, and every SealedSecret says Synced=True.
    static func converged(_ harness: ControllerHarness, _ names: [String], namespace: String = "team-a") async throws -> Bool {
        for name in names {
            guard ControllerHarness.data(await harness.secret(name, namespace: namespace)) == ["password": Support.canary, "n": name],
                  try await harness.sealedSecret(name, namespace: namespace).synced?.status == "True"
            else { return false }
        }
        return true
    }

    /// ``converged(_:_:namespace:)`` in two list requests, for a server that answers slowly.
    static func convergedByList(_ harness: ControllerHarness, _ names: [String], namespace: String = "team-a") async throws -> Bool {
        let secrets = try await harness.client.listAll(.secrets, namespace: namespace).items
        let sealedSecrets = try await harness.client.listAll(.sealedSecrets, namespace: namespace).items
        func named(_ objects: [ManifestValue]) -> [String: ManifestValue] {
            Dictionary(objects.map { ($0.string(at: ["metadata", "name"]) ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        }
        let (secretsByName, sealedByName) = (named(secrets), named(sealedSecrets))
        return names.allSatisfy { name in
            ControllerHarness.data(secretsByName[name]) == ["password": Support.canary, "n": name] && sealedByName[name]?.synced?.status == "True"
        }
    }

    static func sealed(_ name: String, namespace: String = "team-a") throws -> ManifestValue {
        try ControllerHarness.sealed(name, namespace: namespace, items: ["password": Support.canary, "n": name])
    }

    @Test("500, 503, 429 (with Retry-After) and 403 answers while objects arrive: every Secret converges",
          arguments: [500, 503, 429, 403], [false, true])
    func errorAnswers(status: Int, leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            let names = (0..<6).map { "e\(status)-\($0)" }
            for (index, name) in names.enumerated() {
                if index % 2 == 0 { harness.cluster.failNextRequests(4, status: status, retryAfter: status == 429 ? 1 : nil) }
                try await harness.applyThroughFaults(Self.sealed(name))
            }
            harness.cluster.failNextRequests(6, status: status, retryAfter: status == 429 ? 1 : nil)
            try await eventually("all converge") { try await Self.converged(harness, names) }
        }
    }

    @Test("409 on writes: retried from a fresh read until it lands", arguments: [false, true])
    func conflicts(leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            harness.cluster.failNextRequests(5, status: 409)
            try await harness.applyThroughFaults(Self.sealed("c1"))
            try await harness.applyThroughFaults(Self.sealed("c2"))
            try await eventually("converged") { try await Self.converged(harness, ["c1", "c2"]) }
            // A concurrent writer changes the Secret; the controller's next update (a spec change) still lands, on
            // top of the writer's resourceVersion, never over a stale one.
            _ = try await harness.client.updateRetryingConflicts(.secrets, name: "c1", namespace: "team-a") { secret in
                secret.setValue(.string("someone"), at: ["metadata", "annotations", "touched-by"])
                return true
            }
            _ = try await harness.client.updateRetryingConflicts(.sealedSecrets, name: "c1", namespace: "team-a") { object in
                let next = try ControllerHarness.sealed("c1", items: ["password": Support.canary, "n": "c1", "extra": "e"])
                object.setValue(next.value(at: ["spec"]), at: ["spec"])
                return true
            }
            try await eventually("the new item") { ControllerHarness.data(await harness.secret("c1"))["extra"] == "e" }
        }
    }

    /// Every write refused for a few seconds (an admission webhook or an etcd quota gone wrong): shorter than the
    /// renew deadline, so a leader keeps its Lease, and the work waiting meanwhile lands afterwards.
    @Test("409 on every write for a while: everything lands once writes pass again", arguments: [false, true])
    func writeOutage(leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            let names = (0..<40).map { "o\($0)" }
            harness.cluster.delayResponses(by: .milliseconds(10))
            for name in names { _ = try await harness.apply(Self.sealed(name)) }
            harness.cluster.failWrites(status: 409, for: .seconds(3))
            let before = harness.cluster.injectedFailures
            try await Task.sleep(for: .seconds(1))
            #expect(harness.cluster.injectedFailures > before, "no write met the outage")
            harness.cluster.delayResponses(by: nil)
            try await eventually("all converge", timeout: .seconds(60)) { try await Self.converged(harness, names) }
        }
    }

    @Test("dropped watches and a compacted history (410 Gone): what changed meanwhile is still seen", arguments: [false, true])
    func droppedWatches(leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            _ = try await harness.apply(Self.sealed("w1"))
            try await eventually("w1") { try await Self.converged(harness, ["w1"]) }
            await harness.cluster.compactHistory()
            await harness.cluster.dropWatches()
            _ = try await harness.apply(Self.sealed("w2"))
            try await harness.client.delete(.secrets, name: "w1", namespace: "team-a")
            try await eventually("w2 created and w1 recreated") { try await Self.converged(harness, ["w1", "w2"]) }
            for _ in 0..<3 {
                await harness.cluster.dropWatches()
                try await Task.sleep(for: .milliseconds(50))
            }
            _ = try await harness.apply(Self.sealed("w3"))
            try await eventually("w3") { try await Self.converged(harness, ["w3"]) }
        }
    }

    @Test("the API server goes away and comes back, with its objects or wiped: the controller carries on",
          arguments: [true, false], [false, true])
    func restart(keepingState: Bool, leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            _ = try await harness.apply(Self.sealed("before"))
            try await eventually("before") { try await Self.converged(harness, ["before"]) }
            try await harness.cluster.restart(keepingState: keepingState)
            if !keepingState {
                _ = try await harness.retrying {
                    try await harness.client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                                          ("metadata", .object([("name", .string("team-a"))]))]))
                }
            }
            try await harness.applyThroughFaults(Self.sealed("after"))
            try await eventually("after") { try await Self.converged(harness, ["after"]) }
            if keepingState { #expect(try await Self.converged(harness, ["before"])) }
        }
    }

    /// An etcd restore: the API server's state (and resourceVersion) goes back. The controller must not keep
    /// SealedSecrets that no longer exist (and write their plaintext), and must handle the ones re-applied since.
    @Test("the API server's state goes back in time: relisted, nothing written for what no longer exists, re-applied objects converge",
          arguments: [false, true])
    func stateGoesBack(leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            for name in ["kept-1", "kept-2"] { _ = try await harness.apply(Self.sealed(name)) }
            try await eventually("kept") { try await Self.converged(harness, ["kept-1", "kept-2"]) }
            let snapshot = await harness.cluster.stateSnapshot()
            for name in ["lost-1", "lost-2"] { _ = try await harness.apply(Self.sealed(name)) }
            try await eventually("lost") { try await Self.converged(harness, ["lost-1", "lost-2"]) }

            await harness.cluster.restoreState(snapshot)
            // A watch resuming from the versions it saw is told they are too large, and the controller lists again:
            // the lost SealedSecrets are forgotten, so a resync writes nothing for them.
            try await Task.sleep(for: .seconds(1))
            await harness.controller.reconciler.resyncNow()
            try await Task.sleep(for: .milliseconds(500))
            for name in ["lost-1", "lost-2"] {
                #expect(await harness.secret(name) == nil, "\(name): a Secret written for a SealedSecret that no longer exists")
            }
            #expect(try await Self.converged(harness, ["kept-1", "kept-2"]))

            // Re-applied after the restore (new uids): they converge.
            try await harness.applyThroughFaults(Self.sealed("lost-1"))
            try await eventually("re-applied") { try await Self.converged(harness, ["lost-1"]) }
        }
    }

    /// Two seconds on every answer: a Lease renewal (a read and a write) takes four.
    @Test("a slow API server (2 s on every answer): converges", arguments: [false, true])
    func slowServer(leaderElection: Bool) async throws {
        try await Self.with(leaderElection: leaderElection) { harness in
            harness.cluster.delayResponses(by: .seconds(2))
            for name in ["s1", "s2", "s3"] { _ = try await harness.apply(Self.sealed(name)) }
            try await eventually("converged", timeout: .seconds(60)) { try await Self.convergedByList(harness, ["s1", "s2", "s3"]) }
            harness.cluster.delayResponses(by: nil)
        }
    }

    @Test("graceful shutdown: the object being written is finished, not cut off")
    func gracefulShutdown() async throws {
        let harness = try await ControllerHarness.start()
        do {
            _ = try await harness.apply(Self.sealed("first"))
            try await eventually("first") { try await Self.converged(harness, ["first"]) }
            // Slow every answer, then shut down while a worker is between its read and its writes.
            harness.cluster.delayResponses(by: .milliseconds(300))
            _ = try await harness.apply(Self.sealed("in-hand"))
            try await Task.sleep(for: .milliseconds(500))
            let started = ContinuousClock.now
            let result = await harness.stopController()
            #expect((try? result.get()) != nil, "run() ended with an error")
            #expect(ContinuousClock.now - started < .seconds(15))
            harness.cluster.delayResponses(by: nil)
            // The worker finished the object it held: Secret and status both written.
            #expect(try await Self.converged(harness, ["first", "in-hand"]))
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }
}
