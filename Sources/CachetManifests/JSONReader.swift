/// Reads a stream of JSON values (one, or several concatenated, as `kubectl get -o json` and kubeseal produce) into
/// the same ``Document``s as YAML, with the same limits and errors. Strict RFC 8259: no comments, no trailing commas,
/// valid UTF-8 only, duplicate keys refused. Iterative, so depth cannot exhaust the Swift stack.
struct JSONReader {
    private let input: UnsafeRawBufferPointer
    private let limits: ParseLimits
    private var position = 0
    private var line = 1
    private var lineStart = 0
    private let isASCII: Bool
    /// Last computed column, to count characters forward from it instead of from the line start.
    private var columnCache = (offset: 0, column: 1)
    private var documentIndex = 0
    private var path: [String] = []

    static func read(_ input: UnsafeRawBufferPointer, limits: ParseLimits) throws(ManifestError) -> [Document] {
        guard input.count <= limits.maxBytes else {
            throw ManifestError("input is \(input.count) bytes; the limit is \(limits.maxBytes)")
        }
        var reader = JSONReader(input: input, limits: limits)
        return try reader.readStream()
    }

    private init(input: UnsafeRawBufferPointer, limits: ParseLimits) {
        self.input = input
        self.limits = limits
        self.isASCII = !input.contains { $0 >= 0x80 }
    }

    // MARK: positions and errors

    private mutating func mark(_ offset: Int) -> SourceMark {
        if isASCII { return SourceMark(offset: offset, line: line, column: offset - lineStart + 1) }
        if columnCache.offset < lineStart || columnCache.offset > offset { columnCache = (lineStart, 1) }
        var column = columnCache.column
        for index in columnCache.offset..<offset where input[index] & 0xC0 != 0x80 { column += 1 }
        columnCache = (offset, column)
        return SourceMark(offset: offset, line: line, column: column)
    }

    private mutating func error(_ message: String) -> ManifestError {
        ManifestError(message, at: mark(min(position, input.count)), path: pathText, document: documentIndex)
    }

    private var pathText: String? {
        path.isEmpty ? nil : path.reduce("") { $0.isEmpty || $1.hasPrefix("[") ? $0 + $1 : $0 + "." + $1 }
    }

    // MARK: stream

