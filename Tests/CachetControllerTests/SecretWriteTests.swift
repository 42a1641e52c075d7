import CachetManifests
import Testing
@testable import CachetController

/// The reconciler's create / update / adopt / patch decision, with no cluster: Bitnami's rules one by one.
@Suite("reconciler: what to write")
struct SecretWriteTests {
    static let uid = "5c1e3b7a-0000-4000-8000-000000000001"

    /// The Secret a SealedSecret `app` in team-a describes.
    static func desired(
        data: [String: String] = ["password": "aHVudGVyMg=="], labels: [String: String] = ["tier": "db"],
        annotations: [String: String] = [:], type: String = "Opaque"
    ) throws -> DesiredSecret {
        let labelText = labels.map { "    \($0.key): \"\($0.value)\"" }.sorted().joined(separator: "\n")
        let annotationText = annotations.map { "    \($0.key): \"\($0.value)\"" }.sorted().joined(separator: "\n")
        let text = """
            apiVersion: v1
            kind: Secret
            metadata:
              name: app
              namespace: team-a
            \(labels.isEmpty ? "" : "  labels:\n" + labelText)
            \(annotations.isEmpty ? "" : "  annotations:\n" + annotationText)
            type: \(type)
            data:
            \(data.map { "  \($0.key): \($0.value)" }.sorted().joined(separator: "\n"))

            """
        let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(text.utf8))).first)
        return DesiredSecret(try SecretManifest(object), sealedSecretName: "app", sealedSecretUID: uid, component: "cachet-controller")
    }

    /// An existing Secret `app`, as the API server returns it.
    static func existing(
        data: [String: String] = ["password": "b2xk"], annotations: [String: String] = [:], ownerUID: String? = nil,
        immutable: Bool = false
    ) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = [
            ("name", .string("app")), ("namespace", .string("team-a")), ("resourceVersion", .string("7")),
            ("labels", .stringMap(["keep": "me"])),
        ]
        if !annotations.isEmpty { metadata.append(("annotations", .stringMap(annotations))) }
        if let ownerUID {
            metadata.append(("ownerReferences", .array([.object([
                ("apiVersion", .string("bitnami.com/v1alpha1")), ("kind", .string("SealedSecret")), ("name", .string("app")),
                ("uid", .string(ownerUID)), ("controller", .bool(true)),
            ])])))
        }
        var fields: [(String, ManifestValue)] = [
            ("apiVersion", .string("v1")), ("kind", .string("Secret")), ("metadata", .object(metadata)),
            ("type", .string("Opaque")), ("data", .stringMap(data)),
        ]
        if immutable { fields.append(("immutable", .bool(true))) }
        return .object(fields)
    }

    @Test("no Secret: create the template's, labelled as the controller's and owned by the SealedSecret")
    func create() throws {
        let desired = try Self.desired()
        guard case .create(let object) = SecretWrite.decide(desired, existing: nil) else {
            Issue.record("expected a create")
            return
        }
        #expect(object.string(at: ["metadata", "labels", Reconciler.managedLabel]) == "cachet-controller")
        #expect(object.string(at: ["metadata", "labels", "tier"]) == "db")
        let owner = try #require(object.value(at: ["metadata", "ownerReferences"])?.arrayValue?.first)
        #expect(owner["uid"]?.stringValue == Self.uid)
        #expect(owner["controller"] == .bool(true))
        #expect(object.string(at: ["data", "password"]) == "aHVudGVyMg==")
    }

    @Test("skip-set-owner-references: no ownerReference, on create and on update")
    func skipOwner() throws {
        let desired = try Self.desired(annotations: [Annotations.skipSetOwnerReferences: "true"])
        guard case .create(let object) = SecretWrite.decide(desired, existing: nil) else {
            Issue.record("expected a create")
            return
        }
        #expect(object.value(at: ["metadata", "ownerReferences"]) == nil)
        // Adopted from another owner: that ownerReference goes too.
        let managed = Self.existing(annotations: [Annotations.managed: "true"], ownerUID: "another-owner")
        guard case .update(let updated, .adopted) = SecretWrite.decide(desired, existing: managed) else {
            Issue.record("expected an adoption")
            return
        }
        #expect(updated.value(at: ["metadata", "ownerReferences"]) == nil)
    }

    @Test("a Secret owned by this SealedSecret: data, labels and annotations replaced; the rest kept")
    func owned() throws {
        let write = SecretWrite.decide(try Self.desired(), existing: Self.existing(ownerUID: Self.uid))
        guard case .update(let object, .owned) = write else {
            Issue.record("expected an update of an owned Secret, got \(write)")
            return
        }
        #expect(object.string(at: ["data", "password"]) == "aHVudGVyMg==")
        #expect(object.string(at: ["metadata", "labels", "keep"]) == nil, "labels are the template's")
        #expect(object.string(at: ["metadata", "labels", "tier"]) == "db")
        #expect(object.string(at: ["metadata", "resourceVersion"]) == "7", "the write is conditional on what was read")
    }

    @Test("an owned Secret already in line: nothing to write")
    func unchanged() throws {
        let desired = try Self.desired()
        guard case .create(let created) = SecretWrite.decide(desired, existing: nil) else {
            Issue.record("expected a create")
            return
        }
        var stored = created
        stored.setValue(.string("9"), at: ["metadata", "resourceVersion"])
        #expect(SecretWrite.decide(desired, existing: stored) == .unchanged)
    }

    @Test("someone else's Secret, or one owned by an earlier SealedSecret of the same name: refused as unmanaged")
    func unmanaged() throws {
        for existing in [Self.existing(), Self.existing(ownerUID: "an-earlier-uid")] {
            let write = SecretWrite.decide(try Self.desired(), existing: existing)
            guard case .refuse(let failure) = write else {
                Issue.record("expected a refusal, got \(write)")
                continue
            }
            #expect(failure.reason == .unmanaged)
            #expect(failure.message == #"Resource "app" already exists and is not managed by SealedSecret"#)
            #expect(failure.eventReason == "ErrUpdateFailed")
        }
    }

    @Test("managed: \"true\" adopts the Secret, even one another object owns: fields replaced, ownerReference set")
    func adopted() throws {
        let write = SecretWrite.decide(try Self.desired(), existing: Self.existing(annotations: [Annotations.managed: "true"], ownerUID: "x"))
        guard case .update(let object, .adopted) = write else {
            Issue.record("expected an adoption, got \(write)")
            return
        }
        #expect(object.value(at: ["metadata", "ownerReferences"])?.arrayValue?.first?["uid"]?.stringValue == Self.uid)
        #expect(object.string(at: ["metadata", "annotations", Annotations.managed]) == nil, "annotations are the template's")
    }

    @Test("patch: \"true\" merges: keys the template lacks stay, no ownerReference unless managed too")
    func patched() throws {
        let existing = Self.existing(data: ["password": "b2xk", "extra": "a2VlcA=="], annotations: [Annotations.patch: "true"])
        let write = SecretWrite.decide(try Self.desired(), existing: existing)
        guard case .update(let object, .patched) = write else {
            Issue.record("expected a patch, got \(write)")
            return
        }
        #expect(object.string(at: ["data", "password"]) == "aHVudGVyMg==")
        #expect(object.string(at: ["data", "extra"]) == "a2VlcA==")
        #expect(object.string(at: ["metadata", "labels", "keep"]) == "me")
        #expect(object.string(at: ["metadata", "labels", "tier"]) == "db")
        #expect(object.value(at: ["metadata", "ownerReferences"]) == nil)

        let both = Self.existing(annotations: [Annotations.patch: "true", Annotations.managed: "true"])
        guard case .update(let owned, .patched) = SecretWrite.decide(try Self.desired(), existing: both) else {
            Issue.record("expected a patch")
            return
        }
        #expect(owned.value(at: ["metadata", "ownerReferences"])?.arrayValue?.count == 1)
    }

    @Test("an immutable Secret whose data would change: refused with what to do, no doomed write")
    func immutable() throws {
        let write = SecretWrite.decide(try Self.desired(), existing: Self.existing(ownerUID: Self.uid, immutable: true))
        guard case .refuse(let failure) = write else {
            Issue.record("expected a refusal, got \(write)")
            return
        }
        #expect(failure.reason == .update)
        #expect(failure.message.contains("immutable") && failure.message.contains("delete the Secret"))
        // Same data, new labels: an immutable Secret's metadata may still change.
        let same = Self.existing(data: ["password": "aHVudGVyMg=="], ownerUID: Self.uid, immutable: true)
        guard case .update = SecretWrite.decide(try Self.desired(), existing: same) else {
            Issue.record("expected an update of the metadata")
            return
        }
    }

    @Test("a change of type: refused with what to do (the API server never changes a Secret's type)")
    func typeChange() throws {
        let write = SecretWrite.decide(try Self.desired(type: "kubernetes.io/basic-auth"), existing: Self.existing(ownerUID: Self.uid))
        guard case .refuse(let failure) = write else {
            Issue.record("expected a refusal, got \(write)")
            return
        }
        #expect(failure.reason == .update)
        #expect(failure.message.contains("\"Opaque\" to \"kubernetes.io/basic-auth\"") && failure.message.contains("delete the Secret"),
                "\(failure.message)")
    }

    @Test("a SealedSecret without a uid owns nothing, even a Secret whose ownerReference has none either")
    func noUID() throws {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team-a}\ndata: {password: aHVudGVyMg==}\n"
        let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(text.utf8))).first)
        let desired = DesiredSecret(try SecretManifest(object), sealedSecretName: "app", sealedSecretUID: nil, component: "cachet-controller")
        var existing = Self.existing()
        existing.setValue(.array([.object([("kind", .string("SealedSecret")), ("controller", .bool(true))])]), at: ["metadata", "ownerReferences"])
        guard case .refuse(let failure) = SecretWrite.decide(desired, existing: existing) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(failure.reason == .unmanaged)
    }

    @Test("the decision and the desired Secret describe themselves without the data they carry")
    func redacted() throws {
        let desired = try Self.desired()
        let write = SecretWrite.decide(desired, existing: nil)
        for text in ["\(write)", String(reflecting: write), "\(desired)", String(reflecting: desired)] {
            #expect(!text.contains("aHVudGVyMg=="), "\(text)")
        }
        var dumped = ""
        dump(write, to: &dumped)
        dump(desired, to: &dumped)
        #expect(!dumped.contains("aHVudGVyMg=="))
    }
}
