import CachetKube
import Synchronization

/// Token buckets per client, for the endpoints that decrypt on request (`/v1/verify`, `/v1/rotate`): each
/// answer tells whether a value decrypts, so unbounded requests would make them an oracle. Bitnami's defaults: 2
/// requests a second, bursts of 2, per path and client.
final class RateLimiter: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])
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
            var bucket = buckets[client] ?? TokenBucket(rate: rate, burst: burst, now: now)
            let allowed = bucket.take(now: now)
            buckets[client] = bucket
            if buckets.count > Self.maxClients, let oldest = buckets.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                buckets[oldest] = nil
            }
            return allowed
        }
    }
}
