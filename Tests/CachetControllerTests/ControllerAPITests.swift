import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// The HTTP API (`/healthz`, `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`) and `/metrics`.
@Suite("controller: HTTP API and metrics")
struct ControllerAPITests {
    @Test("verify: 200 for a SealedSecret it can open, 409 otherwise, with one constant body whatever went wrong")
    func verify() async throws {
        try await ControllerHarness.with { harness in
            let url = harness.apiURL + "/v1/verify"
            let good = try ControllerHarness.sealed("v").jsonBytes
            let ok = try await harness.request(url, method: "POST", body: good)
            #expect(ok.status == 200)

            // Every way of failing looks the same from outside: wrong key, wrong scope, altered value, bad base64,
            // template data, a missing item's worth of garbage.
            let otherKey = try SealingKey(pem: Array(try Certificate.selfSigned(for: RSAPrivateKey.generate(bits: 2048)).pem.utf8))
            var movedScope = try ControllerHarness.sealed("v")
            movedScope.setValue(.string("team-b"), at: ["metadata", "namespace"])
            var altered = try ControllerHarness.sealed("v")
            let value = try #require(altered.string(at: ["spec", "encryptedData", "password"]))
            altered.setValue(.string(String(value.dropLast(8)) + "AAAAAAA="), at: ["spec", "encryptedData", "password"])
            var notBase64 = try ControllerHarness.sealed("v")
            notBase64.setValue(.string("!!!"), at: ["spec", "encryptedData", "password"])
            var templated = try ControllerHarness.sealed("v")
            templated.setValue(.object([("x", .string("{{ index . \"password\" }}"))]), at: ["spec", "template", "data"])
            let failures = [
                try ControllerHarness.sealed("v", sealingKey: otherKey), movedScope, altered, notBase64, templated,
            ]
            var bodies: Set<[UInt8]> = []
            for failure in failures {
                let response = try await harness.request(url, method: "POST", body: failure.jsonBytes)
                #expect(response.status == 409)
                bodies.insert(response.body)
            }
            #expect(bodies.count == 1)
            #expect(String(decoding: bodies.first ?? [], as: UTF8.self) == "cannot decrypt\n")

            // YAML works too; two documents or another kind are a 400 that says nothing of the content.
            let yaml = try ManifestFormat.yaml.writeBody(try ControllerHarness.sealed("v"))
            #expect(try await harness.request(url, method: "POST", body: yaml).status == 200)
            let twoDocuments = yaml + Array("\n---\n".utf8) + yaml
            #expect(try await harness.request(url, method: "POST", body: twoDocuments).status == 400)
            #expect(try await harness.request(url, method: "POST", body: Array("kind: Secret\napiVersion: v1\n".utf8)).status == 400)
            #expect(try await harness.request(url).status == 405)
        }
    }

