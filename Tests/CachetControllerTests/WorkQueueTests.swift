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

/// Retries come due by themselves: the queue sleeps until the next one instead of being polled.
@Suite("work queue: retries without polling")
struct WorkQueueTimerTests {
    /// The timer starts with nothing to wait for (it sleeps with no deadline): the retry must wake it, or `next()`
    /// would never return.
    @Test("a failed key is handed out again once its backoff has passed, and the timer ends at shutdown",
          .timeLimit(.minutes(1)))
    func retryComesDue() async throws {
        let queue = WorkQueue(baseDelay: .milliseconds(100), maxDelay: .milliseconds(100))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await queue.promoteRetriesWhenDue() }
            await queue.add("ns/a")
            #expect(await queue.next() == "ns/a")
            let failed = ContinuousClock.now
            await queue.retry("ns/a")
            #expect(await queue.next() == "ns/a")
            #expect(ContinuousClock.now - failed >= .milliseconds(100), "handed out before its backoff")
            await queue.done("ns/a", succeeded: true)
            await queue.shutdown()
            try await group.waitForAll()  // the timer returned
        }
        #expect(await queue.next() == nil)
    }
}

/// The wake-up call the controller's loops sleep on.
struct WakeupTests {
    @Test("a signal wakes the waiter at once; one given while nobody waits is kept for the next wait", .timeLimit(.minutes(1)))
    func signal() async {
        let wakeup = Wakeup()
        wakeup.signal()
        let started = ContinuousClock.now
        await wakeup.wait(until: .now + .seconds(30))
        #expect(ContinuousClock.now - started < .seconds(10))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await wakeup.wait(until: nil) }
            try? await Task.sleep(for: .milliseconds(50))
            wakeup.signal()
            await group.waitForAll()
        }
    }

    @Test("the deadline ends the wait; so does cancellation", .timeLimit(.minutes(1)))
    func deadlineAndCancellation() async {
        let wakeup = Wakeup()
        let started = ContinuousClock.now
        await wakeup.wait(until: .now + .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        let waiter = Task { await wakeup.wait(until: nil) }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
    }
}
