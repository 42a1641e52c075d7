import FoundationEssentials

/// A strict reader and writer of the DER subset that public keys and certificates use (ITU-T X.690): one-byte tags,
/// definite minimal lengths, every read bounds-checked.
///
/// It reads **public** structures only — certificates and public keys handed to `cachet seal` — so that sealing does
/// not need OpenSSL's decoder machinery, whose one-time set-up costs more than the whole rest of a `cachet seal`
/// run. Nothing here verifies a signature: like kubeseal, Cachet trusts the certificate it is given and checks only
/// its validity period and key.
enum DER {
    static let sequence: UInt8 = 0x30
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let null: UInt8 = 0x05
    static let objectIdentifier: UInt8 = 0x06
    static let utcTime: UInt8 = 0x17
    static let generalizedTime: UInt8 = 0x18
    static let explicitTag0: UInt8 = 0xA0

    struct Malformed: Error {
        let reason: String
    }

    struct Element {
        let tag: UInt8
        /// The content octets.
        let contents: ArraySlice<UInt8>
        /// Tag, length and contents.
        let encoded: ArraySlice<UInt8>
    }

    struct Reader {
        private var rest: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) {
            rest = bytes
        }

        var isAtEnd: Bool { rest.isEmpty }

        mutating func next() throws(Malformed) -> Element {
            let start = rest.startIndex
            guard rest.count >= 2 else { throw Malformed(reason: "truncated") }
            let tag = rest[start]
            // High-tag-number form never occurs in the structures read here.
            guard tag & 0x1F != 0x1F else { throw Malformed(reason: "unsupported tag") }
            var index = start + 1
            let first = Int(rest[index])
            index += 1
            var length: Int
            if first < 0x80 {
                length = first
            } else {
                let octets = first & 0x7F
                // 0x80 is BER's indefinite length; more than 4 length octets is more than any key or certificate.
                guard (1...4).contains(octets), rest.endIndex - index >= octets else { throw Malformed(reason: "bad length") }
                length = 0
                for _ in 0..<octets {
                    length = length << 8 | Int(rest[index])
                    index += 1
                }
                // DER: the shortest form, so one encoding per value.
                guard length >= 0x80, rest[index - octets] != 0 else { throw Malformed(reason: "non-minimal length") }
            }
            guard rest.endIndex - index >= length else { throw Malformed(reason: "truncated") }
            let element = Element(tag: tag, contents: rest[index..<index + length], encoded: rest[start..<index + length])
            rest = rest[(index + length)...]
            return element
        }

        mutating func next(_ tag: UInt8) throws(Malformed) -> Element {
            let element = try next()
            guard element.tag == tag else { throw Malformed(reason: "unexpected tag") }
            return element
        }