    @Test("rotate: re-encrypts to the newest key, for the scope of the top-level metadata, never the template's")
    func rotate() async throws {
        try await ControllerHarness.with { harness in
            await harness.controller.keys.renewNow()
            let newest = try #require(harness.controller.keys.newestSealingKey)
            #expect(newest.keyID != FixtureKeys.sealingKey.keyID)

            // The attack of CVE-2026-22728: a strict value, with the template claiming cluster-wide.
            var object = try ControllerHarness.sealed("r", items: ["password": Support.canary])
            object.setValue(.string("true"), at: ["spec", "template", "metadata", "annotations", Annotations.clusterWide])
            let response = try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: object.jsonBytes)
            #expect(response.status == 200)
            #expect(!response.body.containsSequence(Array(Support.canary.utf8)))
            let rotated = try SealedSecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(in: response.body)).first))
            #expect(rotated.sealedBy.first == newest.keyID)
            #expect(rotated.scopeKind == .strict)
            #expect(rotated.metadata.annotations[Annotations.clusterWide] == nil)

            // The rotated values open only for team-a/r, only with the new key.
            let keyRing = harness.controller.keys.keyRing
            let value = try #require(rotated.encryptedData["password"])
            let (plaintext, opening) = try keyRing.open(sealedValue: value, scope: .strict(namespace: "team-a", name: "r"), item: "password")
            #expect(opening.keyID == newest.keyID)
            #expect(plaintext.withUnsafeBytes { Array($0) } == Array(Support.canary.utf8))
            #expect(throws: (any Error).self) { try keyRing.open(sealedValue: value, scope: .clusterWide, item: "k", preferring: []) }

            // What cannot be opened cannot be rotated: the same 409 as verify.
            var broken = object
            broken.setValue(.string("team-b"), at: ["metadata", "namespace"])
            let refused = try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: broken.jsonBytes)
            #expect(refused.status == 409 && String(decoding: refused.body, as: UTF8.self) == "cannot decrypt\n")
        }
    }

    @Test("rotate of a List: one result per object in order, a Status where it cannot decrypt or the budget ran out; capped in items")
    func rotateList() async throws {
        try await ControllerHarness.with(configure: {
            $0.apiWork.maxItems = 8
            $0.apiWork.maxOperationsPerRequest = 6
        }) { harness in
            await harness.controller.keys.renewNow()
            let newest = try #require(harness.controller.keys.newestSealingKey)
            func list(_ objects: [ManifestValue]) -> [UInt8] {
                ManifestValue.object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(objects))]).jsonBytes
            }
            var moved = try ControllerHarness.sealed("b")
            moved.setValue(.string("team-b"), at: ["metadata", "namespace"])
            let objects = [try ControllerHarness.sealed("a"), moved, try ControllerHarness.sealed("c")]
            let response = try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: list(objects))
            #expect(response.status == 200)
            let items = try #require(try ManifestValue(json: response.body)["items"]?.arrayValue)
            #expect(items.count == 3)
            #expect(items[0]["metadata"]?["name"]?.stringValue == "a" && items[2]["metadata"]?["name"]?.stringValue == "c")
            #expect(items[1] == ControllerAPI.cannotDecryptStatus)
            for index in [0, 2] {
                let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: items[index].jsonBytes)).first)
                #expect(try SealedSecretManifest(object).sealedBy.first == newest.keyID)
            }

            // Six operations per request; two keys, so each one-value object may take two at worst. Whether an object
            // is tried is decided before trying it, from that worst case: the fourth and fifth are to be sent again
            // (429, never "cannot decrypt"), whatever the first three cost — a value that does not open (it tries both
            // keys) and ones that open at once (the hint names the key) give the same pattern, so the answers say
            // nothing more than single requests would.
            func statuses(_ objects: [ManifestValue]) async throws -> [ManifestValue?] {
                let answer = try ManifestValue(json: try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: list(objects)).body)
                return try #require(answer["items"]?.arrayValue).map { $0["kind"]?.stringValue == "Status" ? $0["code"] : nil }
            }
            let five = try (0..<5).map { try ControllerHarness.sealed("n\($0)") }
            #expect(try await statuses(five) == [nil, nil, nil, .number("429"), .number("429")])
            #expect(try await statuses([moved] + five.prefix(4)) == [.number("409"), nil, nil, .number("429"), .number("429")])
            #expect(try await statuses([moved, moved, moved] + five.prefix(2)) == [.number("409"), .number("409"), .number("409"), .number("429"), .number("429")])

            // More items than a request may carry: 413, whatever the objects. Not a List: 400 as before.
            let nine = try (0..<9).map { try ControllerHarness.sealed("m\($0)") }
            #expect(try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: list(nine)).status == 413)
            #expect(try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: list([])).status == 400)
            let notSealed = list([.object([("apiVersion", .string("v1")), ("kind", .string("Secret"))])])
            #expect(try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: notSealed).status == 400)
            // verify stays one object.
            #expect(try await harness.request(harness.apiURL + "/v1/verify", method: "POST", body: list(Array(five.prefix(2)))).status == 400)
        }
    }

    @Test("bodies over 2 MiB get 413; verify and rotate are rate-limited per client, and a forged X-Forwarded-For buys nothing")
    func abuse() async throws {
        // A slow refill (one token per 100 s), so that the count does not depend on how fast a loaded machine runs.
        try await ControllerHarness.with(configure: { $0.rateLimit = 0.01; $0.rateLimitBurst = 2 }) { harness in
            let huge = [UInt8](repeating: UInt8(ascii: " "), count: (2 << 20) + 1)
            #expect(try await harness.request(harness.apiURL + "/v1/verify", method: "POST", body: huge).status == 413)

            let body = try ControllerHarness.sealed("limited").jsonBytes
            var statuses: [Int] = []
            for attempt in 0..<6 {
                // The proxy appends the real client last; earlier entries are the client's own and are ignored.
                let forged = [("X-Forwarded-For", "10.0.0.\(attempt), 192.0.2.7")]
                statuses.append(try await harness.request(harness.apiURL + "/v1/rotate", method: "POST", body: body, headers: forged).status)
            }
            #expect(statuses == [200, 200, 429, 429, 429, 429], "\(statuses)")
            // Another client (another last entry) has its own allowance.
            let other = try await harness.request(harness.apiURL + "/v1/verify", method: "POST", body: body, headers: [("X-Forwarded-For", "192.0.2.8")])
            #expect(other.status == 200)
            // The cert and health endpoints are not limited.
            for _ in 0..<5 { #expect(try await harness.request(harness.apiURL + "/v1/cert.pem").status == 200) }
        }
    }

    @Test("the API answers /healthz before any key exists; cert.pem says 503 until one is loaded")
    func upBeforeKeys() async throws {
        // Every request fails for a while: the key manager cannot list its Secrets.
        try await ControllerHarness.withKeysDelayed(failures: 5) { base in
            let health = try await ControllerHarness.request(base + "/healthz")
            #expect(health.status == 200 && String(decoding: health.body, as: UTF8.self) == "ok\n")
            #expect(try await ControllerHarness.request(base + "/v1/cert.pem").status == 503)
            try await eventually("a key once the API server answers") { try await ControllerHarness.request(base + "/v1/cert.pem").status == 200 }
        }
    }

    @Test("/metrics: Bitnami's names in the Prometheus text format, accepted by promtool")
    func metrics() async throws {
        try await ControllerHarness.with { harness in
            _ = try await harness.apply(ControllerHarness.sealed("m"))
            _ = try await harness.apply(ControllerHarness.sealed("m-bad", sealingKey: try SealingKey(
                pem: Array(try Certificate.selfSigned(for: RSAPrivateKey.generate(bits: 2048)).pem.utf8))))
            try await eventually("both reconciled") {
                let good = try await harness.sealedSecret("m").synced?.status
                let bad = try await harness.sealedSecret("m-bad").synced?.status
                return good == "True" && bad == "False"
            }
            _ = try await harness.request(harness.apiURL + "/v1/cert.pem")
            _ = try await harness.request(harness.apiURL + "/v1/verify", method: "POST", body: try ControllerHarness.sealed("m").jsonBytes)
            let response = try await harness.request(harness.metricsURL + "/metrics")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(decoding: response.body, as: UTF8.self)
            for name in ["build_info", "unseal_requests_total", "unseal_errors_total", "condition_info", "http_requests_total",
                         "http_request_duration_seconds"] {
                #expect(text.contains("# TYPE sealed_secrets_controller_\(name) "), "\(name)")
            }
            #expect(text.contains(#"sealed_secrets_controller_unseal_errors_total{reason="unseal",namespace="team-a"}"#))
            #expect(text.contains(#"sealed_secrets_controller_http_requests_total{path="/v1/verify",code="200",method="POST"} 1"#))
            #expect(!text.contains(Support.canary))

            try await Self.expectPromtoolAccepts(response.body)
        }
    }

    /// `promtool check metrics` on an exposition text: the format Prometheus itself reads.
    static func expectPromtoolAccepts(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("promtool is not installed (Debian package prometheus; scripts/bootstrap installs it)", sourceLocation: sourceLocation)
            return
        }
        let checked = try await TestProcess.runOffPool(URL(fileURLWithPath: promtool), ["check", "metrics"], stdin: Data(body))
        #expect(checked.status == 0, "\(checked.error)", sourceLocation: sourceLocation)
    }

    @Test("unknown paths are 404; /healthz answers any method")
    func routing() async throws {
        try await ControllerHarness.with { harness in
            let unknown = try await harness.request(harness.apiURL + "/v1/secrets")
            let health = try await harness.request(harness.apiURL + "/healthz", method: "POST")
            let metricsHealth = try await harness.request(harness.metricsURL + "/healthz")
            let wrongMethod = try await harness.request(harness.apiURL + "/v1/cert.pem", method: "POST")
            #expect(unknown.status == 404 && health.status == 200 && metricsHealth.status == 200 && wrongMethod.status == 405)
        }
    }
}
