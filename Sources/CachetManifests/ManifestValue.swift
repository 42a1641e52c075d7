/// A JSON-shaped value with ordered object keys: what the models produce and the writers print, in YAML or JSON.
package indirect enum ManifestValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, kept as its JSON text (`3`, `-1.5e3`).
    case number(String)
    case string(String)
    case array([ManifestValue])
    case object([(String, ManifestValue)])

    package static func == (lhs: ManifestValue, rhs: ManifestValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// An object with its keys in sorted order (the order kubeseal's YAML has), dropping nothing.
    package static func sortedObject(_ entries: [(String, ManifestValue)]) -> ManifestValue {
        .object(entries.sorted { $0.0 < $1.0 })
    }

    /// An object of strings, sorted by key.
    package static func stringMap(_ map: [String: String]) -> ManifestValue {
        .object(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    /// The value under `key`, for objects.
    package subscript(key: String) -> ManifestValue? {
        if case .object(let entries) = self { return entries.last { $0.0 == key }?.1 }
        return nil
    }

    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

/// Output formats, as `-o` spells them.
package enum ManifestFormat: String, Sendable, CaseIterable {
    case json
    case yaml

    /// The format a file name implies (`.yaml`/`.yml` → YAML, `.json` → JSON), if any.
    package static func implied(byPath path: String) -> ManifestFormat? {
        let lowered = path.lowercased()
        if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") { return .yaml }
        if lowered.hasSuffix(".json") { return .json }
        return nil
    }

    /// Writes objects as one stream: YAML with `---` before each object; JSON as pretty-printed objects one after
    /// another (a stream kubectl and kubeseal read).
    package func write(_ objects: [ManifestValue]) throws -> [UInt8] {
        switch self {
        case .json: objects.flatMap { JSONWriter.write($0) }
        case .yaml: try YAMLWriter.write(objects)
        }
    }

    /// One object as a document body, to put in place of another in an existing stream: YAML without a `---`
    /// marker, or pretty JSON; no trailing newline.
    package func writeBody(_ object: ManifestValue) throws -> [UInt8] {
        var bytes = switch self {
        case .json: JSONWriter.write(object)
        case .yaml: try YAMLWriter.write([object], explicitDocumentStart: false)
        }
        while bytes.last == 0x0A { bytes.removeLast() }
        return bytes
    }

    /// One object as compact JSON on one line: valid in any YAML or JSON context (a list item, a flow collection).
    package static func compactJSON(_ object: ManifestValue) -> [UInt8] {
        JSONWriter.write(object, compact: true)
    }
}