        /// The next element if it has `tag`; otherwise nothing is consumed.
        mutating func optional(_ tag: UInt8) throws(Malformed) -> Element? {
            guard rest.first == tag else { return nil }
            return try next()
        }
    }

    /// The single element `bytes` hold; trailing bytes are an error.
    static func single(_ bytes: ArraySlice<UInt8>, _ tag: UInt8) throws(Malformed) -> Element {
        var reader = Reader(bytes)
        let element = try reader.next(tag)
        guard reader.isAtEnd else { throw Malformed(reason: "trailing bytes") }
        return element
    }

    /// A non-negative INTEGER's magnitude, big-endian without leading zeros (DER's sign octet removed).
    static func unsignedInteger(_ element: Element) throws(Malformed) -> [UInt8] {
        let contents = element.contents
        guard let first = contents.first else { throw Malformed(reason: "empty integer") }
        guard first & 0x80 == 0 else { throw Malformed(reason: "negative integer") }
        if first == 0, contents.count > 1 {
            // A leading zero is allowed only to clear the sign bit of the next octet.
            guard contents[contents.startIndex + 1] & 0x80 != 0 else { throw Malformed(reason: "non-minimal integer") }
            return Array(contents.dropFirst())
        }
        return Array(contents)
    }

    // MARK: - Writing

    static func encode(_ tag: UInt8, _ contents: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        if contents.count < 0x80 {
            length = [UInt8(contents.count)]
        } else {
            var remaining = contents.count
            while remaining > 0 {
                length.insert(UInt8(remaining & 0xFF), at: 0)
                remaining >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + contents
    }

    /// An INTEGER from a non-negative big-endian magnitude.
    static func encodeUnsignedInteger(_ magnitude: [UInt8]) -> [UInt8] {
        let trimmed = Array(magnitude.drop { $0 == 0 })
        if trimmed.isEmpty { return encode(integer, [0]) }
        return encode(integer, trimmed[0] & 0x80 != 0 ? [0] + trimmed : trimmed)
    }
}

/// The public half of an RSA key as numbers, read from DER without OpenSSL.
package struct RSAPublicNumbers: Sendable, Equatable {
    /// n, big-endian, no leading zeros.
    let modulus: [UInt8]
    /// e, big-endian, no leading zeros.
    let exponent: [UInt8]

    /// `AlgorithmIdentifier { rsaEncryption, NULL }`.
    static let rsaEncryptionAlgorithm: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00]
    static let rsaEncryptionOID: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]

    /// Names of other key types, for the message that refuses them (as OpenSSL names them).
    static let otherKeyTypes: [[UInt8]: String] = [
        [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]: "EC",
        [0x2B, 0x65, 0x70]: "ED25519",
        [0x2B, 0x65, 0x71]: "ED448",
        [0x2B, 0x65, 0x6E]: "X25519",
        [0x2B, 0x65, 0x6F]: "X448",
        [0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01]: "DSA",
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A]: "RSA-PSS",
    ]

    /// The largest modulus accepted: 16,384 bits (OpenSSL's own ceiling for RSA). Beyond it a key is not one anyone
    /// uses, an RSA operation would take seconds, and a v1 value could not record the wrapped key's length in its two
    /// length bytes (a 65,536-byte modulus crashed the sealer).
    static let maximumModulusBytes = 16_384 / 8

    /// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`. Throws ``DER/Malformed``, or
    /// ``CachetCryptoError/Code/unsupportedKey`` for a modulus over ``maximumModulusBytes``.
    package init(pkcs1 bytes: ArraySlice<UInt8>) throws {
        var reader = DER.Reader(try DER.single(bytes, DER.sequence).contents)
        let modulus = try DER.unsignedInteger(reader.next(DER.integer))
        let exponent = try DER.unsignedInteger(reader.next(DER.integer))
        guard reader.isAtEnd else { throw DER.Malformed(reason: "trailing fields") }
        // An even or tiny modulus, or an exponent below 3 or even, is not an RSA key anyone generated.
        guard modulus.count >= 64, modulus.last! & 1 == 1, exponent.count <= 8, exponent.last! & 1 == 1,
              exponent.count > 1 || exponent[0] >= 3
        else { throw DER.Malformed(reason: "not a usable RSA public key") }
        guard modulus.count <= Self.maximumModulusBytes else {
            throw CachetCryptoError(
                .unsupportedKey, "the RSA key has \(modulus.count * 8) bits; Cachet accepts keys of at most 16384 bits")
        }
        self.modulus = modulus
        self.exponent = exponent
    }

    /// Reads a SubjectPublicKeyInfo. A key of another type throws ``CachetCryptoError/Code/unsupportedKey`` naming
    /// it; anything malformed throws ``DER/Malformed``.
    package init(subjectPublicKeyInfo bytes: ArraySlice<UInt8>) throws {
        var reader = DER.Reader(try DER.single(bytes, DER.sequence).contents)
        var algorithm = DER.Reader(try reader.next(DER.sequence).contents)
        let oid = Array(try algorithm.next(DER.objectIdentifier).contents)
        guard oid == Self.rsaEncryptionOID else {
            let name = Self.otherKeyTypes[oid] ?? "not RSA"
            throw CachetCryptoError(.unsupportedKey, "the key is \(name), but Cachet's v1 format needs an RSA key")
        }
        // rsaEncryption's parameters are NULL (or, from lax encoders, absent).
        if !algorithm.isAtEnd {
            let parameters = try algorithm.next(DER.null)
            guard parameters.contents.isEmpty, algorithm.isAtEnd else { throw DER.Malformed(reason: "bad parameters") }
        }
        let key = try reader.next(DER.bitString).contents
        guard reader.isAtEnd, key.first == 0 else { throw DER.Malformed(reason: "bad key bit string") }
        try self.init(pkcs1: key.dropFirst())
    }

    /// The canonical SubjectPublicKeyInfo DER (what OpenSSL's `i2d_PUBKEY` writes), whatever form the key was read
    /// from, so that key ids do not depend on how a key was encoded.
    var subjectPublicKeyInfo: [UInt8] {
        let pkcs1 = DER.encode(DER.sequence, DER.encodeUnsignedInteger(modulus) + DER.encodeUnsignedInteger(exponent))
        return DER.encode(DER.sequence, Self.rsaEncryptionAlgorithm + DER.encode(DER.bitString, [0] + pkcs1))
    }

    var bits: Int {
        (modulus.count - 1) * 8 + (8 - modulus[0].leadingZeroBitCount)
    }
}

