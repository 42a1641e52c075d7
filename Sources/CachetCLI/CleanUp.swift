#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Synchronization

/// Paths a command created and must not leave behind when SIGINT, SIGTERM or SIGHUP ends it part-way: a
/// `--kustomization` placeholder (a SealedSecret with no values, which would deploy an empty Secret), the build's
/// temporary directory. The handler does only async-signal-safe work: it removes what was registered (paths kept as
/// C strings, a directory with the one file Cachet put in it), then lets the signal end the process as it would have.
enum CleanUp {
    private static let capacity = 8
    /// Fixed slots of NUL-terminated paths, read by the handler.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
        return slots
    }()
    private static let lock = Mutex<Bool>(false)
    /// Where the handler builds `DIR/kustomization.yaml` (allocated once: no allocation in a signal handler).
    nonisolated(unsafe) private static let scratch = UnsafeMutablePointer<CChar>.allocate(capacity: 4200)

    static func register(_ path: String) {
        lock.withLock { installed in
            if !installed {
                for signal in [SIGINT, SIGTERM, SIGHUP] { Glibc.signal(signal, handler) }
                installed = true
            }
            for index in 0..<capacity where slots[index] == nil {
                slots[index] = strdup(path)
                return
            }
        }
    }

    static func unregister(_ path: String) {
        lock.withLock { _ in
            for index in 0..<capacity {
                if let entry = slots[index], String(cString: entry) == path {
                    slots[index] = nil
                    free(entry)
                }
            }
        }
    }

    private static let handler: @convention(c) (Int32) -> Void = { signal in
        for index in 0..<CleanUp.capacity {
            guard let path = CleanUp.slots[index] else { continue }
            // A directory holds the wrapper's kustomization.yaml: remove it, then the directory; a file is unlinked.
            let length = strlen(path)
            if length + 20 < 4200 {
                memcpy(CleanUp.scratch, path, length)
                let name: StaticString = "/kustomization.yaml"
                memcpy(CleanUp.scratch + length, name.utf8Start, name.utf8CodeUnitCount)
                CleanUp.scratch[length + name.utf8CodeUnitCount] = 0
                unlink(CleanUp.scratch)
            }
            if rmdir(path) != 0 { unlink(path) }
        }
        Glibc.signal(signal, SIG_DFL)
        raise(signal)
    }
}
