import Testing
@testable import CachetController

/// The reconciler's queue: retries with backoff, forever or up to `maxRetries`.
struct WorkQueueTests {
    /// Takes `key`'s next turn (it must be due) and fails it.
    func failOnce(_ queue: WorkQueue, _ key: String) async {
        await queue.promoteDueRetries()
        let next = await queue.next()
        #expect(next == key)
        await queue.retry(key)
    }

    @Test("a failing key is retried forever by default")
    func forever() async {
        let queue = WorkQueue(baseDelay: .zero, maxDelay: .zero)
        await queue.add("ns/a")
        for _ in 0..<20 { await failOnce(queue, "ns/a") }
        #expect(await queue.retrying == ["ns/a"])
        #expect(await queue.failureCount("ns/a") == 20)
    }

    @Test("with maxRetries, a key gives up after that many retries and counts afresh when added again")
    func givesUp() async {
        let queue = WorkQueue(baseDelay: .zero, maxDelay: .zero, maxRetries: 2)
        await queue.add("ns/a")
        await failOnce(queue, "ns/a")  // the first attempt: retry 1 scheduled
        await failOnce(queue, "ns/a")  // retry 1: retry 2 scheduled
        #expect(await queue.retrying == ["ns/a"])
        await failOnce(queue, "ns/a")  // retry 2 fails: no more
        #expect(await queue.retrying.isEmpty)
        #expect(await queue.depth == 0)
        #expect(await queue.failureCount("ns/a") == 0)
        await queue.add("ns/a")  // a change, a new key or the resync
        await failOnce(queue, "ns/a")
        #expect(await queue.retrying == ["ns/a"])
    }
}
