import CachetKube
import CachetManifests
import FoundationEssentials
import Logging
import ServiceLifecycle
import Synchronization

/// Leader election as client-go's `leaderelection` does it, on a `coordination.k8s.io/v1` Lease in the controller's
/// namespace, so that several replicas can run and exactly one of them writes.
///
/// Every `retryPeriod` a candidate reads the Lease and takes it if it is free (no holder: its leader released it) or
/// has not changed for `leaseDuration` — measured on this process's own clock from when it last saw the record
/// change, never from the time written in it, so clock skew between nodes cannot make a live leader look expired.
/// Writes are conditional on the resourceVersion read: of two candidates, one wins and the other gets a 409. The
/// leader renews every `retryPeriod`; if it cannot for `renewDeadline` (shorter than `leaseDuration`) it gives up
/// leadership and the process exits, before anyone else may take the Lease: a partitioned old leader stops writing
/// before a new one starts. On graceful shutdown it releases the Lease (no holder, a one-second duration), so a
/// rolling update hands over within a retry period instead of a lease duration.
package final class LeaderElection: Service, Sendable {
    package struct Settings: Sendable {
        /// The Lease's name and namespace.
        package var leaseName = "cachet-controller"
        package var namespace: String
        /// This replica's name in the Lease (the pod name and a random suffix: a restarted pod is a new candidate).
        package var identity: String
        package var leaseDuration: Duration = .seconds(15)
        package var renewDeadline: Duration = .seconds(10)
        package var retryPeriod: Duration = .seconds(2)

        package init(namespace: String, identity: String) {
            self.namespace = namespace
            self.identity = identity
        }

        /// client-go's checks: without them a leader could lose the Lease before it knows it has.
        package func validate() throws {
            guard leaseDuration > renewDeadline else {
                throw LeaderElectionError("the lease duration (\(leaseDuration)) must be longer than the renew deadline (\(renewDeadline))")
            }
            guard renewDeadline > retryPeriod * 1.2 else {
                throw LeaderElectionError("the renew deadline (\(renewDeadline)) must be longer than 1.2 × the retry period (\(retryPeriod))")
            }
            guard retryPeriod > .zero else { throw LeaderElectionError("the retry period must be positive") }
        }
    }

    package struct LeaderElectionError: Error, CustomStringConvertible {
        package let description: String
        init(_ description: String) { self.description = description }
    }

    /// The controller's client; the election talks through a separate one made from it (see ``run()``).
    let client: KubeClient
    package let settings: Settings
    let logger: Logger
    private let leading = Atomic<Bool>(false)
    /// The Lease as last seen (holder, renewTime and resourceVersion), and when this process saw it change.
    private let observed = Mutex<(record: String, at: ContinuousClock.Instant)?>(nil)
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    let metrics: ControllerMetrics?

    package init(client: KubeClient, settings: Settings, logger: Logger, metrics: ControllerMetrics? = nil) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        metrics?.leadership(lease: settings.leaseName, leading: false)
    }

    private func setLeading(_ value: Bool) {
        leading.store(value, ordering: .releasing)
        metrics?.leadership(lease: settings.leaseName, leading: value)
    }

    package var isLeader: Bool { leading.load(ordering: .acquiring) }

    /// Returns once this replica leads; throws `CancellationError` when cancelled first.
    package func waitUntilLeader() async throws {
        // A tenth of a second's latency on a change that happens at most every few seconds: a poll is simpler than a
        // list of waiters, and costs nothing measurable.
        while !isLeader { try await Task.sleep(for: .milliseconds(100)) }
    }

    package func run() async throws {
        // Connections of its own and no share of `--kubeclient-qps`: a Lease renewal must never wait behind the
        // controller's own requests, or a busy leader would lose its Lease (kube-controller-manager gives leader
        // election a client of its own for the same reason). The credentials, and an exec plugin's cache, are shared.
        let client = try client.separate()
        do {
            try await lead(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }

    private func lead(_ client: KubeClient) async throws {
        logger.info("waiting to become the leader", metadata: ["lease": "\(settings.namespace)/\(settings.leaseName)",
                                                               "identity": "\(settings.identity)"])
        // An attempt may take as long as the renew deadline: on a slow API server (two seconds an answer) a
        // tighter bound would never let a read and a write through, and nobody would ever lead.
        let acquired: ContinuousClock.Instant? = await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let sent = await self.attempt(client, within: self.settings.renewDeadline) { return sent }
                try? await Task.sleep(for: self.jittered(self.settings.retryPeriod))
            }
            return nil
        }
        guard let acquired, !Task.isShuttingDownGracefully else {
            if acquired != nil { await release(client) }
            return
        }
        setLeading(true)
        logger.notice("became the leader", metadata: ["lease": "\(settings.namespace)/\(settings.leaseName)",
                                                      "identity": "\(settings.identity)"])

        let lost: Bool = await cancelWhenGracefulShutdown {
            // The deadline counts from when the last successful write was sent, not from when its answer came:
            // followers may have seen it (and started counting the lease duration) from that moment on. Attempts
            // start a retry period apart, not a retry period after the last answer, so that on a slow API server
            // the time left does not shrink with every renewal.
            var renewed = acquired
            var next = acquired + self.settings.retryPeriod
            while !Task.isCancelled {
                // After failed attempts, wake at the deadline itself rather than at the next try past it.
                try? await Task.sleep(until: min(next, renewed + self.settings.renewDeadline), clock: .continuous)
                if Task.isCancelled { return false }
                let started = ContinuousClock.now
                next = started + self.settings.retryPeriod
                let left = renewed + self.settings.renewDeadline - started
                if left > .zero, let sent = await self.attempt(client, within: left) {
                    renewed = sent
                } else if ContinuousClock.now - renewed >= self.settings.renewDeadline {
                    return true
                }
            }
            return false
        }
        setLeading(false)
        if lost {
            // Exiting is what client-go's users do (kube-controller-manager among them): whatever this process was
            // doing as the leader stops at once, and the pod restarts as a candidate.
            logger.error("lost the lease: stopping", metadata: ["lease": "\(settings.namespace)/\(settings.leaseName)",
                                                                 "renewDeadline": "\(settings.renewDeadline)"])
            throw LeaderElectionError("leadership lost: the lease \(settings.namespace)/\(settings.leaseName) could not be renewed for \(settings.renewDeadline)")
        }
        await release(client)
    }

    /// One try to take or renew the Lease, abandoned after `limit` (the API client's own retries could otherwise
    /// outlast the renew deadline). Returns when the write that took or renewed it was sent; any failure is nil.
    private func attempt(_ client: KubeClient, within limit: Duration) async -> ContinuousClock.Instant? {
        await Self.first(within: limit, otherwise: nil) {
            do {
                return try await self.tryAcquireOrRenew(client)
            } catch {
                self.report(error)
                return nil
            }
        }
    }

    /// `work`'s answer, or `fallback` once `limit` has passed — without waiting for `work` to notice that it was
    /// cancelled: a request stuck where cancellation does not reach (an exec credential plugin that hangs) must not
    /// hold up the renew deadline, or a leader that lost its Lease would go on writing.
    /// The caller's cancellation (a graceful shutdown) counts as the time being up.
    package static func first<T: Sendable>(within limit: Duration, otherwise fallback: T, _ work: @escaping @Sendable () async -> T) async -> T {
        let answer = Mutex<CheckedContinuation<T, Never>?>(nil)
        let timer = Mutex<Task<Void, Never>?>(nil)
        let resume: @Sendable (T) -> Void = { value in answer.withLock { $0.take() }?.resume(returning: value) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                answer.withLock { $0 = continuation }
                let task = Task { resume(await work()) }
                let sleeper = Task {
                    try? await Task.sleep(for: limit)  // cut short by cancellation
                    task.cancel()
                    resume(fallback)
                }
                timer.withLock { $0 = sleeper }
                if Task.isCancelled { sleeper.cancel() }  // cancelled before the handler could see the timer
            }
        } onCancel: {
            timer.withLock { $0 }?.cancel()
        }
    }

    /// When the successful write was sent, or nil when someone else holds the Lease or wrote it first.
    private func tryAcquireOrRenew(_ client: KubeClient) async throws -> ContinuousClock.Instant? {
        let now = Self.microTime(Date())
        let lease: ManifestValue
        do {
            lease = try await client.get(.leases, name: settings.leaseName, namespace: settings.namespace)
        } catch let error as KubeError where error.code == .notFound {
            let spec: ManifestValue = .object([
                ("holderIdentity", .string(settings.identity)),
                ("leaseDurationSeconds", .number(Self.seconds(settings.leaseDuration))),
                ("acquireTime", .string(now)), ("renewTime", .string(now)), ("leaseTransitions", .number("0")),
            ])
            let object: ManifestValue = .object([
                ("apiVersion", .string("coordination.k8s.io/v1")), ("kind", .string("Lease")),
                ("metadata", .object([("name", .string(settings.leaseName)), ("namespace", .string(settings.namespace))])),
                ("spec", spec),
            ])
            do {
                let sent = ContinuousClock.now
                see(try await client.create(.leases, object, namespace: settings.namespace))
                return sent
            } catch let error as KubeError where error.code == .alreadyExists || error.code == .conflict {
                return nil
            }
        }
        let holder = lease.string(at: ["spec", "holderIdentity"]) ?? ""
        let seenAt = see(lease)
        let duration = Duration.seconds(Self.integer(lease, ["spec", "leaseDurationSeconds"]) ?? 0)
        if !holder.isEmpty, holder != settings.identity, ContinuousClock.now < seenAt + duration {
            return nil  // someone else holds it, and renewed it within its duration as far as this process saw
        }
        var updated = lease
        updated.setValue(.string(settings.identity), at: ["spec", "holderIdentity"])
        updated.setValue(.number(Self.seconds(settings.leaseDuration)), at: ["spec", "leaseDurationSeconds"])
        updated.setValue(.string(now), at: ["spec", "renewTime"])
        if holder != settings.identity {
            let count = Self.integer(lease, ["spec", "leaseTransitions"]) ?? 0
            updated.setValue(.string(now), at: ["spec", "acquireTime"])
            updated.setValue(.number(String(count + 1)), at: ["spec", "leaseTransitions"])
            if !holder.isEmpty {
                logger.notice("taking over an expired lease", metadata: ["previousHolder": "\(holder)"])
            }
        }
        do {
            let sent = ContinuousClock.now
            see(try await client.update(.leases, updated))
            return sent
        } catch let error as KubeError where error.code == .conflict {
            return nil  // another candidate wrote first
        }
    }

    /// A failure to read or write the Lease: transient ones at debug level (the loop tries again in a moment); a
    /// refusal (403, 401: the Lease RBAC is missing) as a warning, at most once a minute, since it will not pass.
    private func report(_ error: any Error) {
        let refused = (error as? KubeError).map { $0.code == .forbidden || $0.code == .unauthorized } ?? false
        let warn = refused && lastWarning.withLock { last in
            let now = ContinuousClock.now
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        if warn {
            logger.warning("the lease could not be read or written: this replica cannot lead", metadata: ["reason": "\(error)"])
        } else {
            logger.debug("the lease could not be read or written", metadata: ["reason": "\(error)"])
        }
    }

    /// Notes the Lease's record; returns when this process first saw it as it is now.
    @discardableResult
    private func see(_ lease: ManifestValue) -> ContinuousClock.Instant {
        let record = [["spec", "holderIdentity"], ["spec", "renewTime"], ["metadata", "resourceVersion"]]
            .map { lease.string(at: $0) ?? "" }.joined(separator: "|")
        return observed.withLock { observed in
            if let current = observed, current.record == record { return current.at }
            let now = ContinuousClock.now
            observed = (record, now)
            return now
        }
    }

    /// Gives the Lease up (graceful shutdown), so a follower takes it at its next try. Bounded by the renew deadline
    /// (as long as a renewal may take): a shutdown must not wait long on an API server that does not answer, and a
    /// slow one still gets the read and the write through.
    private func release(_ client: KubeClient) async {
        let released = await Self.first(within: settings.renewDeadline, otherwise: false) {
            do {
                var lease = try await client.get(.leases, name: self.settings.leaseName, namespace: self.settings.namespace)
                guard lease.string(at: ["spec", "holderIdentity"]) == self.settings.identity else { return false }
                let now = Self.microTime(Date())
                lease.setValue(.string(""), at: ["spec", "holderIdentity"])
                lease.setValue(.number("1"), at: ["spec", "leaseDurationSeconds"])
                lease.setValue(.string(now), at: ["spec", "renewTime"])
                _ = try await client.update(.leases, lease)
                return true
            } catch {
                return false
            }
        }
        if released { logger.notice("released the lease") } else { logger.warning("could not release the lease; it expires by itself") }
    }

    private static func integer(_ object: ManifestValue, _ path: [String]) -> Int? {
        guard case .number(let text)? = object.value(at: path) else { return nil }
        return Int(text)
    }

    /// Whole seconds, at least one: the Lease's field is an integer.
    private static func seconds(_ duration: Duration) -> String {
        String(max(1, Int(duration.seconds.rounded(.up))))
    }

    /// client-go's JitterFactor 1.2: candidates that started together do not keep asking together.
    private func jittered(_ period: Duration) -> Duration {
        period + period * Double.random(in: 0..<0.2)
    }

    /// A Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits.
    static func microTime(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let micros = Int((date.timeIntervalSince1970 - seconds) * 1_000_000)
        let whole = Date(timeIntervalSince1970: seconds).formatted(.iso8601)  // 2026-12-07T02:30:00Z
        let digits = String(micros)
        return whole.dropLast() + "." + String(repeating: "0", count: 6 - digits.count) + digits + "Z"
    }
}
