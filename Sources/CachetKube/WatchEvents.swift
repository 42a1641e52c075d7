import AsyncHTTPClient
import CachetManifests
import NIOCore

/// The events of one watch request, read line by line as they arrive. Created by ``KubeClient/watch``.
package struct WatchEvents: AsyncSequence, Sendable {
    package typealias Element = WatchEvent

    let client: KubeClient
    let path: String
    let query: [(String, String)]
    let timeoutSeconds: Int

    package func makeAsyncIterator() -> Iterator {
        Iterator(source: self)
    }

    package struct Iterator: AsyncIteratorProtocol {
        let source: WatchEvents
        var body: HTTPClientResponse.Body.AsyncIterator?
        var buffer: [UInt8] = []
        var finished = false

        /// One event is at most this long; a longer line is a broken stream, not a reason to grow without bound.
        static let maxEventBytes = 16 << 20

        init(source: WatchEvents) {
            self.source = source
        }

        package mutating func next() async throws -> WatchEvent? {
            if finished { return nil }
            if body == nil { try await start() }
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                    return try Self.decode(line)
                }
                guard buffer.count <= Self.maxEventBytes else {
                    throw KubeError(.decoding, "a watch event is longer than \(Self.maxEventBytes) bytes")
                }
                guard let chunk = try await body!.next() else {
                    finished = true
                    if buffer.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D }) { return nil }
                    return try Self.decode(buffer)
                }
                buffer += chunk.readableBytesView
            }
        }

        private mutating func start() async throws {
            let client = source.client
            let request = try await client.prepare(.GET, source.path, query: source.query, body: nil,
                                                   contentType: "application/json", accept: "application/json")
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeoutSeconds: source.timeoutSeconds)
            } catch {
                throw KubeError(.transport, "cannot reach the API server at \(client.config.server): \(error)")
            }
            let status = Int(response.status.code)
            guard status == 200 else {
                if status == 401 { _ = await client.refused(request) }  // the watcher's next list runs the plugin again
                var errorBody = try await response.body.collect(upTo: 1 << 20)
                throw KubeClient.error(status: status, body: errorBody.readBytes(length: errorBody.readableBytes) ?? [],
                                       retryAfter: KubeClient.retryAfter(response.headers.first(name: "Retry-After")))
            }
            body = response.body.makeAsyncIterator()
        }

        static func decode(_ line: [UInt8]) throws -> WatchEvent {
            let event: ManifestValue
            do {
                event = try ManifestValue(json: line)
            } catch {
                throw KubeError(.decoding, "a watch event is not JSON: \(error)")
            }
            guard let type = event["type"]?.stringValue.flatMap(WatchEvent.Kind.init(rawValue:)), let object = event["object"] else {
                throw KubeError(.decoding, "a watch event has no type or object")
            }
            if type == .error {
                // The server reports a failed watch (410 Gone for an expired resourceVersion) as an event.
                let code = Int(object["code"].flatMap { if case .number(let text) = $0 { text } else { nil } } ?? "") ?? 500
                let reason = object["reason"]?.stringValue
                throw KubeError(KubeError.code(forStatus: code, reason: reason),
                                object["message"]?.stringValue ?? "the watch failed", status: code, reason: reason)
            }
            return WatchEvent(kind: type, object: object)
        }
    }
}
