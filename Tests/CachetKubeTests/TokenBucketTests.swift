import CachetDevCluster
import CachetKube
import Testing

/// The one token bucket behind the API request limit, the retry budget and the HTTP endpoints' limits.
struct TokenBucketTests {
    let start = ContinuousClock.now

    @Test("take: a full bucket gives burst tokens at once, then one per 1/rate seconds")
    func take() {
        var bucket = TokenBucket(rate: 2, burst: 3, now: start)
        let first = (0..<4).map { _ in bucket.take(now: start) }
        #expect(first == [true, true, true, false])
        let early = bucket.take(now: start + .milliseconds(400)), onTime = bucket.take(now: start + .milliseconds(500))
        #expect(!early && onTime)
        let later = (0..<4).map { _ in bucket.take(now: start + .seconds(60)) }
        #expect(later == [true, true, true, false], "never more than burst")
    }

    @Test("reserve: waits grow by 1/rate once the burst is spent, in the order reserved")
    func reserve() {
        var bucket = TokenBucket(rate: 10, burst: 2, now: start)
        let waits = (0..<5).map { _ in bucket.reserve(now: start) }
        #expect(waits == [.zero, .zero, .milliseconds(100), .milliseconds(200), .milliseconds(300)])
        let later = bucket.reserve(now: start + .seconds(1))
        #expect(later == .zero, "a second later the debt is paid and the bucket refilled")
    }

    @Test("a client with a request rate spaces its requests; without one it does not wait")
    func clientRate() async throws {
        let cluster = await DevCluster(settings: .init())
        try await cluster.start()
        let limited = try KubeClient(config: cluster.clientConfig(), requestRate: TokenBucket(rate: 20, burst: 1))
        let started = ContinuousClock.now
        for _ in 0..<5 { _ = try await limited.get(.namespaces, name: "default") }
        // Five requests with one token at hand and 20 more a second cannot finish in under 200 ms.
        #expect(ContinuousClock.now - started >= .milliseconds(200))
        try await limited.shutdown()
        await cluster.shutdown()
    }
}

/// The one backoff rule behind every retry.
struct BackoffTests {
    @Test("doubles from the initial delay after each failure, capped; reset starts again")
    func doubles() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (0..<6).map { _ in backoff.next() }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(backoff.failures == 6)
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
    }

    @Test("any number of failures: no overflow, never past the cap, never below the initial delay")
    func extremes() {
        let backoff = Backoff(initial: .seconds(300), maximum: .seconds(300))
        #expect(backoff.delay(afterFailures: Int.max) == .seconds(300))
        #expect(backoff.delay(afterFailures: Int.min) == .seconds(300))
        #expect(backoff.delay(afterFailures: 0) == .seconds(300))
        #expect(Backoff(initial: .seconds(2), maximum: .seconds(1)).delay(afterFailures: 1) == .seconds(1), "the cap wins")
    }
}
