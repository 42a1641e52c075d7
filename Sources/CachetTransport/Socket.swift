#if canImport(Glibc)
import Glibc
#endif

/// The moment by which a whole request must be done. Sockets are non-blocking and every wait is a `poll` bounded by
/// the time left, so no sequence of slow reads (a server trickling a byte every few seconds, a stalled handshake) can
/// stretch a request past it; per-read timeouts alone could (each read would get the full timeout again).
struct Deadline {
    let seconds: Int
    private let end: ContinuousClock.Instant

    init(seconds: Int) {
        self.seconds = seconds
        end = .now + .seconds(seconds)
    }

    /// Throws once the deadline has passed.
    func check() throws {
        guard end - .now > .zero else { throw BlockingHTTP.Failure("timed out: no complete answer within \(seconds) s") }
    }

    /// Waits until `socket` is ready for `events` (POLLIN, POLLOUT), or throws once the deadline has passed.
    func wait(_ socket: Int32, for events: Int32) throws {
        while true {
            let remaining = end - .now
            guard remaining > .zero else {
                throw BlockingHTTP.Failure("timed out: no complete answer within \(seconds) s")
            }
            var descriptor = pollfd(fd: socket, events: Int16(events), revents: 0)
            let (wholeSeconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: max(1, wholeSeconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0, errno != EINTR {
                throw BlockingHTTP.Failure("cannot wait for the server: \(String(cString: strerror(errno)))")
            }
        }
    }
}

enum Socket {
    /// A non-blocking TCP connection to host:port within the deadline, trying each address getaddrinfo gives.
    static func connect(host: String, port: Int, deadline: Deadline) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw BlockingHTTP.Failure("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                      info.pointee.ai_protocol)
            guard socket >= 0 else { continue }
            if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return socket }
            if errno == EINPROGRESS {
                do {
                    try deadline.wait(socket, for: Int32(POLLOUT))
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 { return socket }
                    lastError = String(cString: strerror(error))
                } catch {
                    close(socket)
                    throw error
                }
            } else {
                lastError = String(cString: strerror(errno))
            }
            close(socket)
        }
        throw BlockingHTTP.Failure("cannot connect to \(host):\(port): \(lastError)")
    }
}

protocol ByteChannel {
    func write(_ bytes: [UInt8]) throws
    /// Reads some bytes; an empty result is the end of the stream.
    func read(max: Int) throws -> [UInt8]
}

/// Plain TCP over a non-blocking socket.
struct PlainChannel: ByteChannel {
    let socket: Int32
    let deadline: Deadline

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written >= 0 {
                offset += written
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try deadline.wait(socket, for: Int32(POLLOUT))
            } else if errno != EINTR {
                throw BlockingHTTP.Failure("cannot send: \(String(cString: strerror(errno)))")
            }
        }
    }

    func read(max: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, max, 0) }
            if count >= 0 { return Array(buffer.prefix(count)) }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try deadline.wait(socket, for: Int32(POLLIN))
            } else if errno != EINTR {
                throw BlockingHTTP.Failure("cannot receive: \(String(cString: strerror(errno)))")
            }
        }
    }
}
