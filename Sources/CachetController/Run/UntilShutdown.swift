import CachetKube
import Logging
import ServiceLifecycle

/// Runs `body` until graceful shutdown (or cancellation), when it is cancelled and this returns normally. Should
/// `body` end or fail before then, the failure is logged and `body` starts again after a backoff (1 s, doubling to
/// 30 s, from 1 s again once a run lasted a minute): a long-running part of the controller never stops by itself, and
/// never takes the others down with it.
func untilShutdown(_ what: String, logger: Logger, _ body: @escaping @Sendable () async throws -> Void) async {
    var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30))
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        let started = ContinuousClock.now
        do {
            try await cancelWhenGracefulShutdown { try await body() }
        } catch {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            logger.error("\(what) failed; restarting it", metadata: ["reason": "\(error)"])
        }
        if ContinuousClock.now - started > .seconds(60) { backoff.reset() }
        // The pause ends at graceful shutdown too: SIGTERM must not wait out a 30-second backoff.
        let pause = backoff.next()
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
    }
}
