import CachetKube
import DequeModule
import Synchronization

/// Token buckets per client, for the endpoints that decrypt on request (`/v1/verify`, `/v1/rotate`): each
/// answer tells whether a value decrypts, so unbounded requests would make them an oracle, and each costs RSA work.
/// Counted in requests (Bitnami's defaults: 2 a second, bursts of 2, per path and client) or in RSA operations.
///
/// At most ``maxClients`` buckets are kept; past that the least recently used go, in amortised constant time (a
/// queue of uses, stale entries skipped): a flood of forged client addresses once made every request scan all
/// 65,536 buckets under the lock.
final class RateLimiter: Sendable {
    private struct State {
        var buckets: [String: (bucket: TokenBucket, use: Int)] = [:]
        /// Uses in order: (client, use number). An entry is stale when the client was used again since.
        var uses = Deque<(client: String, use: Int)>()
        var nextUse = 0
    }

    private let state = Mutex(State())
    let rate: Double
    let burst: Double
    let maxClients: Int
    static let defaultMaxClients = 65_536

    init(rate: Double, burst: Double, maxClients: Int = defaultMaxClients) {
        self.rate = rate
        self.burst = burst
        self.maxClients = maxClients
    }

    /// True (and `cost` tokens taken) when `client` may spend that much now.
    func allow(_ client: String, cost: Double = 1) -> Bool {
        update(client) { $0.take(cost, now: $1) }
    }

    /// Charges `cost` more to `client`, into debt if need be (see ``TokenBucket/charge(_:now:)``).
    func charge(_ client: String, cost: Double) {
        update(client) { bucket, now in bucket.charge(cost, now: now) }
    }

    /// Buckets kept (for tests).
    var clientCount: Int { state.withLock { $0.buckets.count } }

    /// Entries in the queue of uses, stale ones included (for tests).
    var useEntryCount: Int { state.withLock { $0.uses.count } }

    private func update<Result>(_ client: String, _ body: (inout TokenBucket, ContinuousClock.Instant) -> Result) -> Result {
        let now = ContinuousClock.now
        return state.withLock { state in
            var bucket = state.buckets[client]?.bucket ?? TokenBucket(rate: rate, burst: burst, now: now)
            let result = body(&bucket, now)
            let use = state.nextUse
            state.nextUse += 1
            state.buckets[client] = (bucket, use)
            state.uses.append((client, use))
            while state.buckets.count > maxClients, let oldest = state.uses.popFirst() {
                if state.buckets[oldest.client]?.use == oldest.use { state.buckets[oldest.client] = nil }
            }
            // A client used over and over leaves stale entries behind: once they outnumber the live ones, keep only the
            // live (still in use order). O(n) once every n uses: amortised constant, and memory within twice the buckets.
            if state.uses.count > 2 * state.buckets.count + 1024 {
                let buckets = state.buckets
                state.uses = Deque(state.uses.filter { buckets[$0.client]?.use == $0.use })
            }
            return result
        }
    }
}
