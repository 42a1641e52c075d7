/// Runs `body`, then `cleanUp`, awaited to its end whether `body` returned or threw: the scoped form of clean-ups
/// that must await (shutting a server or a client down). `defer { Task { … } }` only pretended to do this: its task
/// ran after the test had ended, if at all, and its failures went nowhere.
public func withCleanUp<Result>(
    _ body: () async throws -> Result, cleanUp: () async -> Void
) async throws -> Result {
    let result: Result
    do {
        result = try await body()
    } catch {
        await cleanUp()
        throw error
    }
    await cleanUp()
    return result
}
