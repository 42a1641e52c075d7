import CachetCrypto
import CachetManifests
import CachetProgram

/// `cachet seal --merge-into FILE`: seal one Secret's items into an existing SealedSecret file, changing only the
/// bytes of those items.
enum SealedFileMerge {
    static func merge(
        _ objects: [ManifestObject], into path: String, sealer: Sealer, explicitScope: SealingScope.Kind?, inputName: String
    ) throws {
        guard objects.count == 1, let object = objects.first else {
            throw CommandFailure("--merge-into takes exactly one Secret; \(inputName) holds \(objects.count)")
        }
        let fileBytes = try SecretFiles.read(path).withUnsafeBytes { Array($0) }
        let editor = try inFile(path) { try SealedSecretEditor(file: fileBytes) }
        let target = editor.sealedSecret
        let secret = try inFile(inputName) { try SecretManifest(object) }

        // Its values are bound to where an overlay puts it: new items sealed for the file's own name would not open there.
        if let place = target.metadata.annotations[Annotations.sealedFor] {
            throw CommandFailure("\(path) was sealed for \(place) (cachet.dev/sealed-for, cachet seal --kustomization): --merge-into would seal the new items for its own name",
                                 hint: "seal the whole Secret again with --kustomization")
        }
        // The items are sealed for the file's object: its name, namespace and scope. A Secret that names another
        // object is more likely a mistake than an intent.
        if let own = secret.metadata.name, own != target.metadata.name {
            throw CommandFailure("the Secret is named \"\(own)\" but \(path) holds \"\(target.metadata.name ?? "")\"",
                                 hint: "merge into the file of that Secret, or pass --name \(target.metadata.name ?? "")")
        }
        if let own = secret.metadata.namespace, let theirs = target.metadata.namespace, own != theirs {
            throw CommandFailure("the Secret is in namespace \"\(own)\" but \(path) is in \"\(theirs)\"")
        }
        if let explicitScope, explicitScope != target.scopeKind {
            throw CommandFailure("--scope \(explicitScope.rawValue) differs from \(path)'s scope (\(target.scopeKind.rawValue)); "
                                 + "all items of one SealedSecret share its scope")
        }
        var sealer = sealer
        sealer.name = target.metadata.name
        sealer.namespace = target.metadata.namespace ?? sealer.namespace
        sealer.scope = target.scopeKind

        let result = try inFile(inputName) { try sealer.seal(secret) }
        for warning in result.warnings {
            StandardStreams.warn("\(inputName): document \(object.document) (\(object.label)): \(warning)")
        }
        if !secret.metadata.labels.isEmpty || !secret.metadata.annotations.isEmpty {
            StandardStreams.warn("only the items are merged; the Secret's labels and annotations are not copied into \(path)")
        }
        let merged = try inFile(path) {
            try editor.settingItems(result.sealedSecret.encryptedData, sealedBy: sealer.target.keyIDs)
        }
        try OutputFiles.replace(path, contents: merged, mode: 0o644, keepExistingMode: true)
    }
}
