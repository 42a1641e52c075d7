import CachetCrypto
import CachetKubeSyntax

/// A Kubernetes `Secret` (v1): what `cachet seal` reads and `cachet unseal` writes.
///
/// `data` (base64) and `stringData` (text) are merged into ``items`` as Kubernetes merges them: `stringData` wins for
/// a key in both. Values are held in ``SecureBytes``.
package struct SecretManifest: Sendable {
    package var metadata: ObjectMeta
    /// Item name → value bytes.
    package var items: [String: SecureBytes]
    package var type: String?
    package var immutable: Bool?
    /// Where it came from, for messages; nil for Secrets made by unsealing.
    package let source: ManifestObject?

    /// Kubernetes refuses Secrets whose values add up to more than 1 MiB.
    package static let maxTotalSize = 1 << 20

    package init(metadata: ObjectMeta, items: [String: SecureBytes], type: String?, immutable: Bool?) {
        self.metadata = metadata
        self.items = items
        self.type = type
        self.immutable = immutable
        self.source = nil
    }

    /// Reads a Secret, refusing anything it is not: another kind, unknown fields, values that are not text,
    /// invalid base64 in `data`, invalid item names, more than 1 MiB of values.
    package init(_ object: ManifestObject) throws(ManifestError) {
        let reader = FieldReader(object: object)
        _ = try reader.mapping(object.node, path: "")
        guard object.kind == "Secret", object.apiVersion == "v1" else {
            let found = [object.apiVersion, object.kind].compactMap { $0 }.joined(separator: " ")
            throw object.error("expected a Secret (apiVersion v1), found \(found.isEmpty ? "an object without kind" : found)")
        }
        var metadata = ObjectMeta()
        var data: [String: SecureBytes] = [:]
        var stringData: [String: SecureBytes] = [:]
        var type: String?
        var immutable: Bool?
        for entry in object.node.entries ?? [] {
            let key = try reader.key(entry, path: entry.key)
            switch key {
            case "apiVersion", "kind": break
            case "metadata": metadata = try ObjectMeta(entry.value, reader: reader, path: "metadata")
            case "data": data = try Self.items(entry.value, reader: reader, field: "data", base64: true)
            case "stringData": stringData = try Self.items(entry.value, reader: reader, field: "stringData", base64: false)
            case "type": type = try reader.string(entry.value, path: "type")
            case "immutable": immutable = try reader.bool(entry.value, path: "immutable")
            default: throw reader.error("unknown field \"\(key)\" in a Secret", at: entry.keyNode, path: key)
            }
        }
        let items = data.merging(stringData) { _, fromStringData in fromStringData }
        let total = items.values.reduce(0) { $0 + $1.count }
        guard total <= Self.maxTotalSize else {
            throw object.error("the values add up to \(total) bytes; Kubernetes refuses Secrets over 1 MiB")
        }
        self.metadata = metadata
        self.items = items
        self.type = type
        self.immutable = immutable
        self.source = object
    }

    private static func items(
        _ node: Node, reader: FieldReader, field: String, base64: Bool
    ) throws(ManifestError) -> [String: SecureBytes] {
        if let scalar = node.scalar, YAMLScalarTypes.resolve(scalar) == .null { return [:] }
        var items: [String: SecureBytes] = [:]
        for entry in try reader.mapping(node, path: field) {
            let key = try reader.key(entry, path: field)
            let path = field + "." + key
            guard KubeSyntax.isItemKey(key) else {
                throw reader.error(Self.invalidItemNameMessage(key), at: entry.keyNode, path: field)
            }
            let scalar = try reader.stringBytes(entry.value, path: path)
            do {
                if base64 {
                    let decoded: [UInt8]
                    do {
                        decoded = try Base64.decode(utf8: scalar.bytes)
                    } catch {
                        throw reader.error("not valid base64 (data values are base64; use stringData for text)",
                                           at: entry.value, path: path)
                    }
                    items[key] = try SecureBytes(copying: decoded)
                } else {
                    items[key] = try SecureBytes(copying: scalar.bytes)
                }
            } catch let error as ManifestError {
                throw error
            } catch {
                throw reader.error("\(error)", at: entry.value, path: path)  // out of guarded memory
            }
        }
        return items
    }

    static func invalidItemNameMessage(_ name: String) -> String {
        "item name \(name.quotedForMessage()) is not valid: use letters, digits, '-', '_' and '.' (at most 253, not starting with '..')"
    }

    /// As kubectl writes a Secret: sorted keys, values base64 under `data`.
    package var manifestValue: ManifestValue {
        var entries: [(String, ManifestValue)] = [
            ("apiVersion", .string("v1")), ("kind", .string("Secret")), ("metadata", metadata.manifestValue),
        ]
        if !items.isEmpty {
            entries.append(("data", .object(items.keys.sorted().map { key in (key, .string(Base64.encode(items[key]!))) })))
        }
        if let type { entries.append(("type", .string(type))) }
        if let immutable { entries.append(("immutable", .bool(immutable))) }
        return .sortedObject(entries)
    }
}
