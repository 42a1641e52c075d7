import CachetCrypto
import FoundationEssentials

/// Entry point for reading manifest streams: YAML (through libyaml) or JSON, chosen as kubeseal chooses.
package enum ManifestReader {
    /// Parses a stream into documents. Input whose first non-blank character is `{` is read as a stream of JSON
    /// objects (possibly concatenated); anything else as YAML (one or more documents; empty ones are skipped).
    package static func documents(
        in input: UnsafeRawBufferPointer, limits: ParseLimits = .default
    ) throws(ManifestError) -> [Document] {
        isJSON(input) ? try JSONReader.read(input, limits: limits) : try YAMLReader.read(input, limits: limits)
    }

    /// Parses a stream held in any contiguous bytes (`[UInt8]`, `SecureBytes`). Throws ``ManifestError``.
    package static func documents(in input: some ContiguousBytes, limits: ParseLimits = .default) throws -> [Document] {
        try input.withUnsafeBytes { bytes in try documents(in: bytes, limits: limits) }
    }

    /// True when the input is read as JSON: its first non-blank character (after a UTF-8 BOM) is `{`.
    package static func isJSON(_ input: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        if input.count >= 3, input[0] == 0xEF, input[1] == 0xBB, input[2] == 0xBF { index = 3 }  // UTF-8 BOM
        while index < input.count, [0x20, 0x09, 0x0A, 0x0D].contains(input[index]) { index += 1 }
        return index < input.count && input[index] == UInt8(ascii: "{")
    }

    /// The objects of a stream: each document, with a `List`'s items in its place (kubectl's `-o yaml` of several
    /// objects and Secret backups are Lists).
    package static func objects(in documents: [Document]) throws(ManifestError) -> [ManifestObject] {
        var objects: [ManifestObject] = []
        for document in documents {
            let root = document.root
            if root["kind"]?.scalar?.text == "List", root["apiVersion"]?.scalar?.text == "v1" {
                guard let items = root["items"] else {
                    objects.append(contentsOf: [])  // an empty List holds nothing
                    continue
                }
                guard let elements = items.elements else {
                    throw ManifestError("a List's items must be a list", at: items.start, path: "items", document: document.index)
                }
                for (index, item) in elements.enumerated() {
                    objects.append(ManifestObject(document: document.index, itemIndex: index, node: item))
                }
            } else {
                objects.append(ManifestObject(document: document.index, itemIndex: nil, node: root))
            }
        }
        return objects
    }
}

/// One Kubernetes object in a stream: a document, or an item of a `List` document.
package struct ManifestObject: Sendable {
    /// 1-based document index.
    package let document: Int
    /// 0-based index within a `List`'s items, if the object came from one.
    package let itemIndex: Int?
    package let node: Node

    package init(document: Int, itemIndex: Int?, node: Node) {
        self.document = document
        self.itemIndex = itemIndex
        self.node = node
    }

    /// Where the object's fields live, as a path prefix for messages: `""` or `items[3].`.
    var pathPrefix: String { itemIndex.map { "items[\($0)]." } ?? "" }

    /// `kind`, if it is a plain string.
    package var kind: String? { node["kind"]?.scalar?.text }
    package var apiVersion: String? { node["apiVersion"]?.scalar?.text }

    /// A short name for messages: `Secret team-a/app`, or the kind alone. Each part is cut to 80 characters: they
    /// come from the input, unchecked as yet.
    package var label: String {
        func short(_ text: String?) -> String? { text.map { $0.count > 80 ? String($0.prefix(80)) + "…" : $0 } }
        let kind = short(self.kind) ?? "object"
        let metadata = node["metadata"]
        let name = short(metadata?["name"]?.scalar?.text)
        let namespace = short(metadata?["namespace"]?.scalar?.text)
        switch (namespace, name) {
        case (let namespace?, let name?): return "\(kind) \(namespace)/\(name)"
        case (nil, let name?): return "\(kind) \(name)"
        default: return kind
        }
    }

    func error(_ message: String, at node: Node? = nil, path: String? = nil) -> ManifestError {
        let fullPath = path.map { pathPrefix + $0 } ?? (pathPrefix.isEmpty ? nil : String(pathPrefix.dropLast()))
        return ManifestError(message, at: (node ?? self.node).start, path: fullPath, document: document)
    }
}
