import FoundationEssentials

/// An age X25519 recipient (`age1…`): the public key a v2 value is sealed to. Anyone may hold it.
public struct AgeRecipient: Hashable, Sendable, CustomStringConvertible {
    /// The 32-byte X25519 public key.
    let publicKey: [UInt8]

    init(publicKey: [UInt8]) {
        precondition(publicKey.count == X25519.keyByteCount)
        self.publicKey = publicKey
    }

    /// Reads a recipient in age's text form, `age1` and 58 Bech32 characters. Refused, with the reason: another
    /// kind of string (an identity, an SSH key, an `age1pq1…` post-quantum recipient this format does not use), a
    /// bad checksum, mixed case.
    public init(_ text: some StringProtocol) throws {
        let text = String(text)
        if text.uppercased().hasPrefix("AGE-SECRET-KEY-") {
            throw CachetCryptoError(.unsupportedKey, "this is an age identity (a private key); sealing needs its recipient (age1…, from age-keygen -y)")
        }
        let key = try Array(text.utf8).withUnsafeBytes { bytes throws in
            do {
                return try Bech32.decode(bytes) { hrp, data throws -> [UInt8] in
                    guard hrp == "age" else {
                        throw CachetCryptoError(.invalidKey, hrp == "AGE"
                            ? "not an age recipient: recipients are written in lower case (age1…), as age requires"
                            : "not an age X25519 recipient: it should start with \"age1\"")
                    }
                    guard data.count == X25519.keyByteCount else {
                        throw CachetCryptoError(
                            .unsupportedKey, "not an age X25519 recipient: it holds \(data.count) bytes, not 32 (another key type)")
                    }
                    return Array(data)
                }
            } catch let failure as Bech32.Failure {
                throw CachetCryptoError(.invalidKey, "not a valid age recipient: \(failure.reason)")
            }
        }
        self.init(publicKey: key)
    }

    /// `age1…`, as `age-keygen -y` prints it.
    public var description: String {
        String(decoding: publicKey.withUnsafeBytes { Bech32.encode(hrp: "age", data: $0) }, as: UTF8.self)
    }

    /// The key id (docs/wire-format.md §3): over the RFC 8410 SubjectPublicKeyInfo, by the rule RSA keys use.
    public var keyID: KeyID {
        KeyID(subjectPublicKeyInfo: [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00] + publicKey)
    }

    /// Reads a recipients file in age's format (`age -R`): one recipient per line; blank lines and lines starting
    /// with `#` ignored. The error names the line. An empty list is an error: sealing to nobody is a mistake.
    ///
    /// Lines end at LF only (one CR before it is dropped), exactly as age reads them: were a vertical tab, a lone CR
    /// or U+2028 also a line break, a committed file could hide a recipient inside what age, `wc -l` and a reviewer
    /// all read as a comment.
    public static func list(in text: some StringProtocol) throws -> [AgeRecipient] {
        var recipients: [AgeRecipient] = []
        for (index, line) in String(text).utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
            do {
                recipients.append(try AgeRecipient(String(decoding: trimmed, as: UTF8.self)))
            } catch let error as CachetCryptoError {
                throw CachetCryptoError(error.code, "line \(index + 1): \(error.message)")
            }
        }
        guard !recipients.isEmpty else { throw CachetCryptoError(.invalidKey, "no recipient in it (only blank lines and comments)") }
        return recipients
    }
}

/// An age X25519 identity (`AGE-SECRET-KEY-1…`): the private key that opens v2 values sealed to its recipient.
///
/// The 32 secret bytes live in ``SecureBytes`` (locked, not in core dumps, zeroed), as v1 private keys live on OpenSSL's
/// secure heap; `description` names only the recipient's key id.
public final class AgeIdentity: Sendable, CustomStringConvertible {
    let secret: SecureBytes
    /// The recipient values for this identity are sealed to.
    public let recipient: AgeRecipient

    private init(secret: SecureBytes) {
        self.secret = secret
        self.recipient = AgeRecipient(publicKey: secret.withUnsafeBytes { X25519.publicKey(of: $0) })
    }

    /// A new identity from the system's secure random generator.
    public static func generate() throws -> AgeIdentity {
        AgeIdentity(secret: try SystemRandom.secureBytes(count: X25519.keyByteCount))
    }

    /// The id of the recipient (docs/wire-format.md §3).
    public var keyID: KeyID { recipient.keyID }

    /// `AgeIdentity(<key id>)`: never the secret.
    public var description: String { "AgeIdentity(\(keyID))" }

    /// Reads one identity in age's text form, `AGE-SECRET-KEY-1…` (ASCII bytes, no line break).
    public convenience init(text: some ContiguousBytes) throws {
        let secret = try text.withUnsafeBytes { bytes throws in
            do {
                return try Bech32.decode(bytes) { hrp, data throws -> SecureBytes in
                    guard hrp == "AGE-SECRET-KEY-" else {
                        throw CachetCryptoError(.invalidKey, hrp == "age-secret-key-"
                            ? "not an age identity: identities are written in upper case (AGE-SECRET-KEY-1…), as age requires"
                            : "not an age identity: it should start with \"AGE-SECRET-KEY-1\"")
                    }
                    guard data.count == X25519.keyByteCount else {
                        throw CachetCryptoError(.unsupportedKey, "not an age X25519 identity: it holds \(data.count) bytes, not 32")
                    }
                    return try SecureBytes(copying: data)
                }
            } catch let failure as Bech32.Failure {
                throw CachetCryptoError(.invalidKey, "not a valid age identity: \(failure.reason)")
            }
        }
        self.init(secret: secret)
    }

    /// Reads an identity file in age's format (what `age-keygen` writes and `age -i` reads): `AGE-SECRET-KEY-1…`
    /// lines, blank lines and `#` comments. The error names the line, never its content. No identity is an error.
    public static func list(in file: some ContiguousBytes) throws -> [AgeIdentity] {
        try file.withUnsafeBytes { bytes throws in
            var identities: [AgeIdentity] = []
            var lineNumber = 0
            var start = 0
            while start < bytes.count {
                lineNumber += 1
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
                start = end + 1
                if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
                do {
                    identities.append(try AgeIdentity(text: line))
                } catch let error as CachetCryptoError {
                    throw CachetCryptoError(error.code, "line \(lineNumber): \(error.message)")
                }
            }
            guard !identities.isEmpty else { throw CachetCryptoError(.invalidKey, "no age identity in it") }
            return identities
        }
    }

    /// The identity in age's text form, `AGE-SECRET-KEY-1…`, in secret memory (``SecureBytes``).
    public func text() throws -> SecureBytes {
        var encoded = secret.withUnsafeBytes { Bech32.encode(hrp: "AGE-SECRET-KEY-", data: $0, upperCase: true) }
        defer { encoded.withUnsafeMutableBytes { wipe($0) } }
        return try SecureBytes(copying: encoded)
    }

    /// An identity file as `age-keygen` writes it: a creation comment, the public key, then the identity line.
    public func fileContents(created: String) throws -> SecureBytes {
        var contents = Array("# created: \(created)\n# public key: \(recipient)\n".utf8)
        defer { contents.withUnsafeMutableBytes { wipe($0) } }
        try text().withUnsafeBytes { contents.append(contentsOf: $0) }
        contents.append(UInt8(ascii: "\n"))
        return try SecureBytes(copying: contents)
    }
}
