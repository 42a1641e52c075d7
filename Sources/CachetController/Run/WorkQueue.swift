import CachetKube

/// The reconciler's queue of object keys (`namespace/name`), as client-go's rate-limited work queue behaves:
///
/// - a key is queued at most once, and never handed to two workers at once (a key added while it is being worked
///   on is queued again when the worker is done);
/// - a failed key comes back after an exponential backoff, from `baseDelay` doubling up to `maxDelay` — forever by
///   default (Bitnami's gives up after 5 retries), or, with `maxRetries`, until that many retries failed; then it
///   waits for whatever adds it next (a spec change, a new key, the resync) and starts counting afresh;
/// - retries as a whole come no faster than a token bucket allows (`qps`, `burst`), so a flood of failures cannot
///   hammer the API server (client-go's MaxOf(per-item exponential, bucket)); first attempts are not throttled.
actor WorkQueue {
    private var queue: [String] = []
    private var queued: Set<String> = []
    private var processing: Set<String> = []
    private var dirty: Set<String> = []
    private var failures: [String: Int] = [:]
    private var delayed: [(due: ContinuousClock.Instant, key: String)] = []
    private var waiters: [CheckedContinuation<String?, Never>] = []
    private var isShutDown = false

    let baseDelay: Duration
    let maxDelay: Duration
    /// Retries of one key before giving up on it for now; nil never gives up.
    let maxRetries: Int?
    /// Bounds retries as a whole.
    private var retryBucket: TokenBucket

    init(
        baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300), maxRetries: Int? = nil,
        qps: Double = 50, burst: Double = 100
    ) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetries = maxRetries
        self.retryBucket = TokenBucket(rate: qps, burst: burst)
    }

    func add(_ key: String) {
        guard !isShutDown else { return }
        if processing.contains(key) {
            dirty.insert(key)
            return
        }
        guard queued.insert(key).inserted else { return }
        if !waiters.isEmpty {
            queued.remove(key)
            processing.insert(key)
            waiters.removeFirst().resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// The next key to work on (waiting for one); nil once shut down.
    func next() async -> String? {
        if isShutDown { return nil }
        if !queue.isEmpty {
            let key = queue.removeFirst()
            queued.remove(key)
            processing.insert(key)
            return key
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// The worker is finished with `key`; a success forgets its failures.
    func done(_ key: String, succeeded: Bool) {
        processing.remove(key)
        if succeeded { failures[key] = nil }
        if dirty.remove(key) != nil { add(key) }
    }

    /// The worker failed on `key`: it comes back after the key's next backoff (unless it has used up `maxRetries`).
    func retry(_ key: String) {
        processing.remove(key)
        let attempts = failures[key, default: 0]
        if let maxRetries, attempts >= maxRetries {
            failures[key] = nil
            if dirty.remove(key) != nil { add(key) }
            return
        }
        failures[key] = attempts + 1
        let delay = max(min(baseDelay * (1 << min(attempts, 30)), maxDelay), retryBucket.reserve())
        delayed.append((ContinuousClock.now + delay, key))
        if dirty.remove(key) != nil { add(key) }
    }

    /// How many times in a row `key` has failed.
    func failureCount(_ key: String) -> Int { failures[key, default: 0] }

    /// Moves due retries into the queue; called by the reconciler's clock.
    func promoteDueRetries() {
        let now = ContinuousClock.now
        let due = delayed.filter { $0.due <= now }
        delayed.removeAll { $0.due <= now }
        for entry in due { add(entry.key) }
    }

    /// Stops handing out keys; waiting workers get nil.
    func shutdown() {
        isShutDown = true
        for waiter in waiters { waiter.resume(returning: nil) }
        waiters.removeAll()
    }

    var depth: Int { queue.count + delayed.count }

    /// Keys waiting for a retry.
    var retrying: [String] { delayed.map(\.key) }
}
