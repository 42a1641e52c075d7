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
        let managed = Self.existing(annotations: [Annotations.managed: "true"])
        guard case .update(let updated, .adopted) = SecretWrite.decide(desired, existing: managed) else {
            Issue.record("expected an adoption")
            return
        }
        #expect(updated.value(at: ["metadata", "ownerReferences"]) == nil)
    }

    @Test("a Secret owned by this SealedSecret: data, labels, annotations and type replaced; the rest kept")
    func owned() throws {
        let write = SecretWrite.decide(try Self.desired(type: "kubernetes.io/basic-auth"), existing: Self.existing(ownerUID: Self.uid))
        guard case .update(let object, .owned) = write else {
            Issue.record("expected an update of an owned Secret, got \(write)")
            return
        }
        #expect(object.string(at: ["data", "password"]) == "aHVudGVyMg==")
        #expect(object.string(at: ["metadata", "labels", "keep"]) == nil, "labels are the template's")
        #expect(object.string(at: ["type"]) == "kubernetes.io/basic-auth")
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

    @Test("managed: \"true\" adopts the Secret: fields replaced, ownerReference set")
    func adopted() throws {
        let write = SecretWrite.decide(try Self.desired(), existing: Self.existing(annotations: [Annotations.managed: "true"]))
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
}
