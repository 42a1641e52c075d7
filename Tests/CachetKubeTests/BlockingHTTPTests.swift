import CachetCrypto
import CachetDevCluster
import CachetManifests
import CachetTransport
import Foundation
import CachetTestSupport
import Testing

/// The CLI's blocking HTTP/1.1 client, against the dev cluster over HTTP and HTTPS.
struct BlockingHTTPTests {
    @Test("plain HTTP: content-length and chunked bodies, status and headers")
    func plain() async throws {
        try await Harness.with { harness in
            let url = harness.cluster.url
            let version = try await blocking(.init(url: url + "/version"))
            #expect(version.status == 200 && version.header("content-type") == "application/json")
            #expect(String(decoding: version.body, as: UTF8.self).contains("gitVersion"))
            // A watch that times out is a chunked body that ends.
            let watch = try await blocking(.init(url: url + "/api/v1/namespaces?watch=true&timeoutSeconds=1"))
            #expect(watch.status == 200)
            #expect(String(decoding: watch.body, as: UTF8.self).split(separator: "\n").count >= 4)
            let created = try await blocking(.init(method: "POST", url: url + "/api/v1/namespaces",
                                                      headers: [("Content-Type", "application/json")],
                                                      body: Array(#"{"metadata":{"name":"via-blocking"}}"#.utf8)))
            #expect(created.status == 201)
            let missing = try await blocking(.init(url: url + "/api/v1/namespaces/absent"))
            #expect(missing.status == 404)
        }
    }

    @Test("HTTPS: verified against the CA, by IP and by name; a wrong CA is refused; client certificates work")
    func tls() async throws {
        var settings = DevCluster.Settings(tls: try DevCluster.TLSMaterial.generate())
        settings.tls?.requireClientCertificate = true
        try await Harness.with(settings: settings) { harness in
            let material = try #require(settings.tls)
            var tls = BlockingHTTP.TLSSettings(certificateAuthorityPEM: material.certificateAuthorityPEM)
            tls.clientCertificatePEM = material.clientCertificatePEM
            tls.clientKeyPEM = material.clientKeyPEM
            #expect(try await blocking(.init(url: harness.cluster.url + "/version"), tls: tls).status == 200)
            let byName = harness.cluster.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            #expect(try await blocking(.init(url: byName + "/version"), tls: tls).status == 200)

            var wrong = tls
            wrong.certificateAuthorityPEM = try DevCluster.TLSMaterial.generate().certificateAuthorityPEM
            await #expect(throws: BlockingHTTP.Failure.self) { try await blocking(.init(url: harness.cluster.url + "/version"), tls: wrong) }
            do {
                _ = try await blocking(.init(url: harness.cluster.url + "/version"), tls: wrong)
                Issue.record("a wrong CA was accepted")
            } catch {
                #expect("\(error)".contains("not trusted"))
            }
            var anonymous = tls
            anonymous.clientCertificatePEM = nil
            anonymous.clientKeyPEM = nil
            await #expect(throws: BlockingHTTP.Failure.self) { try await blocking(.init(url: harness.cluster.url + "/version"), tls: anonymous) }
        }
    }

    @Test("unusable URLs are refused with a reason", arguments: ["ftp://x/", "https://", "http://host:99999/", "https://no-such-host.invalid/"])
    func badURLs(url: String) async {
        await #expect(throws: BlockingHTTP.Failure.self) { try await blocking(.init(url: url), timeoutSeconds: 5) }
    }
}

/// Runs a blocking request on a thread of its own. The dev cluster in the same process serves requests on Swift's
/// cooperative thread pool; blocking one of its few threads on a socket read could starve the very server being read.
func blocking(_ request: BlockingHTTP.Request, tls: BlockingHTTP.TLSSettings = .init(), timeoutSeconds: Int = 30) async throws -> BlockingHTTP.Response {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try BlockingHTTP.send(request, tls: tls, timeoutSeconds: timeoutSeconds) })
        }.start()
    }
}

