import Logging
import ServiceLifecycle

/// Runs `body` until graceful shutdown (or cancellation), when it is cancelled and this returns normally. Should
/// `body` end or fail before then, the failure is logged and `body` starts again after a pause: a long-running part
/// of the controller never stops by itself, and never takes the others down with it.
func untilShutdown(_ what: String, logger: Logger, _ body: @escaping @Sendable () async throws -> Void) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        do {
            try await cancelWhenGracefulShutdown { try await body() }
        } catch {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            logger.error("\(what) failed; restarting it", metadata: ["reason": "\(error)"])
        }
        try? await Task.sleep(for: .seconds(1))
    }
}
