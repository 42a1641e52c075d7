#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import COpenSSL

/// One HTTP/1.1 request over TCP or TLS, blocking, with a deadline: all the `cachet` CLI needs to fetch a
/// certificate from a URL or reach the controller through the API server. It exists so that the CLI does not carry
/// SwiftNIO (whose load time alone would be most of `cachet seal`'s).
///
/// TLS is OpenSSL's: the server is verified against the given CA certificates (or the system's), its name or IP
/// address checked, TLS 1.2 at least; a client certificate is presented when given.
public enum BlockingHTTP {
    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?

        public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    public struct Response: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.last { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    public struct TLSSettings: Sendable {
        /// PEM CA certificates to trust; nil: the system's trust store.
        public var certificateAuthorityPEM: [UInt8]?
        public var clientCertificatePEM: [UInt8]?
        public var clientKeyPEM: SecureBytes?
        public var insecureSkipVerify = false

        public init(certificateAuthorityPEM: [UInt8]? = nil) {
            self.certificateAuthorityPEM = certificateAuthorityPEM
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Sends `request` and reads the whole answer (at most `maxBodyBytes`).
    public static func send(
        _ request: Request, tls: TLSSettings = TLSSettings(), timeoutSeconds: Int = 30, maxBodyBytes: Int = 16 << 20
    ) throws -> Response {
        let target = try URLParts(request.url)
        let socket = try connect(host: target.host, port: target.port, timeoutSeconds: timeoutSeconds)
        defer { close(socket) }
        var channel: any ByteChannel = PlainChannel(socket: socket)
        if target.isTLS {
            channel = try TLSChannel(socket: socket, host: target.host, settings: tls)
        }
        var head = "\(request.method) \(target.pathAndQuery) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nConnection: close\r\n"
        head += "User-Agent: cachet/0.1\r\n"
        for (name, value) in request.headers { head += "\(name): \(value)\r\n" }
        if let body = request.body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try channel.write(Array(head.utf8) + (request.body ?? []))
        var reader = ResponseReader(channel: channel, maxBodyBytes: maxBodyBytes)
        return try reader.read()
    }

    /// A TCP connection to host:port within the deadline, trying each address getaddrinfo gives.
    static func connect(host: String, port: Int, timeoutSeconds: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(message: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard socket >= 0 else { continue }
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // SO_SNDTIMEO bounds connect(2) too on Linux.
            if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return socket }
            lastError = String(cString: strerror(errno))
            close(socket)
        }
        throw Failure(message: "cannot connect to \(host):\(port): \(lastError)")
    }
}

/// scheme://host[:port]/path?query
struct URLParts {
    let isTLS: Bool
    let host: String
    let port: Int
    let pathAndQuery: String
    let hostHeader: String

    init(_ url: String) throws {
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("https://") {
            isTLS = true
            rest = url.dropFirst(8)
        } else if lowered.hasPrefix("http://") {
            isTLS = false
            rest = url.dropFirst(7)
        } else {
            throw BlockingHTTP.Failure(message: "\(url): not an http:// or https:// URL")
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        pathAndQuery = slash == rest.endIndex ? "/" : String(rest[slash...])
        var hostPart = Substring(authority)
        var portPart: Substring?
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {  // [IPv6]:port
            portPart = hostPart[hostPart.index(after: close)...].dropFirst()
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty else { throw BlockingHTTP.Failure(message: "\(url): no host") }
        host = String(hostPart)
        if let portPart, !portPart.isEmpty {
            guard let number = Int(portPart), (1...65535).contains(number) else { throw BlockingHTTP.Failure(message: "\(url): bad port") }
            port = number
        } else {
            port = isTLS ? 443 : 80
        }
        hostHeader = String(authority)
    }

    var isIPAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

protocol ByteChannel {
    func write(_ bytes: [UInt8]) throws
    /// Reads some bytes; an empty result is the end of the stream.
    func read(max: Int) throws -> [UInt8]
}

struct PlainChannel: ByteChannel {
    let socket: Int32

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw BlockingHTTP.Failure(message: "cannot send: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    func read(max: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, max, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw BlockingHTTP.Failure(message: errno == EAGAIN ? "timed out waiting for the server" : "cannot receive: \(String(cString: strerror(errno)))")
            }
            return Array(buffer.prefix(count))
        }
    }
}

/// A TLS client session over a connected socket.
final class TLSChannel: ByteChannel {
    private let context: OpaquePointer
    private let session: OpaquePointer

    init(socket: Int32, host: String, settings: BlockingHTTP.TLSSettings) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("creating a TLS context") }
        self.context = context
        guard let session = SSL_new(context) else {
            SSL_CTX_free(context)
            throw Self.failure("creating a TLS session")
        }
        self.session = session
        // TLS 1.2 at least (SSL_CTX_set_min_proto_version is a macro over this control call).
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        if settings.insecureSkipVerify {
            SSL_set_verify(session, SSL_VERIFY_NONE, nil)
        } else {
            SSL_set_verify(session, SSL_VERIFY_PEER, nil)
            if let authority = settings.certificateAuthorityPEM {
                try Self.trust(authority, in: context)
            } else {
                guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw Self.failure("loading the system's CA certificates") }
            }
            let parts = try URLParts("https://\(host.contains(":") ? "[\(host)]" : host)/")
            let parameters = SSL_get0_param(session)
            // The certificate must name this host (or, for an address, this IP).
            let checked = parts.isIPAddress ? X509_VERIFY_PARAM_set1_ip_asc(parameters, host) : SSL_set1_host(session, host)
            guard checked == 1 else { throw Self.failure("setting the expected server name") }
        }
        if !(try URLParts("https://\(host.contains(":") ? "[\(host)]" : host)/").isIPAddress) {
            // Server Name Indication (SSL_set_tlsext_host_name is a macro over this control call); OpenSSL copies the name.
            _ = host.withCString { SSL_ctrl(session, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        }
        if let certificate = settings.clientCertificatePEM, let key = settings.clientKeyPEM {
            try Self.present(certificate: certificate, key: key, in: session)
        }
        guard SSL_set_fd(session, socket) == 1 else { throw Self.failure("attaching the socket") }
        if SSL_connect(session) != 1 {
            let verification = SSL_get_verify_result(session)
            if verification != X509_V_OK {
                let reason = String(cString: X509_verify_cert_error_string(verification))
                ERR_clear_error()
                throw BlockingHTTP.Failure(message: "the server's certificate is not trusted: \(reason)")
            }
            throw Self.failure("the TLS handshake with \(host)")
        }
    }

    deinit {
        SSL_shutdown(session)
        SSL_free(session)
        SSL_CTX_free(context)
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { SSL_write(session, $0.baseAddress! + offset, Int32(bytes.count - offset)) }
            guard written > 0 else { throw Self.failure("sending over TLS") }
            offset += Int(written)
        }
    }

    func read(max: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let count = buffer.withUnsafeMutableBytes { SSL_read(session, $0.baseAddress, Int32(max)) }
        if count > 0 { return Array(buffer.prefix(Int(count))) }
        let error = SSL_get_error(session, count)
        if error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            ERR_clear_error()
            return []
        }
        throw Self.failure("receiving over TLS")
    }

