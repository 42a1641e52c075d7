#if canImport(Glibc)
import Glibc
#endif
import CachetProgram

/// Writing output files so that a reader never sees half of one: write a temporary file beside the target, sync it,
/// then rename (or link) it into place. On any failure the temporary file is removed and the target is untouched.
enum OutputFiles {
    /// Replaces (or creates) `path` atomically. The new file gets `mode`, or the mode of the file it replaces.
    static func replace(_ path: String, contents: [UInt8], mode: mode_t, keepExistingMode: Bool = false) throws {
        var finalMode = mode
        var status = stat()
        if keepExistingMode, stat(path, &status) == 0 { finalMode = status.st_mode & 0o7777 }
        let temporary = try contents.withUnsafeBytes { bytes in
            try writeTemporary(besides: path, contents: bytes, mode: finalMode)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CommandFailure("cannot write \(path): \(reason)")
        }
        syncDirectory(of: path)
    }

    /// A synced temporary file in `path`'s directory holding `contents`; returns its path.
    static func writeTemporary(besides path: String, contents: UnsafeRawBufferPointer, mode: mode_t) throws -> String {
        let directory = parent(of: path)
        var template = ((directory == "/" ? "/" : directory + "/") + ".cachet-new-XXXXXX").utf8CString
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw CommandFailure("cannot create a file in \(directory): \(String(cString: strerror(errno)))")
        }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            defer { close(descriptor) }
            // mkstemp creates 0600; set the final mode before any byte is written.
            guard fchmod(descriptor, mode) == 0 else {
                throw CommandFailure("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
            }
            try StandardStreams.write(contents, to: descriptor)
            guard fsync(descriptor) == 0 else {
                throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// True when two paths name the same file (same device and inode), following symlinks.
    static func sameFile(_ first: String, _ second: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(first, &a) == 0, stat(second, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func syncDirectory(of path: String) {
        let descriptor = open(parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
