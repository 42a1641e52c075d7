import CachetManifests

/// How the Secret of one SealedSecret is brought in line, decided from the Secret the SealedSecret describes and the
/// one that exists, with no I/O: Bitnami's rules for creating, updating, adopting and patching in one place, which
/// tests drive without a cluster. The reconciler only carries the decision out.
enum SecretWrite: Equatable {
    /// No Secret exists: create this one.
    case create(ManifestValue)
    /// The Secret exists and may be written: replace it with this (same resourceVersion, so a concurrent change is a
    /// conflict, not lost).
    case update(ManifestValue, Ownership)
    /// The Secret already is what it should be.
    case unchanged
    /// The Secret may not be written.
    case refuse(ReconcileFailure)

    /// Why an existing Secret may be written.
    enum Ownership: Equatable {
        /// Its controller ownerReference is this SealedSecret (by uid: a SealedSecret deleted and recreated under the
        /// same name owns nothing of its predecessor's).
        case owned
        /// Not owned, but marked `sealedsecrets.bitnami.com/managed: "true"`: taken over, its fields replaced and the
        /// ownerReference set.
        case adopted
        /// Marked `sealedsecrets.bitnami.com/patch: "true"`: the template's data, labels and annotations are merged
        /// in and other keys stay; the ownerReference only when it is `managed` as well.
        case patched
    }

    /// Decides what to write. `existing` is the Secret as just read (nil: there is none).
    static func decide(_ desired: DesiredSecret, existing: ManifestValue?) -> SecretWrite {
        guard let existing else { return .create(desired.object) }

        let annotations = existing.value(at: ["metadata", "annotations"])
        let managed = annotations?[Annotations.managed]?.stringValue == "true"
        let patchMode = annotations?[Annotations.patch]?.stringValue == "true"
        // Owned by uid (a SealedSecret without one owns nothing).
        let owned = desired.sealedSecretUID.map { uid in
            (existing.value(at: ["metadata", "ownerReferences"])?.arrayValue ?? []).contains {
                $0["uid"]?.stringValue == uid && $0["controller"] == .bool(true)
            }
        } ?? false
        // Someone else's Secret is never overwritten: Bitnami's message, word for word (dashboards match on it).
        guard owned || managed || patchMode else {
            return .refuse(ReconcileFailure(
                .unmanaged, "Resource \"\(desired.name)\" already exists and is not managed by SealedSecret"))
        }
        let ownership: Ownership = patchMode ? .patched : owned ? .owned : .adopted

        var updated = existing
        if ownership == .patched {
            for field in [["data"], ["metadata", "labels"], ["metadata", "annotations"]] {
                for key in desired.object.value(at: field)?.keys ?? [] {
                    updated.setValue(desired.object.value(at: field + [key]), at: field + [key])
                }
            }
            if managed, let ownerReference = desired.ownerReference {
                updated.setValue(.array([ownerReference]), at: ["metadata", "ownerReferences"])
            }
        } else {
            for field in [["data"], ["metadata", "labels"], ["metadata", "annotations"], ["metadata", "ownerReferences"]] {
                updated.setValue(desired.object.value(at: field), at: field)
            }
        }
        // The API server refuses to change a Secret's type: say what to do instead of sending a doomed write.
        if let type = desired.object["type"], let current = existing["type"], type != current {
            return .refuse(ReconcileFailure(
                .update, "the target Secret's type cannot change (\(Self.typeName(current)) to \(Self.typeName(type))); "
                    + "delete the Secret and it will be recreated"))
        }
        if let type = desired.object["type"] { updated.setValue(type, at: ["type"]) }
        guard updated != existing else { return .unchanged }
        // The API server refuses new data for an immutable Secret; say what to do instead of sending a doomed write.
        if existing["immutable"] == .bool(true), updated["data"] != existing["data"] {
            return .refuse(ReconcileFailure(
                .update, "the target Secret is immutable and its data cannot be updated; delete the Secret and it will be recreated"))
        }
        return .update(updated, ownership)
    }

    /// A type for a message: template types are public (`kubernetes.io/tls`); a non-string is only named as such.
    private static func typeName(_ value: ManifestValue) -> String {
        value.stringValue.map { $0.quotedForMessage() } ?? "a non-string"
    }
}

// The decision carries the unsealed data: its description must never show it (STYLE: no secret bytes in output).
extension SecretWrite: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String {
        switch self {
        case .create: "create"
        case .update(_, let ownership): "update (\(ownership))"
        case .unchanged: "unchanged"
        case .refuse(let failure): "refuse (\(failure.reason): \(failure.message))"
        }
    }

    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }
}

/// The Secret a SealedSecret describes, as the controller writes it: the unsealed Secret, labelled as the controller's
/// (so that it can watch just those), owned by the SealedSecret unless its template says
/// `skip-set-owner-references`.
struct DesiredSecret: Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let name: String
    let sealedSecretUID: String?
    /// The controller ownerReference to set; nil with `skip-set-owner-references`.
    let ownerReference: ManifestValue?
    let object: ManifestValue

    /// The Secret's name only: the object holds the unsealed data.
    var description: String { "DesiredSecret(\(name))" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    init(_ secret: SecretManifest, sealedSecretName name: String, sealedSecretUID uid: String?, component: String) {
        self.name = name
        self.sealedSecretUID = uid
        var object = secret.manifestValue
        object.setValue(.string(component), at: ["metadata", "labels", Reconciler.managedLabel])
        if secret.metadata.annotations[Annotations.skipSetOwnerReferences] == "true" {
            ownerReference = nil
        } else {
            let reference = ManifestValue.object([
                ("apiVersion", .string(SealedSecretManifest.apiVersion)), ("kind", .string(SealedSecretManifest.kind)),
                ("name", .string(name)), ("uid", uid.map(ManifestValue.string) ?? .null), ("controller", .bool(true)),
            ])
            object.setValue(.array([reference]), at: ["metadata", "ownerReferences"])
            ownerReference = reference
        }
        self.object = object
    }
}

/// Why an object could not be brought in line: the metric reason, and a message safe to show in Events, logs and
/// the status (no values: the messages come from the unsealer and the API server, which never hold plaintext).
struct ReconcileFailure: Error, Equatable {
    let reason: ControllerMetrics.UnsealErrorReason
    let message: String

    init(_ reason: ControllerMetrics.UnsealErrorReason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// Bitnami's Event reasons.
    var eventReason: String { reason == .unseal ? "ErrUnsealFailed" : "ErrUpdateFailed" }
}
