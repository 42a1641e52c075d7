/// An HTTP proxy to tunnel API requests through with CONNECT: the cluster's `proxy-url`, else the standard
/// environment variables, read as Go's net/http reads them (which is what kubectl does).
package struct ProxySetting: Sendable, Equatable {
    package var host: String
    package var port: Int
    /// `user:password` from the URL, sent as `Proxy-Authorization: Basic`.
    package var userInfo: String?

    /// Parses `http://[user:password@]host[:port]`. Only plain-HTTP proxies are supported: a TLS or SOCKS proxy is
    /// refused by name rather than used wrongly.
    package init(url: String, origin: String) throws {
        let lowered = url.lowercased()
        var rest: Substring
        if lowered.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else if !lowered.contains("://") {
            rest = Substring(url)  // Go accepts a bare host:port as http
        } else {
            let scheme = lowered.prefix { $0 != ":" }
            throw KubeError(.configuration, "\(origin): proxy scheme \(scheme) is not supported; use an http:// proxy (CONNECT)")
        }
        // The user information ends at the last `@` before the path (a password may hold `/`); messages show it as
        // `***`, whole: a proxy "user" is often a token.
        let authorityEnd = rest.lastIndex(of: "@").map { at in rest[rest.index(after: at)...].firstIndex(of: "/") ?? rest.endIndex }
            ?? rest.firstIndex(of: "/") ?? rest.endIndex
        rest = rest[..<authorityEnd]
        if let at = rest.lastIndex(of: "@") {
            // Percent-encoded as in any URL (`%40` for `@`), as Go decodes it.
            guard let decoded = Self.percentDecoded(rest[..<at]) else {
                throw KubeError(.configuration, "\(origin): the proxy URL's user information is not valid percent-encoding")
            }
            userInfo = decoded
            rest = rest[rest.index(after: at)...]
        }
        let shown = (userInfo == nil ? "" : "***@") + rest
        var hostPart = rest
        var portText: Substring?
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {
            let after = hostPart[hostPart.index(after: close)...]
            portText = after.hasPrefix(":") ? after.dropFirst() : nil
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portText = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isLetter || $0.isNumber || ".-_:".contains($0) }) else {
            throw KubeError(.configuration, "\(origin): \(shown) names no proxy host")
        }
        host = String(hostPart)
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { throw KubeError(.configuration, "\(origin): \(shown) has a bad port") }
            self.port = port
        } else {
            port = 80
        }
    }

    /// The proxy for a request to `server` (scheme://host:port…): the kubeconfig's `proxy-url` if set; else
    /// `HTTPS_PROXY` (for https) or `HTTP_PROXY` (for http), upper or lower case, unless `NO_PROXY` excludes the host.
    /// As in Go, loopback hosts never go through an environment proxy.
    package static func forServer(_ server: String, proxyURL: String?, environment: [String: String]) throws -> ProxySetting? {
        if let proxyURL { return try ProxySetting(url: proxyURL, origin: "proxy-url") }
        let lowered = server.lowercased()
        let isTLS = lowered.hasPrefix("https://")
        let variable = isTLS ? "HTTPS_PROXY" : "HTTP_PROXY"
        guard let value = environment[variable].flatMap({ $0.isEmpty ? nil : $0 })
                ?? environment[variable.lowercased()].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        let (host, port) = hostAndPort(server)
        if isLoopback(host) { return nil }
        let noProxy = environment["NO_PROXY"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["no_proxy"] ?? ""
        if excludes(noProxy, host: host, port: port) { return nil }
        return try ProxySetting(url: value, origin: variable)
    }

    /// NO_PROXY: comma-separated hosts, `.domain` or `domain` (the domain and its subdomains), IP addresses,
    /// `host:port`, IPv4 CIDR blocks, or `*` for everything.
    static func excludes(_ noProxy: String, host: String, port: Int) -> Bool {
        let host = host.lowercased()
        for rawEntry in noProxy.split(separator: ",") {
            var entry = rawEntry.trimmingCharacters(in: " ").lowercased()
            if entry.isEmpty { continue }
            if entry == "*" { return true }
            if entry.contains("/") {
                if let (network, bits) = cidr(entry), let address = ipv4(host), bits <= 32 {
                    let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - UInt32(bits))
                    if address & mask == network & mask { return true }
                }
                continue
            }
            if let colon = entry.lastIndex(of: ":"), !entry.hasSuffix("]"), entry.filter({ $0 == ":" }).count == 1 {
                guard Int(entry[entry.index(after: colon)...]) == port else { continue }
                entry = String(entry[..<colon])
            }
            entry = entry.trimmingCharacters(in: "[]")
            if entry.hasPrefix(".") { entry.removeFirst() }
            if host == entry || host.hasSuffix("." + entry) { return true }
        }
        return false
    }

    package static func hostAndPort(_ server: String) -> (String, Int) {
        let isTLS = server.lowercased().hasPrefix("https://")
        var rest = Substring(server).drop { $0 != "/" }.drop { $0 == "/" }
        rest = rest.prefix { $0 != "/" && $0 != "?" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            return (host, after.hasPrefix(":") ? Int(after.dropFirst()) ?? (isTLS ? 443 : 80) : (isTLS ? 443 : 80))
        }
        if let colon = rest.lastIndex(of: ":") {
            return (String(rest[..<colon]), Int(rest[rest.index(after: colon)...]) ?? (isTLS ? 443 : 80))
        }
        return (String(rest), isTLS ? 443 : 80)
    }

    static func isLoopback(_ host: String) -> Bool {
        var host = host.lowercased()
        // IPv4 written as IPv6 (`::ffff:127.0.0.1`) is the same address.
        if host.hasPrefix("::ffff:") { host.removeFirst(7) }
        let ipv6Loopback = host.split(separator: ":", omittingEmptySubsequences: false).map { $0.drop { $0 == "0" } }
        return host == "localhost" || host.hasSuffix(".localhost") || host == "::1"
            || (host.contains(":") && ipv6Loopback.last == "1" && ipv6Loopback.dropLast().allSatisfy(\.isEmpty))
            || ipv4(host).map { $0 >> 24 == 127 } == true
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard part.count <= 3, let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    static func cidr(_ text: String) -> (UInt32, Int)? {
        let pieces = text.split(separator: "/")
        guard pieces.count == 2, let network = ipv4(String(pieces[0])), let bits = Int(pieces[1]), (0...32).contains(bits) else { return nil }
        return (network, bits)
    }

    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        while index < text.utf8.endIndex {
            let byte = text.utf8[index]
            if byte == UInt8(ascii: "%") {
                let first = text.utf8.index(after: index)
                guard first < text.utf8.endIndex, text.utf8.index(after: first) < text.utf8.endIndex,
                      let value = UInt8(String(decoding: text.utf8[first...text.utf8.index(after: first)], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
                index = text.utf8.index(first, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = text.utf8.index(after: index)
            }
        }
        // It becomes a header value: nothing that could end the header.
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
