import FoundationEssentials

/// Standard padded base64 (RFC 4648 §4), the text form of every sealed value.
///
/// Decoding is Go's `base64.StdEncoding` plus canonical trailing bits: carriage returns and line feeds are skipped
/// wherever they appear (YAML-folded values must open, as they do in Bitnami's controller); every other character
/// outside the alphabet, missing or misplaced padding, and non-zero unused bits are refused, so each byte string has
/// exactly one accepted text form.
package enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Maps an ASCII byte to its 6-bit value; 0xFF for "not in the alphabet".
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    /// Encodes on one line, with `=` padding.
    package static func encode(_ bytes: some ContiguousBytes) -> String {
        bytes.withUnsafeBytes { input in
            var output = [UInt8]()
            output.reserveCapacity((input.count + 2) / 3 * 4)
            var index = 0
            while index + 3 <= input.count {
                let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                output.append(alphabet[Int(chunk >> 18 & 63)])
                output.append(alphabet[Int(chunk >> 12 & 63)])
                output.append(alphabet[Int(chunk >> 6 & 63)])
                output.append(alphabet[Int(chunk & 63)])
                index += 3
            }
            let remaining = input.count - index
            if remaining > 0 {
                let chunk = UInt32(input[index]) << 16 | (remaining == 2 ? UInt32(input[index + 1]) << 8 : 0)
                output.append(alphabet[Int(chunk >> 18 & 63)])
                output.append(alphabet[Int(chunk >> 12 & 63)])
                output.append(remaining == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
                output.append(UInt8(ascii: "="))
            }
            return String(decoding: output, as: UTF8.self)
        }
    }

    /// Decodes `text`; the error names the position (in characters of the input) of the first problem.
    package static func decode(_ text: some StringProtocol) throws -> [UInt8] {
        try decode(utf8: Array(text.utf8))
    }

    /// Decodes base64 given as UTF-8 bytes.
    package static func decode(utf8 input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { try decode($0, padded: true) }
    }

    /// age's form (C2SP age §"Encoding"): no padding, no line breaks, canonical. Used for stanza arguments, stanza
    /// bodies and the header MAC, where a second spelling of the same bytes would change what the MAC covers.
    package static func encodeUnpadded(_ bytes: some ContiguousBytes) -> String {
        var text = encode(bytes)
        while text.last == "=" { text.removeLast() }
        return text
    }

    /// Decodes age's unpadded canonical base64; nil for anything else (padding, CR or LF, stray bits, a length no
    /// encoding produces).
    package static func decodeUnpadded(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        try? decode(input, padded: false)
    }

    /// The one decoder. Padded (sealed values, armor): `=` padding required, CR and LF skipped as Go does. Unpadded
    /// (age headers): no `=` and no line breaks at all.
    private static func decode(_ input: UnsafeRawBufferPointer, padded: Bool) throws -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(input.count / 4 * 3 + 2)
        var quantum: UInt32 = 0
        var filled = 0        // 6-bit groups in the current quantum
        var padding = 0       // '=' seen
        for (position, character) in input.enumerated() {
            if padded, character == UInt8(ascii: "\r") || character == UInt8(ascii: "\n") { continue }
            if padded, character == UInt8(ascii: "=") {
                // Padding may only complete a quantum that already holds 2 or 3 groups.
                guard filled + padding >= 2 else { throw misplacedPadding(at: position) }
                padding += 1
                guard filled + padding <= 4 else { throw misplacedPadding(at: position) }
                continue
            }
            let value = decodeTable[Int(character)]
            guard value != 0xFF else {
                throw CachetCryptoError(.malformedValue, "invalid base64: unexpected character at offset \(position)")
            }
            guard padding == 0 else { throw misplacedPadding(at: position) }
            quantum = quantum << 6 | UInt32(value)
            filled += 1
            if filled == 4 {
                output.append(UInt8(truncatingIfNeeded: quantum >> 16))
                output.append(UInt8(truncatingIfNeeded: quantum >> 8))
                output.append(UInt8(truncatingIfNeeded: quantum))
                quantum = 0
                filled = 0
            }
        }
        switch (filled, padded ? padding : filled == 0 ? 0 : 4 - filled) {
        case (0, 0):
            break
        case (2, 2):
            guard quantum & 0xF == 0 else { throw nonCanonical }
            output.append(UInt8(truncatingIfNeeded: quantum >> 4))
        case (3, 1):
            guard quantum & 0x3 == 0 else { throw nonCanonical }
            output.append(UInt8(truncatingIfNeeded: quantum >> 10))
            output.append(UInt8(truncatingIfNeeded: quantum >> 2))
        default:
            throw CachetCryptoError(.malformedValue, "invalid base64: truncated or unpadded input")
        }
        return output
    }

    private static func misplacedPadding(at position: Int) -> CachetCryptoError {
        CachetCryptoError(.malformedValue, "invalid base64: misplaced padding at offset \(position)")
    }

    private static let nonCanonical = CachetCryptoError(
        .malformedValue, "invalid base64: non-zero bits after the last byte (not canonical)")
}
