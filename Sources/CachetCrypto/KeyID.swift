/// A short, stable name for a public key: the first 8 bytes of SHA-256 over its DER SubjectPublicKeyInfo, as 16
/// lowercase hex digits (docs/wire-format.md §3).
///
/// It is a hint for picking a key, shown in listings, logs and the `cachet.dev/sealed-by` annotation. It is not
/// secret and not a proof: a value must still open with the key.
public struct KeyID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// 16 lowercase hex digits.
    public let hex: String

    init(subjectPublicKeyInfo der: [UInt8]) {
        let digest = SHA256.hash(der)
        hex = digest.prefix(8).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }

    /// Parses a key id as written by ``description``; `nil` unless it is exactly 16 lowercase hex digits.
    public init?(_ text: String) {
        let digits = Array(text.utf8)
        guard digits.count == 16,
              digits.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        hex = text
    }

    /// The 16 hex digits, as `cachet keys list` and the `cachet.dev/sealed-by` annotation show them.
    public var description: String { hex }

    /// Orders ids by their hex digits: a stable order for listings, with no meaning beyond that.
    public static func < (lhs: KeyID, rhs: KeyID) -> Bool { lhs.hex < rhs.hex }
}