/// Answers the client cannot trust: each must be a ``BlockingHTTP/Failure``, never a crash or a hang.
struct HostileAnswerTests {
    @Test("malformed lengths and chunk sizes are refused", arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7FFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "HTTP/1.1 -200 OK\r\n\r\n",
        "SMTP ready\r\n\r\n",
    ])
    func malformed(answer: String) async throws {
        let server = try ScriptedServer(chunks: [Array(answer.utf8)])
        await #expect(throws: BlockingHTTP.Failure.self) {
            try await blocking(.init(url: "http://127.0.0.1:\(server.port)/"), timeoutSeconds: 10)
        }
    }

    @Test("a well-formed answer from the same server reads")
    func wellFormed() async throws {
        let server = try ScriptedServer(chunks: [Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8)])
        let response = try await blocking(.init(url: "http://127.0.0.1:\(server.port)/"), timeoutSeconds: 10)
        #expect(response.status == 200 && response.body == Array("hello".utf8))
    }

    /// Per-read timeouts let a server that sends one byte every few seconds hold the CLI for minutes.
    @Test("a server trickling its answer is cut off at the overall deadline")
    func trickle() async throws {
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".utf8)
        let server = try ScriptedServer(chunks: [head] + Array(repeating: [UInt8(ascii: "x")], count: 100), pause: .milliseconds(300))
        do {
            _ = try await blocking(.init(url: "http://127.0.0.1:\(server.port)/"), timeoutSeconds: 2)
            Issue.record("a trickled answer was waited for to the end")
        } catch {
            #expect("\(error)".contains("timed out"), "\(error)")
        }
    }
}

extension HostileAnswerTests {
    /// Each tiny chunk shifted the whole buffer (quadratic), and a socket that always has data never reached the
    /// deadline check: millions of one-byte chunks held the CLI for 108 s.
    @Test("a flood of one-byte chunks ends at the deadline or the size limit, not minutes later")
    func chunkFlood() async throws {
        let chunk = Array("1\r\nA\r\n".utf8)
        let flood = Array([[UInt8]](repeating: chunk, count: 400_000).joined())
        let server = try ScriptedServer(chunks: [Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)]
                                            + Array(repeating: flood, count: 20))
        // Timed on the client's own thread: on a loaded machine the test task may wait long to be resumed, and that
        // is not the client's time.
        let (outcome, elapsed) = await withCheckedContinuation { continuation in
            Thread {
                let started = ContinuousClock.now
                let outcome = Result { try BlockingHTTP.send(.init(url: "http://127.0.0.1:\(server.port)/"), timeoutSeconds: 3) }
                continuation.resume(returning: (outcome, ContinuousClock.now - started))
            }.start()
        }
        #expect(throws: BlockingHTTP.Failure.self) { try outcome.get() }
        #expect(elapsed < .seconds(30), "the deadline was not kept")
        let parsed = try BlockingHTTP.parseResponse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                                                    + Array([[UInt8]](repeating: chunk, count: 100_000).joined()) + Array("0\r\n\r\n".utf8))
        #expect(parsed.body.count == 100_000)
    }
}

/// A one-connection server on 127.0.0.1: reads the request head, sends `chunks` with `pause` between them, closes.
final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32

    init(chunks: [[UInt8]], pause: Duration = .zero) throws {
        guard let (listener, port) = LoopbackSockets.bind(listening: true, backlog: 1) else { throw CocoaError(.fileWriteUnknown) }
        self.listener = listener
        self.port = port
        Thread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var request: [UInt8] = []
            var byte: UInt8 = 0
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]), recv(connection, &byte, 1, 0) == 1 { request.append(byte) }
            for chunk in chunks {
                guard chunk.withUnsafeBytes({ send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == chunk.count else { return }
                if pause > .zero { Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds)) }
            }
        }.start()
    }

    deinit { close(listener) }
}
