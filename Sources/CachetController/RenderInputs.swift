#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests

/// The files `render` reads: named files, the manifest files under named directories, or stdin.
enum RenderInputs {
    /// Manifests only: kustomization files and hidden entries (`.git`) are skipped.
    static let extensions = [".yaml", ".yml", ".json"]
    static let skippedNames: Set<String> = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    static func collect(_ paths: [String], stdinName: String = "<stdin>") throws -> [Renderer.Input] {
        if paths.isEmpty {
            return [Renderer.Input(name: stdinName, bytes: try read("-"))]
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
    ///
    /// Symbolic links are followed only while they stay inside `directory`: a repository is untrusted input, and a
    /// link such as `leak.yaml -> /var/run/cachet/keys/tls.key` would otherwise be read and passed through to the
    /// output (a PEM block is a valid YAML scalar). Each directory and file is visited once, by its real path, so a
    /// link back to an ancestor neither loops (one did: a Secret came out 41 times, and two grew the output without end)
    /// nor renders a file twice.
    static func manifestFiles(under directory: String) throws -> [String] {
        guard let root = realPath(directory) else {
            throw FileError("cannot read directory \(directory): \(String(cString: strerror(errno)))")
        }
        var found: [String] = []
        var visited: Set<String> = [root]
        var seenFiles: Set<String> = []
        var pending = [directory]
        // Depth first, each directory's entries in name order, so which of two paths to the same file is kept (the
        // first one walked) is the same on every run.
        while let current = pending.popLast() {
            var subdirectories: [String] = []
            for name in try entries(of: current) where !name.hasPrefix(".") && !skippedNames.contains(name) {
                let path = SecretFiles.join(current, name)
                let isDirectory = SecretFiles.isDirectory(path)
                guard isDirectory || extensions.contains(where: { name.hasSuffix($0) }) else { continue }
                guard let real = realPath(path) else {
                    throw FileError("cannot read \(path): \(String(cString: strerror(errno)))")
                }
                guard real == root || real.hasPrefix(root == "/" ? "/" : root + "/") else {
                    throw FileError("\(path) is a symbolic link out of \(directory) (to \(real.quotedForMessage())); "
                                    + "render reads only what is inside the directories it is given")
                }
                if isDirectory {
                    if visited.insert(real).inserted { subdirectories.append(path) }
                } else if seenFiles.insert(real).inserted {
                    // Only regular files: a FIFO would block the read for ever (a repository cannot carry one, but a
                    // shared checkout could).
                    var status = stat()
                    guard stat(real, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                        throw FileError("\(path) is not a regular file; render reads only regular files from directories")
                    }
                    found.append(path)
                }
            }
            pending += subdirectories.reversed()
        }
        return found.sorted()
    }

    /// The names in a directory, sorted.
    private static func entries(of directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            throw FileError("cannot read directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return names.sorted()
    }

    /// The canonical absolute path (symbolic links resolved), or nil with `errno` set.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
