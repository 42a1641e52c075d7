/// A token bucket: `rate` tokens a second, holding at most `burst`. One type for every limit Cachet applies — API
/// requests (`--kubeclient-qps`), the reconciler's retries, and the HTTP endpoints that decrypt on request.
package struct TokenBucket: Sendable {
    package let rate: Double
    package let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    /// A full bucket.
    package init(rate: Double, burst: Double, now: ContinuousClock.Instant = .now) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        tokens = min(burst, tokens + rate * (now - last).seconds)
        last = now
    }

    /// Takes `cost` tokens if there are that many now.
    package mutating func take(_ cost: Double = 1, now: ContinuousClock.Instant = .now) -> Bool {
        refill(now)
        guard tokens >= cost else { return false }
        tokens -= cost
        return true
    }

    /// Takes `cost` tokens whether or not there are that many: work found to cost more than was taken up front is
    /// paid for afterwards, and the bucket stays in debt (refusing) until it has refilled.
    package mutating func charge(_ cost: Double, now: ContinuousClock.Instant = .now) {
        refill(now)
        tokens = min(burst, tokens - cost)  // a negative cost refunds, never past a full bucket
    }

    /// Takes the next token, which may only come in the future: how long to wait before using it. Waiters are
    /// served in the order they reserve, as client-go's limiter does.
    package mutating func reserve(now: ContinuousClock.Instant = .now) -> Duration {
        refill(now)
        tokens -= 1
        return tokens >= 0 ? .zero : .milliseconds(Int((-tokens / rate * 1000).rounded(.up)))
    }

    /// When the bucket was last used (for dropping idle buckets).
    package var lastUsed: ContinuousClock.Instant { last }
}
