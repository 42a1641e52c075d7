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
