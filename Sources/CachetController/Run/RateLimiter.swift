import CachetKube
import Synchronization

/// Token buckets per client, for the endpoints that decrypt on request (`/v1/verify`, `/v1/rotate`): each
/// answer tells whether a value decrypts, so unbounded requests would make them an oracle, and each costs RSA work.
/// Counted in requests (Bitnami's defaults: 2 a second, bursts of 2, per path and client) or in RSA operations.
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

    /// True (and `cost` tokens taken) when `client` may spend that much now.
    func allow(_ client: String, cost: Double = 1) -> Bool {
        update(client) { $0.take(cost, now: $1) }
    }

    /// Charges `cost` more to `client`, into debt if need be (see ``TokenBucket/charge(_:now:)``).
    func charge(_ client: String, cost: Double) {
        update(client) { bucket, now in bucket.charge(cost, now: now) }
    }

    private func update<Result>(_ client: String, _ body: (inout TokenBucket, ContinuousClock.Instant) -> Result) -> Result {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? TokenBucket(rate: rate, burst: burst, now: now)
            let result = body(&bucket, now)
            buckets[client] = bucket
            if buckets.count > Self.maxClients, let oldest = buckets.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                buckets[oldest] = nil
            }
            return result
        }
    }
}
