import FoundationEssentials

/// age's ASCII armor (C2SP age §"ASCII armor"): strict PEM with the label `AGE ENCRYPTED FILE`, padded base64 in
/// 64-column lines, no PEM headers. Only whitespace around the whole block and CR LF line ends are tolerated;
/// anything else non-canonical is refused, so an armored file has one spelling.
///
/// Sealed values are never armored (docs/wire-format.md §5.1): this reader serves the C2SP test kit, whose armor
/// vectors check the same strictness, and key backups (`cachet keys restore`), which are armored so that they can
/// sit in git or a vault as text; it is fuzzed.
package enum AgeArmor {
    static let beginLine = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    static let endLine = Array("-----END AGE ENCRYPTED FILE-----".utf8)

    /// Whether `bytes` look armored (the begin line, after any leading whitespace).
    package static func isArmored(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.drop(while: isWhitespace).starts(with: beginLine)
    }

    /// Decodes an armored age file; throws `AgeFailure.armor` naming what is wrong.
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        let start = bytes.firstIndex { !isWhitespace($0) } ?? bytes.count
        let end = (bytes.lastIndex { !isWhitespace($0) } ?? -1) + 1
        guard start < end else { throw AgeFailure.armor("empty input") }
        let lines = bytes[start..<end].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
        guard lines.count >= 2, lines[0].elementsEqual(beginLine) else {
            throw AgeFailure.armor("the first line is not -----BEGIN AGE ENCRYPTED FILE-----")
        }
        guard lines[lines.count - 1].elementsEqual(endLine) else {
            throw AgeFailure.armor("the last line is not -----END AGE ENCRYPTED FILE-----")
        }
        let body = lines[1..<lines.count - 1]
        var text: [UInt8] = []
        for (index, line) in body.enumerated() {
            let isLast = index == body.count - 1
            guard isLast ? (1...64).contains(line.count) : line.count == 64 else {
                throw AgeFailure.armor("line \(index + 2) is not 64 columns (only the last line may be shorter, and not empty)")
            }
            guard isLast || !line.contains(UInt8(ascii: "=")) else {
                throw AgeFailure.armor("padding before the last line")
            }
            text += line
        }
        do {
            return try Base64.decode(utf8: text)
        } catch let error as CachetCryptoError {
            throw AgeFailure.armor(error.message)
        }
    }

    /// Armors `bytes` as age does: begin line, 64-column padded base64, end line.
    package static func encode(_ bytes: some ContiguousBytes) -> String {
        pemText("AGE ENCRYPTED FILE", bytes)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