/// The parts of an X.509 certificate a sealer needs — validity and public key — read without OpenSSL.
package struct CertificateFields {
    let notBefore: Date
    let notAfter: Date
    let publicKey: RSAPublicNumbers

    /// Reads `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }` (RFC 5280 §4.1).
    package init(der: ArraySlice<UInt8>) throws {
        var certificate = DER.Reader(try DER.single(der, DER.sequence).contents)
        var tbs = DER.Reader(try certificate.next(DER.sequence).contents)
        _ = try tbs.optional(DER.explicitTag0)                 // version
        _ = try tbs.next(DER.integer)                          // serialNumber
        _ = try tbs.next(DER.sequence)                         // signature
        _ = try tbs.next(DER.sequence)                         // issuer
        var validity = DER.Reader(try tbs.next(DER.sequence).contents)
        notBefore = try Self.time(validity.next(), "notBefore")
        notAfter = try Self.time(validity.next(), "notAfter")
        guard validity.isAtEnd else { throw DER.Malformed(reason: "bad validity") }
        _ = try tbs.next(DER.sequence)                         // subject
        publicKey = try RSAPublicNumbers(subjectPublicKeyInfo: tbs.next(DER.sequence).encoded)
        _ = try certificate.next(DER.sequence)                 // signatureAlgorithm
        _ = try certificate.next(DER.bitString)                // signature
        guard certificate.isAtEnd else { throw DER.Malformed(reason: "trailing fields") }
    }

    /// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`, the forms RFC 5280 allows.
    static func time(_ element: DER.Element, _ field: String) throws -> Date {
        let text = Array(element.contents)
        let digits: Int
        switch element.tag {
        case DER.utcTime: digits = 12
        case DER.generalizedTime: digits = 14
        default: throw CachetCryptoError(.invalidKey, "the certificate's \(field) could not be read")
        }
        guard text.count == digits + 1, text.last == UInt8(ascii: "Z"), text.dropLast().allSatisfy({ (48...57).contains($0) }) else {
            throw CachetCryptoError(.invalidKey, "the certificate's \(field) could not be read")
        }
        func number(_ offset: Int, _ count: Int) -> Int {
            text[offset..<offset + count].reduce(0) { $0 * 10 + Int($1 - 48) }
        }
        var year = element.tag == DER.utcTime ? number(0, 2) : number(0, 4)
        if element.tag == DER.utcTime { year += year < 50 ? 2000 : 1900 }
        let rest = element.tag == DER.utcTime ? 2 : 4
        let (month, day, hour, minute, second) = (number(rest, 2), number(rest + 2, 2), number(rest + 4, 2),
                                                  number(rest + 6, 2), number(rest + 8, 2))
        let monthDays = [31, year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...monthDays[month - 1]).contains(day), hour < 24, minute < 60, second < 61 else {
            throw CachetCryptoError(.invalidKey, "the certificate's \(field) could not be read")
        }
        return Date(timeIntervalSince1970: TimeInterval(Self.daysSinceEpoch(year: year, month: month, day: day) * 86400
                                                        + hour * 3600 + minute * 60 + second))
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// A PEM block (RFC 7468's strict form: padded base64 in 64-column lines, LF line ends) labelled `label`. age's armor
/// is exactly this with the label `AGE ENCRYPTED FILE`.
func pemText(_ label: String, _ bytes: some ContiguousBytes) -> String {
    let body = Base64.encode(bytes)
    var lines = ["-----BEGIN \(label)-----"]
    var start = body.startIndex
    while start < body.endIndex {
        let end = body.index(start, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
        lines.append(String(body[start..<end]))
        start = end
    }
    lines.append("-----END \(label)-----")
    return lines.joined(separator: "\n") + "\n"
}

/// The DER inside the first PEM block labelled `label`, or nil if there is none.
func pemBlock(_ label: String, in bytes: UnsafeRawBufferPointer) throws -> [UInt8]? {
    let begin = Array("-----BEGIN \(label)-----".utf8), end = Array("-----END \(label)-----".utf8)
    func find(_ pattern: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= pattern.count, start <= bytes.count - pattern.count else { return nil }
        var index = start
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0], (0..<pattern.count).allSatisfy({ bytes[index + $0] == pattern[$0] }) { return index }
            index += 1
        }
        return nil
    }
    guard let start = find(begin, from: 0), let stop = find(end, from: start + begin.count) else { return nil }
    // The body: base64 lines; any whitespace between them is skipped (PEM writers differ in line endings).
    let body = bytes[(start + begin.count)..<stop].filter { ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains($0) }
    return try Base64.decode(utf8: body)
}
