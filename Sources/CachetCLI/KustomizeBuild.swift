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
        let wrapper = FileManager.default.temporaryDirectory.path + "/cachet-kustomize-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: wrapper) }
        let manifest = "resources:\n- \"\(relativePath(from: wrapper, to: RepositoryRules.absolute(directory)))\"\nbuildMetadata: [originAnnotations]\n"
        guard (try? FileManager.default.createDirectory(atPath: wrapper, withIntermediateDirectories: true)) != nil,
              FileManager.default.createFile(atPath: wrapper + "/kustomization.yaml", contents: Data(manifest.utf8)) else {
            throw .failed("no temporary directory for the build")
        }
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
        return documents.compactMap { document in
            let root = document.root, metadata = root["metadata"]
            guard root["kind"]?.scalar?.text == "SealedSecret", let name = metadata?["name"]?.scalar?.text,
                  let origin = metadata?["annotations"]?["config.kubernetes.io/origin"]?.scalar?.text,
                  let path = origin.split(separator: "\n").first(where: { $0.hasPrefix("path: ") })?.dropFirst(6)
            else { return nil }
            return BuiltSealedSecret(origin: RepositoryRules.absolute(wrapper + "/" + path), name: name,
                                     namespace: metadata?["namespace"]?.scalar?.text)
        }
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
