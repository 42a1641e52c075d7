import Synchronization

/// Token buckets per client, for the endpoints that decrypt on request (`/v1/verify`, `/v1/rotate`): each
/// answer tells whether a value decrypts, so unbounded requests would make them an oracle. Bitnami's defaults: 2
/// requests a second, bursts of 2, per path and client.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    let rate: Double
    let burst: Double
    /// The bucket map is bounded; past this, the least recently used buckets go.
    static let maxClients = 65_536

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// True when `client` may make a request now.
    func allow(_ client: String) -> Bool {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: burst, last: now)
            let elapsed = now - bucket.last
            bucket.tokens = min(burst, bucket.tokens + rate * elapsed.seconds)
            bucket.last = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[client] = bucket
            if buckets.count > Self.maxClients, let oldest = buckets.min(by: { $0.value.last < $1.value.last })?.key {
                buckets[oldest] = nil
            }
            return allowed
        }
    }
}