    private mutating func readStream() throws(ManifestError) -> [Document] {
        var documents: [Document] = []
        skipWhitespace()
        while position < input.count {
            documentIndex += 1
            guard documentIndex <= limits.maxDocuments else { throw error("more than \(limits.maxDocuments) documents") }
            let start = position
            let root = try readValue()
            documents.append(Document(index: documentIndex, root: root, range: start..<position))
            skipWhitespace()
        }
        return documents
    }

    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0D: position += 1
            case 0x0A:
                position += 1
                line += 1
                lineStart = position
            default: return
            }
        }
    }

    /// One value, built with an explicit stack of open containers.
    private mutating func readValue() throws(ManifestError) -> Node {
        struct Frame {
            let isObject: Bool
            let start: SourceMark
            var elements: [Node] = []
            var entries: [Node.Entry] = []
            var key: (String, Node)?
            var keyLines: [String: Int]?
        }
        var stack: [Frame] = []
        while true {
            skipWhitespace()
            guard position < input.count else { throw error("unexpected end of input (truncated JSON)") }
            var finished: Node?
            let startMark = mark(position)
            switch input[position] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < limits.maxDepth else { throw error("nested deeper than \(limits.maxDepth) levels") }
                let isObject = input[position] == UInt8(ascii: "{")
                position += 1
                stack.append(Frame(isObject: isObject, start: startMark))
                skipWhitespace()
                let closer = UInt8(ascii: isObject ? "}" : "]")
                if position < input.count, input[position] == closer {
                    position += 1
                    let frame = stack.removeLast()
                    finished = Node(kind: isObject ? .mapping([]) : .sequence([]), start: frame.start, end: mark(position), isFlow: true)
                } else if isObject {
                    stack[stack.count - 1].key = try readKey(after: [], index: &stack[stack.count - 1].keyLines)
                    continue
                } else {
                    path.append("[0]")
                    continue
                }
            case UInt8(ascii: "\""):
                finished = Node(kind: .scalar(.init(bytes: try readString(), style: .jsonString, tag: nil)),
                                start: startMark, end: mark(position), isFlow: true)
            default:
                finished = Node(kind: .scalar(.init(bytes: try readLiteral(), style: .jsonLiteral, tag: nil)),
                                start: startMark, end: mark(position), isFlow: true)
            }
            // Attach the finished value, closing every container it completes.
            while var node = finished {
                guard !stack.isEmpty else { return node }
                let top = stack.count - 1
                if stack[top].isObject {
                    let (key, keyNode) = stack[top].key!
                    stack[top].entries.append(Node.Entry(key: key, keyNode: keyNode, value: node))
                    stack[top].key = nil
                } else {
                    stack[top].elements.append(node)
                }
                skipWhitespace()
                guard position < input.count else { throw error("unexpected end of input (truncated JSON)") }
                let next = input[position]
                position += 1
                if next == UInt8(ascii: ",") {
                    path.removeLast()
                    if stack[top].isObject {
                        let entries = stack[top].entries
                        stack[top].key = try readKey(after: entries, index: &stack[top].keyLines)
                    } else {
                        path.append("[\(stack[top].elements.count)]")
                    }
                    finished = nil
                } else if next == UInt8(ascii: stack[top].isObject ? "}" : "]") {
                    path.removeLast()
                    let frame = stack.removeLast()
                    node = Node(kind: frame.isObject ? .mapping(frame.entries) : .sequence(frame.elements),
                                start: frame.start, end: mark(position), isFlow: true)
                    finished = node
                } else {
                    position -= 1
                    throw error("expected ',' or '\(stack[top].isObject ? "}" : "]")'")
                }
            }
        }
    }

    /// `"key":` inside an object; refuses a key already seen in that object.
    private mutating func readKey(after entries: [Node.Entry], index: inout [String: Int]?) throws(ManifestError) -> (String, Node) {
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
        let start = mark(position)
        let text = String(decoding: try readString(), as: UTF8.self)
        let keyNode = Node(kind: .scalar(.init(bytes: Array(text.utf8), style: .jsonString, tag: nil)),
                           start: start, end: mark(position), isFlow: true)
        if !limits.allowDuplicateKeys, let first = DuplicateKeys.firstLine(of: text, line: start.line, in: entries[...], index: &index) {
            position = start.offset
            throw error("duplicate key \"\(text)\" (first at line \(first))")
        }
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
        position += 1
        path.append(text)
        return (text, keyNode)
    }

    /// A string's unescaped UTF-8 bytes; `position` is on the opening quote.
    private mutating func readString() throws(ManifestError) -> [UInt8] {
        position += 1
        var bytes: [UInt8] = []
        while true {
            guard position < input.count else { throw error("unterminated string (truncated JSON)") }
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard bytes.count <= limits.maxScalarBytes else {
                    throw error("a string of \(bytes.count) bytes exceeds the limit of \(limits.maxScalarBytes)")
                }
                return bytes
            case UInt8(ascii: "\\"):
                position += 1
                guard position < input.count else { throw error("unterminated string (truncated JSON)") }
                let escape = input[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escape)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try readHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard position + 1 < input.count, input[position] == UInt8(ascii: "\\"),
                              input[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate in a \\u escape") }
                        position += 2
                        let low = try readHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("unpaired surrogate in a \\u escape")
                    }
                    bytes.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    position -= 1
                    throw error("invalid escape in a string")
                }
            case 0x00..<0x20:
                throw error("control character in a string (escape it)")
            case 0x80...:
                let length = try validUTF8SequenceLength(at: position)
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[position..<position + length]))
                position += length
            default:
                bytes.append(byte)
                position += 1
            }
            if bytes.count > limits.maxScalarBytes {
                throw error("a string exceeds the limit of \(limits.maxScalarBytes) bytes")
            }
        }
    }

    private mutating func readHex4() throws(ManifestError) -> UInt32 {
        guard position + 4 <= input.count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = input[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    /// Length of the well-formed UTF-8 sequence at `offset` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    private mutating func validUTF8SequenceLength(at offset: Int) throws(ManifestError) -> Int {
        let lead = input[offset]
        let (length, low, high): (Int, UInt8, UInt8) = switch lead {
        case 0xC2...0xDF: (2, 0x80, 0xBF)
        case 0xE0: (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (3, 0x80, 0xBF)
        case 0xED: (3, 0x80, 0x9F)
        case 0xF0: (4, 0x90, 0xBF)
        case 0xF1...0xF3: (4, 0x80, 0xBF)
        case 0xF4: (4, 0x80, 0x8F)
        default: (0, 0, 0)
        }
        guard length > 0, offset + length <= input.count,
              (low...high).contains(input[offset + 1]),
              (offset + 2..<offset + length).allSatisfy({ input[$0] & 0xC0 == 0x80 })
        else { throw error("invalid UTF-8") }
        return length
    }

    /// `true`, `false`, `null` or a number, checked against JSON's grammar.
    private mutating func readLiteral() throws(ManifestError) -> [UInt8] {
        let start = position
        while position < input.count, !Self.isDelimiter(input[position]) { position += 1 }
        let text = Array(input[start..<position])
        guard text == Array("true".utf8) || text == Array("false".utf8) || text == Array("null".utf8)
                || Self.isJSONNumber(text) else {
            position = start
            throw error(text.isEmpty ? "expected a value" : "not a JSON value (strings need double quotes)")
        }
        return text
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ":"),
             UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "\""): true
        default: false
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    static func isJSONNumber(_ text: [UInt8]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) { index += 1 }
            return index - start
        }
        if index < text.count, text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < text.count else { return false }
        if text[index] == UInt8(ascii: "0") { index += 1 } else if digits() == 0 { return false }
        if index < text.count, text[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < text.count, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == text.count
    }
}
