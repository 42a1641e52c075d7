import CachetCrypto
import CachetDevCluster
import CachetManifests
import CachetTransport
import Foundation
import Testing

/// The CLI's blocking HTTP/1.1 client, against the dev cluster over HTTP and HTTPS.
struct BlockingHTTPTests {
    @Test("plain HTTP: content-length and chunked bodies, status and headers")
    func plain() async throws {
        let harness = try await Harness.start()
        defer { Task { await harness.close() } }
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

    @Test("HTTPS: verified against the CA, by IP and by name; a wrong CA is refused; client certificates work")
    func tls() async throws {
        var settings = DevCluster.Settings(tls: try DevCluster.TLSMaterial.generate())
        settings.tls?.requireClientCertificate = true
        let harness = try await Harness.start(settings: settings)
        defer { Task { await harness.close() } }
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
