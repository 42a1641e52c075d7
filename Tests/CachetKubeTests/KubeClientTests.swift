import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import Foundation
import Testing

/// The client against the dev cluster: CRUD, paging, watches, conflicts, and every injected fault.
struct KubeClientTests {
    @Test("create, get, update, status, merge patch, delete; server-set fields and typed errors")
    func crud() async throws {
        try await Harness.with { harness in
            let client = harness.client
            let created = try await client.create(.configMaps, .configMap("a", data: ["k": "v"]))
            #expect(created.string(at: ["metadata", "uid"])?.count == 36)
            #expect(created.resourceVersion != nil && created.string(at: ["metadata", "creationTimestamp"]) != nil)
            await expectKubeError(.alreadyExists) { _ = try await client.create(.configMaps, .configMap("a")) }
            await expectKubeError(.notFound) { _ = try await client.get(.configMaps, name: "missing", namespace: "default") }
            await expectKubeError(.invalid) { _ = try await client.create(.configMaps, .configMap("Not_Valid")) }
            await expectKubeError(.notFound) { _ = try await client.create(.configMaps, .configMap("x", namespace: "absent")) }

            var object = try await client.get(.configMaps, name: "a", namespace: "default")
            object.setValue(.string("w"), at: ["data", "k"])
            let updated = try await client.update(.configMaps, object)
            #expect(updated.string(at: ["data", "k"]) == "w")
            #expect(updated.resourceVersion != created.resourceVersion)
            // The old resourceVersion is stale now: 409, never a silent overwrite.
            await expectKubeError(.conflict) { _ = try await client.update(.configMaps, object) }

            let patched = try await client.patch(.configMaps, name: "a", namespace: "default",
                                                 mergePatch: .object([("data", .object([("k", .null), ("n", .string("1"))]))]))
            #expect(patched["data"] == .object([("n", .string("1"))]))
            try await client.delete(.configMaps, name: "a", namespace: "default")
            await expectKubeError(.notFound) { try await client.delete(.configMaps, name: "a", namespace: "default") }
        }
    }

    @Test("Events are recorded about an object; Leases are ordinary objects with optimistic concurrency")
    func eventsAndLeases() async throws {
        try await Harness.with { harness in
            let client = harness.client
            let object = try await client.create(.configMaps, .configMap("subject"))
            let event = try await client.recordEvent(about: object, type: "Warning", reason: "ErrUnsealFailed", message: "no key", component: "cachet")
            #expect(event.name?.hasPrefix("subject.") == true)
            let events = try await client.list(.events, namespace: "default", fieldSelector: nil)
            #expect(events.items.first?.string(at: ["involvedObject", "uid"]) == object.string(at: ["metadata", "uid"]))
            #expect(events.items.first?.string(at: ["reason"]) == "ErrUnsealFailed")

            let lease = try await client.create(.leases, .object([
                ("metadata", .object([("name", .string("cachet-controller")), ("namespace", .string("kube-system"))])),
                ("spec", .object([("holderIdentity", .string("pod-a")), ("leaseDurationSeconds", .number("15"))])),
            ]))
            var takeover = lease
            takeover.setValue(.string("pod-b"), at: ["spec", "holderIdentity"])
            _ = try await client.update(.leases, takeover)
            var late = lease
            late.setValue(.string("pod-c"), at: ["spec", "holderIdentity"])
            await expectKubeError(.conflict) { _ = try await client.update(.leases, late) }
        }
    }

    @Test("a write that changes nothing changes no resourceVersion")
    func noOpUpdate() async throws {
        try await Harness.with { harness in
            let created = try await harness.client.create(.configMaps, .configMap("a", data: ["k": "v"]))
            let again = try await harness.client.update(.configMaps, created)
            #expect(again.resourceVersion == created.resourceVersion)
        }
    }

