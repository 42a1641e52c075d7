/// Bech32 (BIP 173) as age uses it for `age1…` recipients and `AGE-SECRET-KEY-1…` identities: without BIP 173's
/// 90-character limit, all upper or all lower case (never mixed), the checksum always over the lower-case form.
///
/// Identities pass through here, so every intermediate buffer is wiped before it is released.
package enum Bech32 {
    private static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let charsetIndex: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, character) in charset.enumerated() { table[Int(character)] = Int8(value) }
        return table
    }()

    /// Why a string was refused: public facts about its shape, never its characters.
    package struct Failure: Error, Equatable, CustomStringConvertible {
        package let reason: String
        package var description: String { reason }
    }

    /// Encodes `data` under `hrp` (given in the case it should be written in; the checksum uses the lower case).
    package static func encode(hrp: String, data: UnsafeRawBufferPointer, upperCase: Bool = false) -> [UInt8] {
        let lowerHRP = Array(hrp.lowercased().utf8)
        var groups = regroup(data, from: 8, to: 5, pad: true) ?? []
        defer { wipe(&groups) }
        var checked = expand(lowerHRP) + groups + [0, 0, 0, 0, 0, 0]
        defer { wipe(&checked) }
        let checksum = polymod(checked) ^ 1
        var output = lowerHRP + [UInt8(ascii: "1")]
        output.reserveCapacity(output.count + groups.count + 6)
        for group in groups { output.append(charset[Int(group)]) }
        for index in 0..<6 { output.append(charset[Int(checksum >> (5 * (5 - index)) & 31)]) }
        if upperCase {
            for index in output.indices where output[index] >= UInt8(ascii: "a") && output[index] <= UInt8(ascii: "z") {
                output[index] -= 32
            }
        }
        return output
    }

    /// Decodes `text` (ASCII bytes), returning its HRP as written (callers check its case: age requires `age` for
    /// recipients and `AGE-SECRET-KEY-` for identities, exactly); the data bytes go to `body`, whose buffer is wiped
    /// when it returns.
    package static func decode<Result>(
        _ text: UnsafeRawBufferPointer, _ body: (_ hrp: String, _ data: UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        var hasLower = false
        var hasUpper = false
        for byte in text {
            guard byte >= 33 && byte <= 126 else { throw Failure(reason: "it holds a character that is not printable ASCII") }
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { hasLower = true }
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { hasUpper = true }
        }
        guard !(hasLower && hasUpper) else { throw Failure(reason: "it mixes upper and lower case") }
        var lower = text.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        defer { wipe(&lower) }
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator >= 1, lower.count - separator - 1 >= 6 else {
            throw Failure(reason: "it is not Bech32 (no '1' separator followed by a checksum)")
        }
        let hrp = Array(lower[..<separator])
        let writtenHRP = String(decoding: text[..<separator], as: UTF8.self)
        var groups: [UInt8] = []
        defer { wipe(&groups) }
        groups.reserveCapacity(lower.count - separator - 1)
        for character in lower[(separator + 1)...] {
            let value = character < 128 ? charsetIndex[Int(character)] : -1
            guard value >= 0 else { throw Failure(reason: "it holds a character outside the Bech32 alphabet") }
            groups.append(UInt8(value))
        }
        var checked = expand(hrp) + groups
        defer { wipe(&checked) }
        guard polymod(checked) == 1 else { throw Failure(reason: "its checksum is wrong (a typing or copying error)") }
        groups.removeLast(6)
        guard var data = regroup(groups, from: 5, to: 8, pad: false) else {
            throw Failure(reason: "its data does not end on a byte boundary (not canonical)")
        }
        defer { wipe(&data) }
        return try data.withUnsafeBytes { try body(writtenHRP, $0) }
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where top >> bit & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits: 8-bit bytes into 5-bit groups, the last one zero-padded (`pad`); or 5-bit groups back into
    /// bytes, where what is left over must be under 5 bits and zero, so that each byte string has one encoding (nil
    /// otherwise, with the partial output wiped).
    private static func regroup(_ values: some Sequence<UInt8>, from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var output: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        let mask = UInt32(1) << UInt32(to) - 1
        for value in values {
            accumulator = accumulator << UInt32(from) | UInt32(value)
            bits += from
            while bits >= to {
                bits -= to
                output.append(UInt8(accumulator >> UInt32(bits) & mask))
            }
        }
        if pad {
            if bits > 0 { output.append(UInt8(accumulator << UInt32(to - bits) & mask)) }
        } else if bits >= from || accumulator & (UInt32(1) << UInt32(bits) - 1) != 0 {
            wipe(&output)
            return nil
        }
        accumulator = 0
        return output
    }

    private static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { CachetCrypto.wipe($0) }
    }
}
