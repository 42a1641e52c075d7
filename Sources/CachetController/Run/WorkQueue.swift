import CachetKube
import DequeModule
import HeapModule

/// The reconciler's queue of object keys (`namespace/name`), as client-go's rate-limited work queue behaves:
///
/// - a key is queued at most once, and never handed to two workers at once (a key added while it is being worked
///   on is queued again when the worker is done);
/// - a failed key comes back after an exponential backoff, from `baseDelay` doubling up to `maxDelay` — forever by
///   default (Bitnami's gives up after 5 retries), or, with `maxRetries`, until that many retries failed; then it
///   waits for whatever adds it next (a spec change, a new key, the resync) and starts counting afresh;
/// - retries as a whole come no faster than a token bucket allows (`qps`, `burst`), so a flood of failures cannot
///   hammer the API server (client-go's MaxOf(per-item exponential, bucket)); first attempts are not throttled;
/// - every step is O(1) or O(log n) in the keys waiting: a deque for the queue and the waiting workers, a heap for
///   the retries, so a cold start with tens of thousands of objects does not slow down as it goes.
actor WorkQueue {
    private var queue = Deque<String>()
    private var queued: Set<String> = []
    private var processing: Set<String> = []
    private var dirty: Set<String> = []
    private var failures: [String: Int] = [:]
    private var delayed = Heap<Retry>()
    private var retriesScheduled = 0
    private var waiters = Deque<CheckedContinuation<String?, Never>>()
    private var isShutDown = false
    /// Wakes ``promoteRetriesWhenDue()`` when a retry is scheduled sooner than the one it waits for, and at shutdown.
    private let retryScheduled = Wakeup()

    /// A key waiting for its retry; the earliest due comes first, ties in the order they were scheduled.
    private struct Retry: Comparable {
        let due: ContinuousClock.Instant
        let order: Int
        let key: String

        static func < (a: Retry, b: Retry) -> Bool { (a.due, a.order) < (b.due, b.order) }
        static func == (a: Retry, b: Retry) -> Bool { a.due == b.due && a.order == b.order }
    }

    private let backoff: Backoff
    /// Retries of one key before giving up on it for now; nil never gives up.
    let maxRetries: Int?
    /// Bounds retries as a whole.
    private var retryBucket: TokenBucket

    init(
        baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(300), maxRetries: Int? = nil,
        qps: Double = 50, burst: Double = 100
    ) {
        self.backoff = Backoff(initial: baseDelay, maximum: maxDelay)
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
        if let waiter = waiters.popFirst() {
            queued.remove(key)
            processing.insert(key)
            waiter.resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// The next key to work on (waiting for one); nil once shut down.
    func next() async -> String? {
        if isShutDown { return nil }
        if let key = queue.popFirst() {
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
        let delay = max(backoff.delay(afterFailures: attempts + 1), retryBucket.reserve())
        let retry = Retry(due: .now + delay, order: retriesScheduled, key: key)
        retriesScheduled += 1
        let isSoonest = delayed.min.map { retry < $0 } ?? true
        delayed.insert(retry)
        if isSoonest { retryScheduled.signal() }
        if dirty.remove(key) != nil { add(key) }
    }

    /// How many times in a row `key` has failed.
    func failureCount(_ key: String) -> Int { failures[key, default: 0] }

    /// Moves the retries that are due into the queue.
    func promoteDueRetries() {
        let now = ContinuousClock.now
        while let first = delayed.min, first.due <= now {
            add(delayed.removeMin().key)
        }
    }

    /// Moves each retry into the queue when it comes due, sleeping in between (no polling); returns at shutdown or
    /// cancellation. The reconciler runs it beside its workers.
    func promoteRetriesWhenDue() async {
        while !Task.isCancelled, !isShutDown {
            promoteDueRetries()
            await retryScheduled.wait(until: delayed.min?.due)
        }
    }

    /// Stops handing out keys; waiting workers get nil.
    func shutdown() {
        isShutDown = true
        while let waiter = waiters.popFirst() { waiter.resume(returning: nil) }
        retryScheduled.signal()
    }

    var depth: Int { queue.count + delayed.count }

    /// Keys waiting for a retry.
    var retrying: [String] { delayed.unordered.map(\.key) }
}
