#if canImport(Glibc)
import Glibc
#endif
import CachetManifests
import FoundationEssentials

/// What a kustomization makes of the SealedSecrets in the repository, asked of the real `kubectl kustomize` (the
/// authority: Cachet does not re-implement kustomize). The build goes through a wrapper kustomization in a temporary
/// directory that includes the one asked for and requests kustomize's origin annotations, so every built object is
/// traced back to the file it came from.
enum KustomizeBuild {
    struct BuiltSealedSecret {
        /// The file it came from (absolute).
        let origin: String
        let name: String
        let namespace: String?
        /// Its sealed values (`spec.encryptedData`): they identify the source object whatever a patch renamed.
        let values: [String: String]
    }

    enum Failure: Error {
        case kubectlMissing
        case failed(String)

        var message: String {
            switch self {
            case .kubectlMissing: "kubectl was not found (it builds kustomizations)"
            case .failed(let message): message
            }
        }
    }

    static func sealedSecrets(of directory: String) throws(Failure) -> [BuiltSealedSecret] {
        let created = FileManager.default.temporaryDirectory.path + "/cachet-kustomize-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: created) }
        guard (try? FileManager.default.createDirectory(atPath: created, withIntermediateDirectories: true)) != nil else {
            throw .failed("no temporary directory for the build")
        }
        // kustomize resolves symbolic links before it follows `..`: the relative path must be between real paths (a
        // TMPDIR through a link, macOS's /var → /private/var), and origins come back relative to the real wrapper.
        let wrapper = realPath(created)
        let manifest = "resources:\n- \"\(relativePath(from: wrapper, to: realPath(directory)))\"\nbuildMetadata: [originAnnotations]\n"
        guard FileManager.default.createFile(atPath: wrapper + "/kustomization.yaml", contents: Data(manifest.utf8)) else {
            throw .failed("no temporary directory for the build")
        }
        CleanUp.register(wrapper)
        defer { CleanUp.unregister(wrapper) }
        let result: (status: Int32?, output: [UInt8])
        do {
            result = try RepositoryCheck.runTool("kubectl", ["kustomize", wrapper])
        } catch {
            throw .failed("kubectl could not be run: \(error)")
        }
        guard let status = result.status else { throw .kubectlMissing }
        // kustomize's messages can quote the files it read (a plaintext Secret among them): they are not repeated.
        guard status == 0 else { throw .failed("kubectl kustomize \(directory) failed (exit \(status)); run it to see why") }
        guard let documents = try? ManifestReader.documents(in: result.output) else {
            throw .failed("kubectl kustomize \(directory) wrote something that is not YAML")
        }
        return documents.compactMap { document -> BuiltSealedSecret? in
            let root = document.root, metadata = root["metadata"]
            guard root["kind"]?.scalar?.text == "SealedSecret", let name = metadata?["name"]?.scalar?.text,
                  let origin = metadata?["annotations"]?["config.kubernetes.io/origin"]?.scalar?.text,
                  let path = origin.split(separator: "\n").first(where: { $0.hasPrefix("path: ") })?.dropFirst(6)
            else { return nil }
            var values: [String: String] = [:]
            for entry in root["spec"]?["encryptedData"]?.entries ?? [] {
                if let value = entry.value.scalar?.text { values[entry.key] = value }
            }
            return BuiltSealedSecret(origin: realPath(wrapper + "/" + path), name: name,
                                     namespace: metadata?["namespace"]?.scalar?.text, values: values)
        }
    }

    /// The path with symbolic links resolved (as kustomize sees it); folded but unresolved when it does not exist.
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(RepositoryRules.absolute(path), nil) else { return RepositoryRules.absolute(path) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `to` relative to the directory `from` (both absolute): kustomize refuses absolute resource paths.
    static func relativePath(from: String, to: String) -> String {
        let base = from.split(separator: "/"), target = to.split(separator: "/")
        var common = 0
        while common < min(base.count, target.count), base[common] == target[common] { common += 1 }
        let parts = Array(repeating: "..", count: base.count - common) + target[common...].map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}
