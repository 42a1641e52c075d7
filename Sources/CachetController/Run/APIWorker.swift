import Dispatch
import Synchronization

/// The one thread that does what `/v1/verify` and `/v1/rotate` ask for — reading the SealedSecret and the RSA work —
/// apart from the threads that reconcile and the event loops that answer `/healthz`. However many requests arrive,
/// together they use at most one core, and nothing the reconciler needs waits behind them. At most `maxWaiting`
/// requests queue for it; more are turned away at once rather than piling up (each holds a body of up to 2 MiB).
final class APIWorker: Sendable {
    private let queue = DispatchQueue(label: "cachet.api-worker")
    private let waiting = Atomic<Int>(0)
    let maxWaiting: Int

    init(maxWaiting: Int) {
        self.maxWaiting = maxWaiting
    }

    /// Runs `work` on the worker thread; nil, without running it, when too many requests are already waiting.
    func run<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result? {
        guard waiting.add(1, ordering: .relaxed).newValue <= maxWaiting else {
            waiting.subtract(1, ordering: .relaxed)
            return nil
        }
        return await withCheckedContinuation { continuation in
            queue.async {
                let result = work()
                self.waiting.subtract(1, ordering: .relaxed)
                continuation.resume(returning: result)
            }
        }
    }
}

/// Request bodies being received: bytes reserved for all clients together, and bodies per client (see
/// ``APIWorkLimits/maxBodyBytesInFlight``).
final class BodyBudget: Sendable {
    private let state = Mutex<(bytes: Int, perClient: [String: Int])>((0, [:]))
    let maxBytes: Int
    let maxPerClient: Int

    init(maxBytes: Int, maxPerClient: Int) {
        self.maxBytes = maxBytes
        self.maxPerClient = maxPerClient
    }

    /// Reserves `bytes` for `client`'s body; false (nothing reserved) when either bound would be passed.
    func reserve(_ bytes: Int, for client: String) -> Bool {
        state.withLock { state in
            guard state.bytes + bytes <= maxBytes, state.perClient[client, default: 0] < maxPerClient else { return false }
            state.bytes += bytes
            state.perClient[client, default: 0] += 1
            return true
        }
    }

    func release(_ bytes: Int, for client: String) {
        state.withLock { state in
            state.bytes -= bytes
            let remaining = state.perClient[client, default: 1] - 1
            state.perClient[client] = remaining > 0 ? remaining : nil
        }
    }
}
