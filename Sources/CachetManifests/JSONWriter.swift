/// JSON, keys in the order given: pretty-printed (two-space indent, a newline at the end) or compact on one line.
enum JSONWriter {
    static func write(_ value: ManifestValue, compact: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        // Explicit stack of work items so that depth never recurses.
        enum Work { case value(ManifestValue, indent: Int), raw(String) }
        var work: [Work] = [.value(value, indent: 0)]
        while let item = work.popLast() {
            switch item {
            case .raw(let text):
                output.append(contentsOf: text.utf8)
            case .value(let value, let indent):
                switch value {
                case .null: output.append(contentsOf: "null".utf8)
                case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
                case .number(let text): output.append(contentsOf: text.utf8)
                case .string(let text): appendString(text, to: &output)
                case .array(let elements):
                    if elements.isEmpty { output.append(contentsOf: "[]".utf8); continue }
                    let inner = compact ? "" : String(repeating: " ", count: indent + 2)
                    var pending: [Work] = [.raw(compact ? "[" : "[\n")]
                    for (index, element) in elements.enumerated() {
                        pending.append(.raw(inner))
                        pending.append(.value(element, indent: indent + 2))
                        pending.append(.raw(index == elements.count - 1 ? (compact ? "" : "\n") : (compact ? "," : ",\n")))
                    }
                    pending.append(.raw((compact ? "" : String(repeating: " ", count: indent)) + "]"))
                    work.append(contentsOf: pending.reversed())
                case .object(let entries):
                    if entries.isEmpty { output.append(contentsOf: "{}".utf8); continue }
                    let inner = compact ? "" : String(repeating: " ", count: indent + 2)
                    var pending: [Work] = [.raw(compact ? "{" : "{\n")]
                    for (index, (key, element)) in entries.enumerated() {
                        var keyText: [UInt8] = []
                        appendString(key, to: &keyText)
                        pending.append(.raw(inner + String(decoding: keyText, as: UTF8.self) + (compact ? ":" : ": ")))
                        pending.append(.value(element, indent: indent + 2))
                        pending.append(.raw(index == entries.count - 1 ? (compact ? "" : "\n") : (compact ? "," : ",\n")))
                    }
                    pending.append(.raw((compact ? "" : String(repeating: " ", count: indent)) + "}"))
                    work.append(contentsOf: pending.reversed())
                }
            }
        }
        if !compact { output.append(0x0A) }
        return output
    }

    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case 0x0A: output.append(contentsOf: "\\n".utf8)
            case 0x0D: output.append(contentsOf: "\\r".utf8)
            case 0x09: output.append(contentsOf: "\\t".utf8)
            case 0x00..<0x20, 0x7F:
                let hex = String(byte, radix: 16)
                output.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