    private static func trust(_ pem: [UInt8], in context: OpaquePointer) throws {
        let store = SSL_CTX_get_cert_store(context)
        var added = 0
        try pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { throw failure("reading the CA certificates") }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                X509_STORE_add_cert(store, certificate)
                X509_free(certificate)
                added += 1
            }
        }
        ERR_clear_error()  // the loop ends with a "no start line" error
        guard added > 0 else { throw BlockingHTTP.Failure(message: "no CA certificate found in the given PEM") }
    }

    private static func present(certificate: [UInt8], key: SecureBytes, in session: OpaquePointer) throws {
        let x509: OpaquePointer? = certificate.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let x509 else { throw failure("reading the client certificate") }
        defer { X509_free(x509) }
        let privateKey: OpaquePointer? = key.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let privateKey else { throw failure("reading the client key") }
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_use_certificate(session, x509) == 1, SSL_use_PrivateKey(session, privateKey) == 1,
              SSL_check_private_key(session) == 1 else { throw failure("using the client certificate") }
    }

    private static func failure(_ doing: String) -> BlockingHTTP.Failure {
        let code = ERR_get_error()
        ERR_clear_error()
        let reason = code == 0 ? "connection closed" : (ERR_reason_error_string(code).map { String(cString: $0) } ?? "unknown")
        return BlockingHTTP.Failure(message: "TLS failed while \(doing): \(reason)")
    }
}

/// Reads an HTTP/1.1 response: status line, headers, then a body by Content-Length, chunked encoding, or to the end.
struct ResponseReader {
    let channel: any ByteChannel
    let maxBodyBytes: Int
    private var buffer: [UInt8] = []
    private var ended = false

    init(channel: any ByteChannel, maxBodyBytes: Int) {
        self.channel = channel
        self.maxBodyBytes = maxBodyBytes
    }

    mutating func read() throws -> BlockingHTTP.Response {
        let head = try readUntil([0x0D, 0x0A, 0x0D, 0x0A], limit: 64 << 10)
        var lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw BlockingHTTP.Failure(message: "the server's answer is not HTTP")
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces)
        }
        let lookup = { (name: String) in headers.last { $0.0.lowercased() == name }?.1 }
        var body: [UInt8]
        if lookup("transfer-encoding")?.lowercased().contains("chunked") == true {
            body = []
            while true {
                let sizeLine = String(decoding: try readUntil([0x0D, 0x0A], limit: 1024), as: UTF8.self)
                guard let size = Int(String(sizeLine.split(separator: ";").first ?? "").trimmingSpaces, radix: 16) else {
                    throw BlockingHTTP.Failure(message: "bad chunked encoding")
                }
                if size == 0 { break }
                guard body.count + size <= maxBodyBytes else { throw BlockingHTTP.Failure(message: "the answer is too large") }
                body += try readExactly(size)
                _ = try readExactly(2)
            }
        } else if let length = lookup("content-length").flatMap({ Int($0) }) {
            guard length <= maxBodyBytes else { throw BlockingHTTP.Failure(message: "the answer is too large") }
            body = try readExactly(length)
        } else {
            body = buffer
            buffer = []
            while true {
                let chunk = try channel.read(max: 64 << 10)
                if chunk.isEmpty { break }
                body += chunk
                guard body.count <= maxBodyBytes else { throw BlockingHTTP.Failure(message: "the answer is too large") }
            }
        }
        return BlockingHTTP.Response(status: status, headers: headers, body: body)
    }

    private mutating func fill() throws {
        let chunk = try channel.read(max: 64 << 10)
        if chunk.isEmpty { throw BlockingHTTP.Failure(message: "the server closed the connection early") }
        buffer += chunk
    }

    private mutating func readUntil(_ delimiter: [UInt8], limit: Int) throws -> [UInt8] {
        while true {
            if let range = buffer.firstRange(of: delimiter) {
                let head = Array(buffer[..<range.lowerBound])
                buffer.removeSubrange(..<range.upperBound)
                return head
            }
            guard buffer.count <= limit else { throw BlockingHTTP.Failure(message: "the server's answer has an over-long line") }
            try fill()
        }
    }

    private mutating func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}

import FoundationEssentials
