import Synchronization

/// A wake-up call for one waiting task: ``wait(until:)`` returns at its deadline, at a ``signal()``, or when the
/// task is cancelled. A signal given while nobody waits is kept (one), so a wake-up between two waits is not lost.
///
/// What the controller's loops sleep on instead of polling: the work queue until its next retry is due or a sooner
/// one is scheduled, the reconciler until a key is added.
final class Wakeup: Sendable {
    private let state = Mutex<(signalled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or the next one to wait.
    func signal() {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter else {
                state.signalled = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at `deadline` (never, if nil), at a signal, or on cancellation, whichever comes first. One waiter at a
    /// time.
    func wait(until deadline: ContinuousClock.Instant?) async {
        guard let deadline else { return await waitForSignal() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Cancelled before the waiter is stored: the handler below found nothing to resume, so resume here.
                let resumeNow = state.withLock { state in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    // One waiter at a time, by design (a second would silently replace the first, which would then
                    // never wake): a programming error, caught by the tests.
                    precondition(state.waiter == nil, "Wakeup has one waiter at a time")
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }
}
