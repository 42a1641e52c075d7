/// Capped exponential backoff: `initial` after the first failure, doubling after each further one, never more than
/// `maximum`. The one rule for every retry in the controller — API requests, watches, loading keys, failed objects,
/// restarted loops — so that none of them can hammer a struggling API server, and all of them read alike.
package struct Backoff: Sendable {
    package let initial: Duration
    package let maximum: Duration
    /// Failures since the last ``reset()``.
    package private(set) var failures = 0

    package init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait after `failures` failures in a row (1 is the first): `initial × 2^(failures − 1)`, never more than
    /// `maximum`.
    package func delay(afterFailures failures: Int) -> Duration {
        // Doubling stops at 2^30: far past any cap, and no overflow (nor for any count, negative ones included).
        let doublings = failures <= 1 ? 0 : min(failures - 1, 30)
        return min(initial * (1 << doublings), maximum)
    }

    /// Counts one more failure and returns how long to wait before trying again.
    package mutating func next() -> Duration {
        failures += 1
        return delay(afterFailures: failures)
    }

    /// After a success: the next failure waits `initial` again.
    package mutating func reset() {
        failures = 0
    }
}
