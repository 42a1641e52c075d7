#if canImport(Glibc)
import Glibc
#endif

/// Keeps secrets out of core dumps and away from other processes of the same user.
///
/// `cachet` holds plaintext values (seal) and private keys (unseal); `cachet-controller` holds private keys. A core
/// dump would write them to disk, and a same-uid process could read them with ptrace or /proc/PID/mem. `PR_SET_DUMPABLE = 0` stops both (and makes
/// /proc/PID files root-owned); `RLIMIT_CORE = 0` is the belt to its braces. Failures are ignored: they only remove a
/// layer of defence, and the command is still correct without it.
package enum ProcessHardening {
    /// Makes the process non-dumpable and sets its core-file limit to 0. Call first thing in `main`.
    package static func apply() {
        #if os(Linux)
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
        // prctl(2) is variadic in C, so Swift cannot import it; look it up and call it with its five integer
        // arguments, which is how the Linux calling conventions pass a variadic call's integers too.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        let prSetDumpable: Int32 = 4  // <linux/prctl.h>
        if let symbol = dlsym(nil, "prctl") {  // RTLD_DEFAULT: the process's global symbols (glibc)
            _ = unsafeBitCast(symbol, to: Prctl.self)(prSetDumpable, 0, 0, 0, 0)
        }
        #endif
    }
}
