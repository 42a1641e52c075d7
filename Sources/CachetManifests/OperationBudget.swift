import Synchronization

/// A cap on the private-key operations (RSA decryptions, X25519 unwraps) one piece of work may cause, and a count of
/// those it did.
///
/// Opening a value tries keys until one fits; with many rotated keys and no hint that is one operation per key. Work
/// done on someone else's request (the controller's `/v1/verify` and `/v1/rotate`) carries a budget, so that no
/// request, however crafted, costs more than its cap: past it, values simply do not open.
package final class OperationBudget: Sendable {
    package let limit: Int
    private let taken = Atomic<Int>(0)

    package init(limit: Int) {
        self.limit = limit
    }

    /// Takes one operation; false (and nothing taken) once the limit is reached.
    package func take() -> Bool {
        while true {
            let current = taken.load(ordering: .relaxed)
            guard current < limit else { return false }
            if taken.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    /// The operations taken so far.
    package var used: Int { taken.load(ordering: .relaxed) }
}
