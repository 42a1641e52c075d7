internal import CYAML
#if canImport(Glibc)
import Glibc
#endif

/// Reads a YAML stream into ``Document``s through libyaml's event API (the system library).
///
/// libyaml parses; everything it does not do, this does, while the events arrive: depth, size and document limits
/// (libyaml 0.2.5 has none, and is quadratic on deep flow nesting), duplicate-key detection, and refusing non-scalar
/// keys. The tree is built with an explicit stack, never recursion, so input depth cannot exhaust the Swift stack.
enum YAMLReader {
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    static func read(_ input: UnsafeRawBufferPointer, limits: ParseLimits) throws(ManifestError) -> [Document] {
        guard input.count <= limits.maxBytes else {
            throw ManifestError("input is \(input.count) bytes; the limit is \(limits.maxBytes)")
        }
        // libyaml would transcode UTF-16, and then no byte offset (for splicing, for error positions) would be right.
        if input.starts(with: [0xFF, 0xFE]) || input.starts(with: [0xFE, 0xFF]) {
            throw ManifestError("the input is UTF-16; Kubernetes manifests are UTF-8 (convert it, e.g. with iconv -t UTF-8)")
        }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ManifestError("libyaml could not be initialised") }
        defer { yaml_parser_delete(&parser) }
        // libyaml wants a non-null pointer even for empty input.
        let empty: [UInt8] = [0]
        let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        empty.withUnsafeBufferPointer { fallback in
            yaml_parser_set_input_string(&parser, base ?? fallback.baseAddress, input.count)
        }
        var builder = TreeBuilder(limits: limits, offsets: OffsetConverter(input))
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                throw builder.syntaxError(parser)
            }
            defer { yaml_event_delete(&event) }
            if event.type == YAML_STREAM_END_EVENT { break }
            try builder.consume(&event)
        }
        return builder.documents
    }
}

/// Converts libyaml's marks, which count characters, to byte offsets. Marks arrive almost in order, so a cursor that
/// walks forward or back over UTF-8 is cheap; pure-ASCII input (most manifests) skips the walk entirely.
///
/// libyaml drops a leading byte-order mark before it counts, so character 0 is the byte after it: without this, every
/// offset in a file saved with a BOM was one character early (render spliced `---apiVersion: v1`).
struct OffsetConverter {
    private let input: UnsafeRawBufferPointer
    private let isASCII: Bool
    /// 3 after a UTF-8 byte-order mark, else 0.
    private let start: Int
    private var characterIndex = 0
    private var byteOffset: Int

    init(_ input: UnsafeRawBufferPointer) {
        self.input = input
        start = input.starts(with: YAMLReader.byteOrderMark) ? YAMLReader.byteOrderMark.count : 0
        byteOffset = start
        isASCII = !input[start...].contains { $0 >= 0x80 }
    }

    mutating func byteOffset(ofCharacter target: Int) -> Int {
        if isASCII { return min(start + target, input.count) }
        while characterIndex < target, byteOffset < input.count {
            byteOffset += 1
            while byteOffset < input.count, input[byteOffset] & 0xC0 == 0x80 { byteOffset += 1 }
            characterIndex += 1
        }
        while characterIndex > target, byteOffset > start {
            byteOffset -= 1
            while byteOffset > start, input[byteOffset] & 0xC0 == 0x80 { byteOffset -= 1 }
            characterIndex -= 1
        }
        return byteOffset
    }