    @Test("status subresource: status writes ignore spec and vice versa; generation counts spec changes only")
    func statusSubresource() async throws {
        try await Harness.with { harness in
            let client = harness.client
            let sealed = ManifestValue.object([
                ("apiVersion", .string("bitnami.com/v1alpha1")), ("kind", .string("SealedSecret")),
                ("metadata", .object([("name", .string("s")), ("namespace", .string("default"))])),
                ("spec", .object([("encryptedData", .object([("k", .string("AQ=="))]))])),
                ("status", .object([("observedGeneration", .number("7"))])),
            ])
            var object = try await client.create(.sealedSecrets, sealed)
            #expect(object["status"] == nil, "status is ignored on create")
            #expect(object.value(at: ["metadata", "generation"]) == .number("1"))

            object.setValue(.object([("observedGeneration", .number("1"))]), at: ["status"])
            object.setValue(.string("CHANGED"), at: ["spec", "encryptedData", "k"])
            let afterStatus = try await client.updateStatus(.sealedSecrets, object)
            #expect(afterStatus.value(at: ["status", "observedGeneration"]) == .number("1"))
            #expect(afterStatus.string(at: ["spec", "encryptedData", "k"]) == "AQ==", "a status write ignores spec")

            var next = afterStatus
            next.setValue(.object([("observedGeneration", .number("99"))]), at: ["status"])
            next.setValue(.string("AQAB"), at: ["spec", "encryptedData", "k"])
            let afterSpec = try await client.update(.sealedSecrets, next)
            #expect(afterSpec.value(at: ["status", "observedGeneration"]) == .number("1"), "an object write ignores status")
            #expect(afterSpec.value(at: ["metadata", "generation"]) == .number("2"))

            let labelled = try await client.patch(.sealedSecrets, name: "s", namespace: "default",
                                                  mergePatch: .object([("metadata", .object([("labels", .stringMap(["a": "b"]))]))]))
            #expect(labelled.value(at: ["metadata", "generation"]) == .number("2"), "metadata is not spec")
        }
    }

    @Test("updateRetryingConflicts re-reads and re-applies after a 409")
    func conflictRetry() async throws {
        try await Harness.with { harness in
            let client = harness.client
            _ = try await client.create(.configMaps, .configMap("a", data: ["count": "0"]))
            var interfered = false
            let result = try await client.updateRetryingConflicts(.configMaps, name: "a", namespace: "default") { object in
                if !interfered {
                    interfered = true
                    // Someone else writes between our read and our write.
                    var other = object
                    other.setValue(.string("other"), at: ["data", "by"])
                    _ = try await client.update(.configMaps, other)
                }
                let count = Int(object.string(at: ["data", "count"]) ?? "0")! + 1
                object.setValue(.string(String(count)), at: ["data", "count"])
                return true
            }
            #expect(result.string(at: ["data", "count"]) == "1")
            #expect(result.string(at: ["data", "by"]) == "other", "the other writer's change survives")
        }
    }

    @Test("paging follows continue tokens and serves the snapshot the list began with")
    func paging() async throws {
        try await Harness.with { harness in
            let client = harness.client
            for index in 0..<25 { _ = try await client.create(.configMaps, .configMap(String(format: "cm-%02d", index))) }
            let first = try await client.list(.configMaps, namespace: "default", limit: 10)
            #expect(first.items.count == 10 && first.continueToken != nil)
            _ = try await client.create(.configMaps, .configMap("cm-99"))  // after the snapshot
            let second = try await client.list(.configMaps, namespace: "default", limit: 10, continueToken: first.continueToken)
            let third = try await client.list(.configMaps, namespace: "default", limit: 10, continueToken: second.continueToken)
            #expect(third.continueToken == nil)
            let names = (first.items + second.items + third.items).compactMap(\.name)
            #expect(names == (0..<25).map { String(format: "cm-%02d", $0) })
            #expect(second.resourceVersion == first.resourceVersion)
            let all = try await client.listAll(.configMaps, namespace: "default", pageSize: 7)
            #expect(all.items.count == 26)
            let selected = try await client.list(.configMaps, namespace: "default", fieldSelector: "metadata.name=cm-03")
            #expect(selected.items.compactMap(\.name) == ["cm-03"])
            // A continue token from before a compaction is too old.
            let page = try await client.list(.configMaps, namespace: "default", limit: 5)
            await harness.cluster.compactHistory()
            await expectKubeError(.gone) { _ = try await client.list(.configMaps, namespace: "default", limit: 5, continueToken: page.continueToken) }
        }
    }

    @Test("a watch resumes from a resourceVersion, sees bookmarks, and a compacted one is 410 Gone")
    func watchResume() async throws {
        try await Harness.with { harness in
            let client = harness.client
            let first = try await client.create(.configMaps, .configMap("a", labels: ["app": "x"]))
            _ = try await client.create(.configMaps, .configMap("b"))
            _ = try await client.create(.configMaps, .configMap("c", labels: ["app": "x"]))
            // A generous timeout: the loop below ends at the first bookmark, and a loaded machine must not end the watch first.
            var events = client.watch(.configMaps, namespace: "default", resourceVersion: first.resourceVersion, labelSelector: "app=x",
                                      timeoutSeconds: 60).makeAsyncIterator()
            var replayed = try await events.next()
            while replayed?.kind == .bookmark { replayed = try await events.next() }
            #expect(replayed?.kind == .added && replayed?.object.name == "c", "b does not match the selector")
            _ = try await client.patch(.configMaps, name: "a", namespace: "default", mergePatch: .object([("data", .stringMap(["k": "v"]))]))
            // Bookmarks (every 200 ms) may come first on a loaded machine.
            var live = try await events.next()
            while live?.kind == .bookmark { live = try await events.next() }
            #expect(live?.kind == .modified && live?.object.name == "a")
            var sawBookmark = false
            while let event = try await events.next() {
                if event.kind == .bookmark { sawBookmark = true; break }
            }
            #expect(sawBookmark)

            await harness.cluster.compactHistory()
            var expired = client.watch(.configMaps, namespace: "default", resourceVersion: first.resourceVersion, timeoutSeconds: 5).makeAsyncIterator()
            await expectKubeError(.gone) { _ = try await expired.next() }
        }
    }

