/// The reconciler's queue of object keys (`namespace/name`), as client-go's rate-limited work queue behaves:
///
/// - a key is queued at most once, and never handed to two workers at once (a key added while it is being worked
///   on is queued again when the worker is done);
/// - a failed key comes back after an exponential backoff, from `baseDelay` doubling up to `maxDelay` — forever:
///   the queue never gives up on an object (Bitnami's gives up after 5 tries);
/// - workers take keys no faster than a token bucket allows (`qps`, `burst`), so a flood of failures cannot hammer
///   the API server.
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
    private let qps: Double
    private let burst: Double
    private var tokens: Double
    private var lastRefill = ContinuousClock.now

    init(baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300), qps: Double = 50, burst: Double = 100) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.qps = qps
        self.burst = burst
        self.tokens = burst
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

    /// The next key to work on (waiting for one, then for a rate-limit token); nil once shut down and drained.
    func next() async -> String? {
        while true {
            if isShutDown { return nil }
            if !queue.isEmpty {
                let key = queue.removeFirst()
                queued.remove(key)
                processing.insert(key)
                await takeToken()
                return key
            }
            let key = await withCheckedContinuation { waiters.append($0) }
            if let key {
                await takeToken()
                return key
            }
            return nil
        }
    }

    private func takeToken() async {
        while true {
            let now = ContinuousClock.now
            let elapsed = now - lastRefill
            tokens = min(burst, tokens + qps * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            lastRefill = now
            if tokens >= 1 {
                tokens -= 1
                return
            }
            try? await Task.sleep(for: .milliseconds(Int(1000 / qps) + 1))
        }
    }

    /// The worker is finished with `key`; a success forgets its failures.
    func done(_ key: String, succeeded: Bool) {
        processing.remove(key)
        if succeeded { failures[key] = nil }
        if dirty.remove(key) != nil { add(key) }
    }

    /// The worker failed on `key`: it comes back after the key's next backoff.
    func retry(_ key: String) {
        processing.remove(key)
        let attempts = failures[key, default: 0]
        failures[key] = attempts + 1
        let delay = min(baseDelay * (1 << min(attempts, 30)), maxDelay)
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
}
