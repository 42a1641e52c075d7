#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto

/// One HTTP/1.1 request over TCP or TLS, blocking, with a deadline: all the `cachet` CLI needs to fetch a
/// certificate from a URL or reach the controller through the API server. It exists so that the CLI does not carry
/// SwiftNIO (whose load time alone would be most of `cachet seal`'s).
///
/// TLS is OpenSSL's (``TLSChannel``): the server is verified against the given CA certificates (or the system's),
/// its name or IP address checked, TLS 1.2 at least; a client certificate is presented when given.
///
/// The whole exchange — connecting, the TLS handshake, sending, and reading the complete answer — must finish within
/// `timeoutSeconds`: a server that trickles one byte every few seconds cannot hold the CLI longer than that.
package enum BlockingHTTP {
    package struct Request: Sendable {
        package var method: String
        package var url: String
        package var headers: [(String, String)]
        package var body: [UInt8]?

        package init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    package struct Response: Sendable {
        package let status: Int
        package let headers: [(String, String)]
        package let body: [UInt8]

        package func header(_ name: String) -> String? {
            headers.last { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    package struct TLSSettings: Sendable {
        /// PEM CA certificates to trust; nil: the system's trust store.
        package var certificateAuthorityPEM: [UInt8]?
        package var clientCertificatePEM: [UInt8]?
        package var clientKeyPEM: SecureBytes?
        package var insecureSkipVerify = false
        /// The name the certificate must carry (and SNI sends) when it is not the URL's host (`tls-server-name`).
        package var serverName: String?

        package init(certificateAuthorityPEM: [UInt8]? = nil) {
            self.certificateAuthorityPEM = certificateAuthorityPEM
        }
    }

    package struct Failure: Error, Sendable, CustomStringConvertible {
        package let message: String
        package var description: String { message }

        init(_ message: String) {
            self.message = message
        }
    }

    /// An HTTP proxy reached with CONNECT.
    package struct Proxy: Sendable {
        package var host: String
        package var port: Int
        /// `user:password`, sent as `Proxy-Authorization: Basic`.
        package var userInfo: String?

        package init(host: String, port: Int, userInfo: String? = nil) {
            self.host = host
            self.port = port
            self.userInfo = userInfo
        }
    }

    /// Sends `request` and reads the whole answer (at most `maxBodyBytes`), all within `timeoutSeconds`; through
    /// `proxy`'s CONNECT tunnel when given (TLS then runs end to end inside the tunnel).
    package static func send(
        _ request: Request, tls: TLSSettings = TLSSettings(), proxy: Proxy? = nil, timeoutSeconds: Int = 30, maxBodyBytes: Int = 16 << 20
    ) throws -> Response {
        let target = try URLParts(request.url)
        let deadline = Deadline(seconds: timeoutSeconds)
        let socket = try Socket.connect(host: proxy?.host ?? target.host, port: proxy?.port ?? target.port, deadline: deadline)
        defer { close(socket) }
        var channel: any ByteChannel = PlainChannel(socket: socket, deadline: deadline)
        if let proxy {
            try openTunnel(through: proxy, to: target, over: channel)
        }
        if target.isTLS {
            channel = try TLSChannel(socket: socket, host: target.host, settings: tls, deadline: deadline)
        }
        var head = "\(request.method) \(target.pathAndQuery) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nConnection: close\r\n"
        head += "User-Agent: cachet/0.1\r\n"
        for (name, value) in request.headers { head += "\(name): \(value)\r\n" }
        if let body = request.body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try channel.write(Array(head.utf8) + (request.body ?? []))
        var reader = ResponseReader(channel: channel, maxBodyBytes: maxBodyBytes, deadline: deadline)
        return try reader.read()
    }
}

extension BlockingHTTP {
    /// `CONNECT host:port`, then the proxy's answer head, read byte by byte so that nothing of the tunnel's own
    /// traffic is consumed. Only a 200 opens the tunnel (as Go's client).
    static func openTunnel(through proxy: Proxy, to target: URLParts, over channel: any ByteChannel) throws {
        let authority = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
        var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let userInfo = proxy.userInfo { head += "Proxy-Authorization: Basic \(Base64.encode(Array(userInfo.utf8)))\r\n" }
        try channel.write(Array((head + "\r\n").utf8))
        var answer: [UInt8] = []
        while !answer.ends(with: [0x0D, 0x0A, 0x0D, 0x0A]) {
            guard answer.count < 16 << 10 else { throw Failure("the proxy \(proxy.host):\(proxy.port) sent an answer head over 16 KiB") }
            let byte = try channel.read(max: 1)
            guard !byte.isEmpty else { throw Failure("the proxy \(proxy.host):\(proxy.port) closed the connection") }
            answer += byte
        }
        let statusLine = String(decoding: answer.prefix { $0 != 0x0D }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), status == 200 else {
            // The proxy's words, without control characters: they go to a terminal.
            let shown = String(statusLine.prefix(100).unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
            throw Failure("the proxy \(proxy.host):\(proxy.port) refused the tunnel to \(authority): \(shown)")
        }
    }

    /// Reads `bytes` as a whole HTTP/1.1 answer, as ``send(_:tls:timeoutSeconds:maxBodyBytes:)`` reads one from a
    /// server (for the fuzz target and tests: the same parser, fed from memory).
    package static func parseResponse(_ bytes: [UInt8], maxBodyBytes: Int = 16 << 20) throws -> Response {
        var reader = ResponseReader(channel: MemoryChannel(bytes: bytes), maxBodyBytes: maxBodyBytes)
        return try reader.read()
    }
}

/// Bytes from memory, handed out in pieces of at most 7 bytes so that reads split lines and headers as a network would.
final class MemoryChannel: ByteChannel {
    private var remaining: ArraySlice<UInt8>

    init(bytes: [UInt8]) {
        remaining = bytes[...]
    }

    func write(_ bytes: [UInt8]) throws {}

    func read(max: Int) throws -> [UInt8] {
        let piece = remaining.prefix(min(max, 7))
        remaining = remaining.dropFirst(piece.count)
        return Array(piece)
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
            throw BlockingHTTP.Failure("\(url): not an http:// or https:// URL")
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
        guard !hostPart.isEmpty else { throw BlockingHTTP.Failure("\(url): no host") }
        host = String(hostPart)
        if let portPart, !portPart.isEmpty {
            guard let number = Int(portPart), (1...65535).contains(number) else { throw BlockingHTTP.Failure("\(url): bad port") }
            port = number
        } else {
            port = isTLS ? 443 : 80
        }
        hostHeader = String(authority)
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// Reads an HTTP/1.1 response: status line, headers, then a body by Content-Length, chunked encoding, or to the end.
///
/// Every number in the answer is read strictly (digits only, bounded) before it sizes anything: a negative
/// `Content-Length` or chunk size, or one past 64 bits, is a malformed answer, never a crash.
///
/// Reading is linear in the answer: bytes are consumed by moving an offset, never by shifting the buffer (a server
/// sending millions of one-byte chunks made that quadratic), and the deadline is checked at every read, also when
/// the socket always has data (a fast flood never waits, so waiting alone would never notice the time).
struct ResponseReader {
    let channel: any ByteChannel
    let maxBodyBytes: Int
    let deadline: Deadline?
    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` start.
    private var offset = 0

    init(channel: any ByteChannel, maxBodyBytes: Int, deadline: Deadline? = nil) {
        self.channel = channel
        self.maxBodyBytes = maxBodyBytes
        self.deadline = deadline
    }

    mutating func read() throws -> BlockingHTTP.Response {
        let head = try readUntil([0x0D, 0x0A, 0x0D, 0x0A], limit: 64 << 10)
        var lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.isEmpty ? [] : lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), statusLine[1].utf8.count == 3,
              let status = Self.decimal(statusLine[1])
        else { throw BlockingHTTP.Failure("the server's answer is not HTTP") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces)
        }
        let values = { (name: String) in headers.filter { $0.0.lowercased() == name }.map(\.1) }
        let body: [UInt8]
        if values("transfer-encoding").contains(where: { $0.lowercased().contains("chunked") }) {
            body = try readChunks()
        } else if let declared = values("content-length").first {
            // Two different lengths would let a proxy and this client disagree on where the body ends.
            guard let length = Self.decimal(Substring(declared)), values("content-length").allSatisfy({ $0 == declared }) else {
                throw BlockingHTTP.Failure("the server's answer has a malformed Content-Length")
            }
            guard length <= maxBodyBytes else { throw BlockingHTTP.Failure("the answer is too large") }
            body = try readExactly(length)
        } else {
            body = try readToEnd()
        }
        return BlockingHTTP.Response(status: status, headers: headers, body: body)
    }

    private mutating func readChunks() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = try readUntil([0x0D, 0x0A], limit: 1024)
            let sizeText = line.prefix { $0 != UInt8(ascii: ";") }
            guard let size = Self.hexadecimal(sizeText) else { throw BlockingHTTP.Failure("bad chunked encoding") }
            if size == 0 { return body }
            guard size <= maxBodyBytes - body.count else { throw BlockingHTTP.Failure("the answer is too large") }
            body += try readExactly(size)
            guard try readExactly(2) == [0x0D, 0x0A] else { throw BlockingHTTP.Failure("bad chunked encoding") }
        }
    }

    private mutating func readToEnd() throws -> [UInt8] {
        var body = Array(buffer[offset...])
        buffer = []
        offset = 0
        while true {
            try deadline?.check()
            guard body.count <= maxBodyBytes else { throw BlockingHTTP.Failure("the answer is too large") }
            let chunk = try channel.read(max: 64 << 10)
            if chunk.isEmpty { return body }
            body += chunk
        }
    }

    /// 1 to 12 decimal digits (nothing else, not even a sign), as a non-negative number.
    static func decimal(_ text: Substring) -> Int? {
        let digits = text.utf8
        guard (1...12).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

    /// 1 to 12 hexadecimal digits, as a non-negative number.
    static func hexadecimal(_ bytes: [UInt8].SubSequence) -> Int? {
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
        let isHex = text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
        guard (1...12).contains(text.utf8.count), isHex else { return nil }
        return Int(text, radix: 16)
    }

    private var unread: Int { buffer.count - offset }

    private mutating func fill() throws {
        try deadline?.check()
        // Drop what was consumed once it is most of the buffer: amortised, each byte is copied a bounded number of times.
        if offset > 0, offset >= buffer.count / 2 {
            buffer.removeFirst(offset)
            offset = 0
        }
        let chunk = try channel.read(max: 64 << 10)
        if chunk.isEmpty { throw BlockingHTTP.Failure("the server closed the connection early") }
        buffer += chunk
    }

    private mutating func readUntil(_ delimiter: [UInt8], limit: Int) throws -> [UInt8] {
        var searched = offset
        while true {
            if let range = buffer[searched...].firstRange(of: delimiter) {
                let head = Array(buffer[offset..<range.lowerBound])
                offset = range.upperBound
                return head
            }
            guard unread <= limit else { throw BlockingHTTP.Failure("the server's answer has an over-long line") }
            let before = offset
            searched = max(offset, buffer.count - delimiter.count + 1)
            try fill()
            searched -= before - offset  // fill may have moved the unread bytes to the front
        }
    }

    private mutating func readExactly(_ count: Int) throws -> [UInt8] {
        while unread < count { try fill() }
        defer { offset += count }
        return Array(buffer[offset..<offset + count])
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

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