    @Test("the list-watch loop relists after 410 and resumes after dropped watches and restarts")
    func resourceWatcher() async throws {
        try await Harness.with { harness in
            let client = harness.client
            _ = try await client.create(.configMaps, .configMap("a"))
            var watcher = ResourceWatcher(client: client, type: .configMaps, namespace: "default")
            watcher.initialBackoff = .milliseconds(20)
            watcher.maxBackoff = .milliseconds(200)
            var changes = watcher.makeAsyncIterator()
            guard case .listed(let items, _)? = try await changes.next() else { Issue.record("expected a list first"); return }
            #expect(items.compactMap(\.name) == ["a"])

            _ = try await client.create(.configMaps, .configMap("b"))
            guard case .event(let added)? = try await changes.next() else { Issue.record("expected an event"); return }
            #expect(added.kind == .added && added.object.name == "b")

            // A dropped connection: the watch resumes from where it was, missing nothing.
            while await harness.cluster.openWatchCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            await harness.cluster.dropWatches()
            _ = try await client.create(.configMaps, .configMap("c"))
            guard case .event(let resumed)? = try await changes.next() else { Issue.record("expected an event"); return }
            #expect(resumed.object.name == "c")

            // Events missed and history gone (410): the loop lists again and reports the fresh snapshot. (The watch ends
            // while the loop is not reading; "d" happens unwatched; then the history it would resume from is compacted.)
            while await harness.cluster.openWatchCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            await harness.cluster.dropWatches()
            _ = try await client.create(.configMaps, .configMap("d"))
            await harness.cluster.compactHistory()
            var relisted: [String] = []
            while let change = try await changes.next() {
                if case .listed(let items, _) = change { relisted = items.compactMap(\.name); break }
            }
            #expect(relisted == ["a", "b", "c", "d"])

            // A restart that loses everything: the next list is empty.
            try await harness.cluster.restart(keepingState: false)
            var afterRestart: [String]?
            while let change = try await changes.next() {
                if case .listed(let items, _) = change { afterRestart = items.compactMap(\.name); break }
            }
            #expect(afterRestart == [])
        }
    }

    @Test("retries: 500 and 503 on reads, 429 with Retry-After, then success")
    func retriedFaults() async throws {
        try await Harness.with { harness in
            let client = harness.client
            harness.cluster.failNextRequests(2, status: 500)
            #expect(try await client.get(.namespaces, name: "default").name == "default")
            harness.cluster.failNextRequests(1, status: 503, retryAfter: 1)
            let start = ContinuousClock.now
            #expect(try await client.list(.namespaces).items.count >= 4)
            #expect(ContinuousClock.now - start >= .seconds(1), "Retry-After honoured")
            harness.cluster.failNextRequests(1, status: 429, retryAfter: 0)
            _ = try await client.create(.configMaps, .configMap("after-429"))
        }
    }

    @Test("faults that are not retried, or outlast the retries, surface as typed errors")
    func typedFaults() async throws {
        try await Harness.with { harness in
            let client = harness.client
            harness.cluster.failNextRequests(1, status: 403)
            await expectKubeError(.forbidden) { _ = try await client.list(.secrets) }
            harness.cluster.failNextRequests(10, status: 500)
            await expectKubeError(.serverError) { _ = try await client.list(.secrets) }
            harness.cluster.failNextRequests(10, status: 500)
            await expectKubeError(.serverError) { _ = try await client.create(.configMaps, .configMap("once")) }
            harness.cluster.clearFaults()
            let remaining = try await client.list(.configMaps, namespace: "default")
            #expect(!remaining.items.contains { $0.name == "once" }, "a failed POST is not repeated blindly")
            harness.cluster.delayResponses(by: .milliseconds(300))
            let start = ContinuousClock.now
            _ = try await client.get(.namespaces, name: "default")
            #expect(ContinuousClock.now - start >= .milliseconds(300))
        }
    }

