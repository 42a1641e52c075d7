#if canImport(Glibc)
import Glibc
#endif
import CachetManifests

/// The files `render` reads: named files, the manifest files under named directories, or stdin.
enum RenderInputs {
    /// Manifests only: kustomization files and hidden entries (`.git`) are skipped.
    static let extensions = [".yaml", ".yml", ".json"]
    static let skippedNames: Set<String> = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    static func collect(_ paths: [String]) throws -> [Renderer.Input] {
        if paths.isEmpty {
            return [Renderer.Input(name: "<stdin>", bytes: try read("-"))]
        }
        var files: [String] = []
        for path in paths {
            if SecretFiles.isDirectory(path) {
                files += try manifestFiles(under: path)
            } else {
                files.append(path)
            }
        }
        return try files.map { Renderer.Input(name: $0, bytes: try read($0)) }
    }

    private static func read(_ path: String) throws -> [UInt8] {
        try SecretFiles.read(path, limit: Renderer.limits.maxBytes).withUnsafeBytes { Array($0) }
    }

    /// Manifest files under `directory`, recursively, sorted by path so the output order is stable.
    static func manifestFiles(under directory: String) throws -> [String] {
        var found: [String] = []
        var pending = [directory]
        while let current = pending.popLast() {
            guard let handle = opendir(current) else {
                throw FileError("cannot read directory \(current): \(String(cString: strerror(errno)))")
            }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name.hasPrefix(".") || skippedNames.contains(name) { continue }
                let path = SecretFiles.join(current, name)
                if SecretFiles.isDirectory(path) {
                    pending.append(path)
                } else if extensions.contains(where: { name.hasSuffix($0) }) {
                    found.append(path)
                }
            }
        }
        return found.sorted()
    }
}
