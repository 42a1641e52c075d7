/// A position in the input: byte offset, and 1-based line and column (columns count characters, as editors do).
package struct SourceMark: Sendable, Hashable, CustomStringConvertible {
    package let offset: Int
    package let line: Int
    package let column: Int

    package init(offset: Int, line: Int, column: Int) {
        self.offset = offset
        self.line = line
        self.column = column
    }

    package var description: String { "\(line):\(column)" }
}

/// One node of a parsed YAML or JSON document, with where it came from.
///
/// This is the syntax tree, not an interpretation: scalars keep their raw text and style, so that the models decide
/// how a scalar is typed (and can refuse a plain `yes` where a string is needed instead of guessing). Aliases are kept
/// as aliases and never expanded, so an alias bomb costs nothing to parse; models that read Secrets refuse them.
package struct Node: Sendable {
    package enum ScalarStyle: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded
        /// A JSON string: always a string, never resolved.
        case jsonString
        /// A JSON number, `true`, `false` or `null`: typed by its text.
        case jsonLiteral
    }

    package struct Scalar: Sendable {
        /// The scalar's value after unescaping, as UTF-8.
        package var bytes: [UInt8]
        package let style: ScalarStyle
        /// An explicit tag (`!!str`, `tag:yaml.org,2002:int`, …), expanded as libyaml reports it.
        package let tag: String?

        package var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    package struct Entry: Sendable {
        package let key: String
        package let keyNode: Node
        package let value: Node
    }

    package enum Kind: Sendable {
        case scalar(Scalar)
        case sequence([Node])
        case mapping([Entry])
        /// `*name`: a reference to an anchored node, not expanded.
        case alias(String)
    }

    package let kind: Kind
    package let start: SourceMark
    package let end: SourceMark
    /// Flow style (`[…]`, `{…}`) rather than block style; JSON is always flow.
    package let isFlow: Bool

    package init(kind: Kind, start: SourceMark, end: SourceMark, isFlow: Bool = false) {
        self.kind = kind
        self.start = start
        self.end = end
        self.isFlow = isFlow
    }

    /// The byte range the node covers in the input.
    package var range: Range<Int> { start.offset..<end.offset }

    package var scalar: Scalar? {
        if case .scalar(let scalar) = kind { return scalar }
        return nil
    }

    package var entries: [Entry]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    package var elements: [Node]? {
        if case .sequence(let elements) = kind { return elements }
        return nil
    }

    /// The tree of a value already parsed (an object from the Kubernetes API), typed as JSON types it, so that the
    /// models read it without writing it out and parsing it again. It has no source: every mark is 0:0.
    package init(_ value: ManifestValue) {
        let none = SourceMark(offset: 0, line: 0, column: 0)
        func literal(_ text: String) -> Kind { .scalar(Scalar(bytes: Array(text.utf8), style: .jsonLiteral, tag: nil)) }
        let kind: Kind = switch value {
        case .null: literal("null")
        case .bool(let flag): literal(flag ? "true" : "false")
        case .number(let text): literal(text)
        case .string(let text): .scalar(Scalar(bytes: Array(text.utf8), style: .jsonString, tag: nil))
        case .array(let elements): .sequence(elements.map(Node.init))
        case .object(let entries):
            .mapping(entries.map { Entry(key: $0.0, keyNode: Node(.string($0.0)), value: Node($0.1)) })
        }
        self.init(kind: kind, start: none, end: none, isFlow: true)
    }

    /// The value under `key` in a mapping (the last one, though duplicates are refused at parse time).
    package subscript(key: String) -> Node? {
        entries?.last { $0.key == key }?.value
    }

    /// What the node is, for messages ("a mapping", "a string").
    package var kindDescription: String {
        switch kind {
        case .scalar: "a scalar"
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }
}

/// One document of a stream.
package struct Document: Sendable {
    /// 1-based position in the stream, counting only non-empty documents.
    package let index: Int
    package let root: Node
    /// The bytes of the document in the input, from its first byte (a `---` marker if it has one) to the end of its
    /// content or its `...` marker.
    package let range: Range<Int>
}