    @Test("a wrong token is 401; the right one works")
    func authentication() async throws {
        try await Harness.with(settings: DevCluster.Settings(bearerToken: "right")) { harness in
            #expect(try await harness.client.get(.namespaces, name: "default").name == "default")
            var config = harness.cluster.clientConfig()
            config.credentials = .bearerToken("wrong")
            let wrong = try KubeClient(config: config)
            await expectKubeError(.unauthorized) { _ = try await wrong.get(.namespaces, name: "default") }
            try await wrong.shutdown()
        }
    }

    @Test("deleting an owner deletes what it owns (garbage collection), and a namespace takes its objects")
    func garbageCollection() async throws {
        try await Harness.with { harness in
            let client = harness.client
            _ = try await client.create(.namespaces, .object([("metadata", .object([("name", .string("team-a"))]))]))
            let owner = try await client.create(.sealedSecrets, .object([
                ("metadata", .object([("name", .string("s")), ("namespace", .string("team-a"))])),
                ("spec", .object([("encryptedData", .object([]))])),
            ]))
            var secret = ManifestValue.object([("metadata", .object([("name", .string("s")), ("namespace", .string("team-a"))])),
                                               ("stringData", .stringMap(["k": "v"]))])
            secret.setValue(.array([.object([
                ("apiVersion", .string("bitnami.com/v1alpha1")), ("kind", .string("SealedSecret")), ("name", .string("s")),
                ("uid", owner["metadata"]!["uid"]!), ("controller", .bool(true)),
            ])]), at: ["metadata", "ownerReferences"])
            let created = try await client.create(.secrets, secret)
            #expect(created.string(at: ["data", "k"]) == "dg==", "stringData is merged into data")
            _ = try await client.create(.configMaps, .configMap("kept", namespace: "team-a"))
            try await client.delete(.sealedSecrets, name: "s", namespace: "team-a")
            await expectKubeError(.notFound) { _ = try await client.get(.secrets, name: "s", namespace: "team-a") }
            #expect(try await client.get(.configMaps, name: "kept", namespace: "team-a").name == "kept")
            try await client.delete(.namespaces, name: "team-a")
            await expectKubeError(.notFound) { _ = try await client.get(.configMaps, name: "kept", namespace: "team-a") }
        }
    }

    @Test("HTTPS: the client verifies the server against the CA, refuses a wrong CA, and presents its certificate")
    func tls() async throws {
        var settings = DevCluster.Settings(tls: try DevCluster.TLSMaterial.generate())
        settings.tls?.requireClientCertificate = true
        try await Harness.with(settings: settings) { harness in
            #expect(try await harness.client.get(.namespaces, name: "default").name == "default")

            var wrongCA = harness.cluster.clientConfig()
            wrongCA.certificateAuthorityPEM = try DevCluster.TLSMaterial.generate().certificateAuthorityPEM
            let untrusting = try KubeClient(config: wrongCA, retry: .init(maxAttempts: 1))
            await expectKubeError(.transport) { _ = try await untrusting.get(.namespaces, name: "default") }
            try await untrusting.shutdown()

            var noClientCertificate = harness.cluster.clientConfig()
            noClientCertificate.clientCertificatePEM = nil
            noClientCertificate.clientKeyPEM = nil
            let anonymous = try KubeClient(config: noClientCertificate, retry: .init(maxAttempts: 1))
            await expectKubeError(.transport) { _ = try await anonymous.get(.namespaces, name: "default") }
            try await anonymous.shutdown()
        }
    }

    @Test("the service proxy reaches a Service's backend with GET and POST")
    func serviceProxy() async throws {
        try await Harness.with { harness in
            try await Harness.with { backend in
                try await proxy(harness.client, to: backend)
            }
        }
    }

    private func proxy(_ client: KubeClient, to backend: Harness) async throws {
        _ = try await client.create(.services, .object([
            ("metadata", .object([("name", .string("controller")), ("namespace", .string("kube-system")),
                                  ("annotations", .stringMap([DevCluster.backendAnnotation: backend.cluster.url]))])),
            ("spec", .object([("ports", .array([.object([("port", .number("8080"))])]))])),
        ]))
        let (status, body) = try await client.proxy(.GET, namespace: "kube-system", service: "controller", path: "/version")
        #expect(status == 200 && String(decoding: body, as: UTF8.self).contains("gitVersion"))
        let created = try await client.proxy(.POST, namespace: "kube-system", service: "controller", path: "/api/v1/namespaces",
                                             body: ManifestValue.object([("metadata", .object([("name", .string("via-proxy"))]))]).jsonBytes)
        #expect(created.status == 201)
        #expect(try await backend.client.get(.namespaces, name: "via-proxy").name == "via-proxy")
        let missing = try await client.proxy(.GET, namespace: "kube-system", service: "nothing", path: "/")
        #expect(missing.status == 404)
    }
}
