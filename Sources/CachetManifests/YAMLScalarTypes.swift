/// How a scalar is typed: YAML 1.1's implicit types, as go-yaml v2 (and so kubectl) resolves plain scalars.
///
/// Secrets hold text. A plain `yes` in `stringData` is read by kubectl as the boolean true and stored as `"true"`;
/// `0755` becomes `"493"`; `2001-12-14` becomes a timestamp. Sealing the raw text would seal something other than
/// what `kubectl apply` of the same Secret stores, so such scalars are refused where text is expected ("quote it").
/// This is the union of the YAML 1.1 type repository and go-yaml v2's resolver, deliberately wide: refusing a value
/// that only one reader would coerce costs a pair of quotes; accepting it could seal the wrong bytes.
///
/// Every scalar of every untrusted document passes through here, so the recognisers are hand-written single passes
/// (``ScalarCursor``): each reads its input left to right at most once and never backtracks. The regular
/// expressions they replace backtracked exponentially on values such as `1:1:1:…:1x` (a 190-byte value hung
/// `seal`, `render` and the controller's endpoints).
package enum YAMLScalarTypes {
    package enum ResolvedType: String, Sendable {
        case string, null, bool, int, float, timestamp, merge
        /// An explicit tag other than `!!str`.
        case tagged
    }

    package static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    package static let trues: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falses: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]

    /// The type a plain scalar's text resolves to. (`1.2.3` and `10.0.0.1` stay text: no reader types them; a digit
    /// string that is not a valid integer, such as `012345678`, is a float to go-yaml, which tries ParseFloat next.)
    package static func resolvePlain(_ text: String) -> ResolvedType {
        var steps = 0
        return resolvePlain(text, steps: &steps)
    }

    /// ``resolvePlain(_:)``, counting the bytes its recognisers examine (a test bounds the count by the length).
    static func resolvePlain(_ text: String, steps: inout Int) -> ResolvedType {
        if nulls.contains(text) { return .null }
        if trues.contains(text) || falses.contains(text) { return .bool }
        if text == "<<" { return .merge }
        guard let first = text.utf8.first,
              ScalarCursor.isDigit(first) || first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
        else { return .string }
        let bytes = Array(text.utf8)
        if isInt(bytes, steps: &steps) { return .int }
        if isFloat(bytes, steps: &steps) { return .float }
        if isTimestamp(bytes, steps: &steps) { return .timestamp }
        return .string
    }

    /// The type a parsed scalar has.
    package static func resolve(_ scalar: Node.Scalar) -> ResolvedType {
        if let tag = scalar.tag, tag != "!" {
            return tag == "tag:yaml.org,2002:str" ? .string : .tagged
        }
        switch scalar.style {
        case .plain: return resolvePlain(scalar.text)
        case .jsonLiteral:
            let text = scalar.text
            return text == "null" ? .null : (text == "true" || text == "false") ? .bool : .float
        default: return .string
        }
    }

    /// True when writing `text` as a plain YAML scalar would make a reader see something other than this string.
    static func needsQuotes(_ text: String) -> Bool {
        resolvePlain(text) != .string
    }

    // MARK: - Recognisers

    /// YAML 1.1 `[-+]?(0b[01_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)`, widened by what
    /// go-yaml v2 reads as an integer: it drops every `_` and calls Go's ParseInt with base 0, so `0X1F`, `0O17`,
    /// `0B101` and `+_1` are integers too.
    static func isInt(_ bytes: [UInt8], steps: inout Int) -> Bool {
        var cursor = ScalarCursor(bytes)
        defer { steps += cursor.steps }
        _ = cursor.take { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
        cursor.skip(UInt8(ascii: "_"))  // go-yaml: `+_1` is `+1`
        if cursor.take(UInt8(ascii: "0")) {
            if cursor.take(where: { $0 == UInt8(ascii: "x") || $0 == UInt8(ascii: "X") }) {
                return cursor.skip(where: { ScalarCursor.isHexDigit($0) || $0 == UInt8(ascii: "_") }) > 0 && cursor.atEnd
            }
            if cursor.take(where: { $0 == UInt8(ascii: "b") || $0 == UInt8(ascii: "B") }) {
                return cursor.skip(where: { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") || $0 == UInt8(ascii: "_") }) > 0
                    && cursor.atEnd
            }
            if cursor.take(where: { $0 == UInt8(ascii: "o") || $0 == UInt8(ascii: "O") }) {
                return cursor.skip(where: { ScalarCursor.isOctalDigit($0) || $0 == UInt8(ascii: "_") }) > 0 && cursor.atEnd
            }
            cursor.skip(where: { ScalarCursor.isOctalDigit($0) || $0 == UInt8(ascii: "_") })  // `0`, or octal `0755`
            return cursor.atEnd
        }
        guard cursor.take(where: ScalarCursor.isDigit) else { return false }
        cursor.skip(where: { ScalarCursor.isDigit($0) || $0 == UInt8(ascii: "_") })
        if cursor.atEnd { return true }
        // Base 60: `1:30:45`.
        return cursor.peek == UInt8(ascii: ":") && cursor.skipSexagesimalGroups() && cursor.atEnd
    }

    /// YAML 1.1 floats (`1.5`, `.5`, `1e3`, `1:30.5`, `.inf`, `.NaN`) widened by go-yaml v2, which drops `_` and then
    /// takes `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`: so every digit string that is not an integer
    /// (`012345678`) is a float as well.
    static func isFloat(_ bytes: [UInt8], steps: inout Int) -> Bool {
        var cursor = ScalarCursor(bytes)
        defer { steps += cursor.steps }
        _ = cursor.take { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
        if cursor.take(UInt8(ascii: ".")) {
            for word in ["inf", "Inf", "INF", "nan", "NaN", "NAN"] where cursor.remainderEquals(word) { return true }
            guard cursor.skipDigits(allowingUnderscores: true) > 0 else { return false }
            return cursor.skipExponent() && cursor.atEnd
        }
        guard cursor.skipDigits(allowingUnderscores: true) > 0 else { return false }
        if cursor.atEnd { return true }
        if cursor.peek == UInt8(ascii: ":") {
            guard cursor.skipSexagesimalGroups(), cursor.take(UInt8(ascii: ".")) else { return false }
            cursor.skip(where: { ScalarCursor.isDigit($0) || $0 == UInt8(ascii: "_") })
            return cursor.atEnd
        }
        if cursor.take(UInt8(ascii: ".")) {
            cursor.skip(where: { ScalarCursor.isDigit($0) || $0 == UInt8(ascii: "_") })
        }
        return cursor.skipExponent() && cursor.atEnd
    }

    /// YAML 1.1 timestamps, widened by go-yaml v2's layouts (one-digit minutes and seconds):
    /// `YYYY-M-D`, or that with `T`, `t` or blanks, `H:M:S`, an optional fraction, and an optional `Z` or offset.
    static func isTimestamp(_ bytes: [UInt8], steps: inout Int) -> Bool {
        var cursor = ScalarCursor(bytes)
        defer { steps += cursor.steps }
        guard cursor.skipDigits(exactly: 4...4), cursor.take(UInt8(ascii: "-")), cursor.skipDigits(exactly: 1...2),
              cursor.take(UInt8(ascii: "-")), cursor.skipDigits(exactly: 1...2)
        else { return false }
        if cursor.atEnd { return true }
        let separated = cursor.take { $0 == UInt8(ascii: "T") || $0 == UInt8(ascii: "t") }
            || cursor.skip(where: ScalarCursor.isBlank) > 0
        guard separated, cursor.skipDigits(exactly: 1...2), cursor.take(UInt8(ascii: ":")), cursor.skipDigits(exactly: 1...2),
              cursor.take(UInt8(ascii: ":")), cursor.skipDigits(exactly: 1...2)
        else { return false }
        if cursor.take(UInt8(ascii: ".")) { cursor.skip(where: ScalarCursor.isDigit) }
        cursor.skip(where: ScalarCursor.isBlank)
        if cursor.atEnd { return true }
        if cursor.take(UInt8(ascii: "Z")) { return cursor.atEnd }
        guard cursor.take(where: { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }), cursor.skipDigits(exactly: 1...2) else {
            return false
        }
        if cursor.take(UInt8(ascii: ":")) { guard cursor.skipDigits(exactly: 2...2) else { return false } }
        return cursor.atEnd
    }
}

/// A forward-only reader over a scalar's bytes: nothing here ever moves back, so every recogniser built on it is
/// linear in its input. `steps` counts the bytes examined.
struct ScalarCursor {
    private let bytes: [UInt8]
    private var index = 0
    private(set) var steps = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var atEnd: Bool { index == bytes.count }

    var peek: UInt8? {
        mutating get {
            guard index < bytes.count else { return nil }
            steps += 1
            return bytes[index]
        }
    }

    /// Consumes one byte if it matches.
    mutating func take(where matches: (UInt8) -> Bool) -> Bool {
        guard let byte = peek, matches(byte) else { return false }
        index += 1
        return true
    }

    mutating func take(_ expected: UInt8) -> Bool {
        take { $0 == expected }
    }

    /// Consumes bytes while they match; how many.
    @discardableResult
    mutating func skip(where matches: (UInt8) -> Bool) -> Int {
        let start = index
        while take(where: matches) {}
        return index - start
    }

    @discardableResult
    mutating func skip(_ byte: UInt8) -> Int {
        skip { $0 == byte }
    }

    /// Digits (and underscores, if allowed); the number of digits among them.
    mutating func skipDigits(allowingUnderscores: Bool) -> Int {
        var digits = 0
        while let byte = peek, Self.isDigit(byte) || allowingUnderscores && byte == UInt8(ascii: "_") {
            if Self.isDigit(byte) { digits += 1 }
            index += 1
        }
        return digits
    }

    /// Between `count.lowerBound` and `count.upperBound` digits, and no more.
    mutating func skipDigits(exactly count: ClosedRange<Int>) -> Bool {
        var taken = 0
        while taken < count.upperBound, take(where: Self.isDigit) { taken += 1 }
        guard taken >= count.lowerBound else { return false }
        if let byte = peek, Self.isDigit(byte) { return false }
        return true
    }

    /// `(:[0-5]?[0-9])+`: one or more base-60 groups, each one digit or two with the first at most 5.
    mutating func skipSexagesimalGroups() -> Bool {
        var groups = 0
        while take(UInt8(ascii: ":")) {
            guard let first = peek, Self.isDigit(first) else { return false }
            index += 1
            if let second = peek, Self.isDigit(second) {
                guard first <= UInt8(ascii: "5") else { return false }
                index += 1
            }
            groups += 1
        }
        return groups > 0
    }

    /// An optional `[eE][-+]?[0-9_]+` (with at least one digit); false if an exponent starts but is malformed.
    mutating func skipExponent() -> Bool {
        guard take(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else { return true }
        _ = take { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
        return skipDigits(allowingUnderscores: true) > 0
    }

    /// True (and consumed) if the rest of the input is exactly `word`.
    mutating func remainderEquals(_ word: String) -> Bool {
        let expected = Array(word.utf8)
        guard bytes.count - index == expected.count else { return false }
        for (offset, byte) in expected.enumerated() {
            steps += 1
            guard bytes[index + offset] == byte else { return false }
        }
        index = bytes.count
        return true
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    static func isOctalDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) }
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

extension YAMLScalarTypes {
    /// The JSON spelling of a plain YAML number, with the value go-yaml v2 (and so sigs.k8s.io/yaml and kubectl) reads:
    /// `0x1F` is `31`, `0755` is `493`, `1_000` is `1000`, `+.5` is `0.5`. Nil for what JSON cannot spell or go-yaml
    /// reads as text: infinities, NaN, base 60, integers beyond 64 bits. Written verbatim, such scalars made invalid
    /// JSON (`{"mode":0755}`) that `cachet validate` and `reencrypt` sent to the controller.
    package static func jsonNumber(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        if JSONReader.isJSONNumber(bytes) { return text }
        var body = bytes.filter { $0 != UInt8(ascii: "_") }
        var negative = false
        if let sign = body.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            body.removeFirst()
        }
        let sign = negative ? "-" : ""
        if body.count > 2, body[0] == UInt8(ascii: "0") {
            switch body[1] | 0x20 {  // lower case
            case UInt8(ascii: "x"): return integer(body[2...], radix: 16).map { sign + $0 }
            case UInt8(ascii: "b"): return integer(body[2...], radix: 2).map { sign + $0 }
            case UInt8(ascii: "o"): return integer(body[2...], radix: 8).map { sign + $0 }
            default: break
            }
        }
        if !body.isEmpty, body.allSatisfy(ScalarCursor.isDigit) {
            // Go's base 0: a leading zero means octal; a digit string that is not octal is read as a float, in decimal.
            let octal = body.count > 1 && body[0] == UInt8(ascii: "0") ? integer(body[1...], radix: 8) : nil
            if let value = octal ?? integer(body[...], radix: 10) { return sign + value }
        }
        // A float: go-yaml's `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, respelled without the forms JSON lacks
        // (a leading `+`, leading zeros, a bare `.` at either end).
        let exponentStart = body.firstIndex { $0 | 0x20 == UInt8(ascii: "e") } ?? body.endIndex
        let mantissa = body[..<exponentStart]
        let point = mantissa.firstIndex(of: UInt8(ascii: ".")) ?? mantissa.endIndex
        var whole = Array(mantissa[..<point].drop { $0 == UInt8(ascii: "0") })
        if whole.isEmpty { whole = [UInt8(ascii: "0")] }
        let fraction = point < mantissa.endIndex ? Array(mantissa[(point + 1)...]) : []
        var spelled = whole + (fraction.isEmpty ? [] : [UInt8(ascii: ".")] + fraction) + Array(body[exponentStart...])
        if negative { spelled.insert(UInt8(ascii: "-"), at: 0) }
        return JSONReader.isJSONNumber(spelled) && (!mantissa.isEmpty && mantissa != [UInt8(ascii: ".")])
            ? String(decoding: spelled, as: UTF8.self) : nil
    }

    /// Digits in `radix` as a decimal, or nil when a digit is out of range or the value needs more than 64 bits.
    private static func integer(_ digits: ArraySlice<UInt8>, radix: UInt64) -> String? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            guard digit < radix else { return nil }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: radix)
            let (sum, carried) = shifted.addingReportingOverflow(digit)
            guard !overflowed, !carried else { return nil }
            value = sum
        }
        return String(value)
    }
}