    mutating func mark(_ mark: yaml_mark_t) -> SourceMark {
        SourceMark(offset: byteOffset(ofCharacter: Int(mark.index)), line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

/// Turns the event sequence into trees, one per document.
private struct TreeBuilder {
    /// A list or mapping still open.
    struct Frame {
        enum Kind { case sequence, mapping }
        let kind: Kind
        let start: SourceMark
        let isFlow: Bool
        var elements: [Node] = []
        var entries: [Node.Entry] = []
        var pendingKey: (String, Node)?
        /// Keys seen, once a mapping grows past a handful of entries (small ones are scanned instead: cheaper).
        var keyLines: [String: Int]?
    }

    let limits: ParseLimits
    var offsets: OffsetConverter
    var documents: [Document] = []
    var stack: [Frame] = []
    var root: Node?
    var documentStart = 0
    var documentCount = 0

    init(limits: ParseLimits, offsets: OffsetConverter) {
        self.limits = limits
        self.offsets = offsets
    }

    /// The key path to where the parser is, for messages: `metadata.labels.app`, `items[2].data`.
    var path: String {
        var parts: [String] = []
        for frame in stack {
            switch frame.kind {
            case .mapping: if let key = frame.pendingKey?.0 { parts.append(parts.isEmpty ? key : "." + key) }
            case .sequence: parts.append("[\(frame.elements.count)]")
            }
        }
        return parts.joined()
    }

    func error(_ message: String, at mark: SourceMark) -> ManifestError {
        ManifestError(message, at: mark, path: path.isEmpty ? nil : path, document: documentCount + 1)
    }

    mutating func syntaxError(_ parser: yaml_parser_t) -> ManifestError {
        // libyaml's problem texts are fixed phrases ("found character that cannot start any token"); they never
        // quote the input.
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let context = parser.context.map { String(cString: $0) + ": " } ?? ""
        let mark = offsets.mark(parser.problem_mark)
        return ManifestError("invalid YAML: \(context)\(problem)", at: mark, document: documentCount + 1)
    }

    mutating func consume(_ event: inout yaml_event_t) throws(ManifestError) {
        let start = offsets.mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documentStart = start.offset
            root = nil
        case YAML_DOCUMENT_END_EVENT:
            let end = offsets.mark(event.end_mark)
            if let root, !Self.isEmptyDocument(root) {
                documentCount += 1
                guard documentCount <= limits.maxDocuments else {
                    throw error("more than \(limits.maxDocuments) documents", at: start)
                }
                documents.append(Document(index: documentCount, root: root, range: documentStart..<max(end.offset, root.end.offset)))
            }
            root = nil
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            guard stack.count < limits.maxDepth else {
                throw error("nested deeper than \(limits.maxDepth) levels", at: start)
            }
            let isSequence = event.type == YAML_SEQUENCE_START_EVENT
            let isFlow = isSequence
                ? event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                : event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
            stack.append(Frame(kind: isSequence ? .sequence : .mapping, start: start, isFlow: isFlow))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let end = offsets.mark(event.end_mark)
            let kind: Node.Kind = frame.kind == .sequence ? .sequence(frame.elements) : .mapping(frame.entries)
            try attach(Node(kind: kind, start: frame.start, end: end, isFlow: frame.isFlow))
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let length = Int(scalar.length)
            guard length <= limits.maxScalarBytes else {
                throw error("a scalar of \(length) bytes exceeds the limit of \(limits.maxScalarBytes)", at: start)
            }
            let bytes = Array(UnsafeBufferPointer(start: scalar.value, count: length))
            // The event's copy may hold a secret value; clear it before libyaml frees it.
            if length > 0 { memset(scalar.value, 0, length) }
            let style: Node.ScalarStyle = switch scalar.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain
            }
            let tag = scalar.tag.map { String(cString: $0) }
            let end = offsets.mark(event.end_mark)
            try attach(Node(kind: .scalar(Node.Scalar(bytes: bytes, style: style, tag: tag)), start: start, end: end))
        case YAML_ALIAS_EVENT:
            let anchor = event.data.alias.anchor.map { String(cString: $0) } ?? ""
            try attach(Node(kind: .alias(anchor), start: start, end: offsets.mark(event.end_mark)))
        default:
            break  // stream start
        }
    }

    /// Adds a finished node to the open list or mapping, or makes it the document's root.
    mutating func attach(_ node: Node) throws(ManifestError) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        switch stack[top].kind {
        case .sequence:
            stack[top].elements.append(node)
        case .mapping:
            if let (key, keyNode) = stack[top].pendingKey {
                stack[top].entries.append(Node.Entry(key: key, keyNode: keyNode, value: node))
                stack[top].pendingKey = nil
            } else {
                guard let scalar = node.scalar else {
                    throw error("mapping keys must be strings, not \(node.kindDescription)", at: node.start)
                }
                let key = scalar.text
                let entries = stack[top].entries
                if !limits.allowDuplicateKeys, let firstLine = DuplicateKeys.firstLine(of: key, line: node.start.line, in: entries[...], index: &stack[top].keyLines) {
                    throw error("duplicate key \"\(key)\" (first at line \(firstLine))", at: node.start)
                }
                stack[top].pendingKey = (key, node)
            }
        }
    }

    /// An empty document (`---` with nothing after it) parses to an empty plain scalar; kubeseal skips those.
    static func isEmptyDocument(_ node: Node) -> Bool {
        if let scalar = node.scalar, scalar.bytes.isEmpty, scalar.style == .plain, scalar.tag == nil { return true }
        return false
    }
}

/// Duplicate-key detection for both readers: a linear scan while a mapping is small (no allocation, and Kubernetes
/// mappings mostly are), an index once it is not.
enum DuplicateKeys {
    static let scanLimit = 12

    /// The line where `key` first appeared among `entries`, or nil (and then `key`, on `line`, is recorded in the
    /// index when one is in use). Call before appending the new entry.
    static func firstLine(of key: String, line: Int, in entries: ArraySlice<Node.Entry>, index: inout [String: Int]?) -> Int? {
        if entries.count < scanLimit {
            return entries.first { $0.key == key }?.keyNode.start.line
        }
        // Move the index out while changing it, so the dictionary is uniquely referenced and grows in place.
        var keys = index ?? Dictionary(entries.map { ($0.key, $0.keyNode.start.line) }, uniquingKeysWith: { first, _ in first })
        index = nil
        defer { index = keys }
        if let first = keys[key] { return first }
        keys[key] = line
        return nil
    }
}
