import CachetCrypto

/// Edits a SealedSecret file in place, byte for byte: sets items of `spec.encryptedData` and touches nothing else,
/// so the git diff of a `--merge-into` shows only the items that changed. Comments, key order, quoting and
/// indentation elsewhere stay exactly as they were.
package struct SealedSecretEditor {
    /// The file's bytes.
    package let original: [UInt8]
    /// The SealedSecret the file holds.
    package let sealedSecret: SealedSecretManifest
    private let root: Node
    private let isJSON: Bool

    /// Parses `file`, which must hold exactly one SealedSecret.
    package init(file: [UInt8]) throws {
        let documents = try ManifestReader.documents(in: file)
        guard documents.count == 1, let document = documents.first else {
            throw ManifestError("expected exactly one SealedSecret document, found \(documents.count)")
        }
        let objects = try ManifestReader.objects(in: documents)
        guard objects.count == 1, objects[0].itemIndex == nil else {
            throw ManifestError("expected one SealedSecret, not a List", document: document.index)
        }
        self.original = file
        self.sealedSecret = try SealedSecretManifest(objects[0])
        self.root = document.root
        self.isJSON = file.withUnsafeBytes { ManifestReader.isJSON($0) }
    }

    private struct Edit {
        let range: Range<Int>
        let text: String
    }

    /// The file with `items` (name → sealed value) added or replaced, and, if the file already has a
    /// `cachet.dev/sealed-by` annotation, `sealedBy` put first in it — alone when `items` replace every value the
    /// file had (a re-encryption), since no value is left that an older key sealed. Everything else keeps its bytes.
    package func settingItems(_ items: [String: String], sealedBy: [KeyID]) throws -> [UInt8] {
        guard let spec = root["spec"], let dataEntry = spec.entries?.last(where: { $0.key == "encryptedData" }) else {
            throw ManifestError("the SealedSecret has no spec.encryptedData to merge into", path: "spec", document: 1)
        }
        var edits: [Edit] = []
        let mapping = dataEntry.value
        let existing = mapping.entries ?? []
        var newKeys: [String] = []
        for key in items.keys.sorted() {
            if let entry = existing.last(where: { $0.key == key }) {
                edits.append(Edit(range: entry.value.range, text: scalarText(items[key]!, like: entry.value)))
            } else {
                newKeys.append(key)
            }
        }
        if !newKeys.isEmpty {
            edits += try insertions(newKeys, values: items, into: mapping, under: dataEntry)
        }
        if !sealedBy.isEmpty, let annotation = root["metadata"]?["annotations"]?.entries?.last(where: { $0.key == Annotations.sealedBy }) {
            let replacesAll = existing.allSatisfy { items[$0.key] != nil }
            let current = replacesAll ? [] : sealedSecret.sealedBy.filter { !sealedBy.contains($0) }
            let value = (sealedBy + current).map(\.hex).joined(separator: ",")
            edits.append(Edit(range: annotation.value.range, text: scalarText(value, like: annotation.value)))
        }
        var result = original
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            result.replaceSubrange(edit.range, with: Array(edit.text.utf8))
        }
        try verify(result, items: items)
        return result
    }

    /// New entries, placed after the existing entry that sorts just before them (so a sorted file stays sorted),
    /// in the file's own style: block YAML, flow YAML, or JSON.
    private func insertions(
        _ keys: [String], values: [String: String], into mapping: Node, under dataEntry: Node.Entry
    ) throws(ManifestError) -> [Edit] {
        let existing = mapping.entries ?? []
        let parentIndent = dataEntry.keyNode.start.column - 1
        guard let first = existing.first else {
            let inner = String(repeating: " ", count: parentIndent + 2)
            if isJSON {
                // `"encryptedData": {}` becomes a pretty-printed object.
                let lines = keys.map { inner + scalarText($0) + ": " + scalarText(values[$0]!) }
                let text = "{\n" + lines.joined(separator: ",\n") + "\n" + String(repeating: " ", count: parentIndent) + "}"
                return [Edit(range: mapping.range, text: text)]
            }
            let block = keys.map { "\n" + inner + keyText($0) + ": " + scalarText(values[$0]!) }.joined()
            if mapping.entries != nil {
                // `encryptedData: {}`: the braces give way to a block.
                return [Edit(range: mapping.range, text: block)]
            }
            // `encryptedData:` with no value: the block goes right after the colon; whatever followed it on that
            // line (spaces, a comment) now follows the last entry.
            guard let colon = original[dataEntry.keyNode.end.offset...].firstIndex(of: UInt8(ascii: ":")) else {
                throw ManifestError("cannot find the ':' after encryptedData", at: dataEntry.keyNode.end, document: 1)
            }
            return [Edit(range: colon + 1..<colon + 1, text: block)]
        }
        let indent = String(repeating: " ", count: first.keyNode.start.column - 1)
        var groups: [Int: [String]] = [:]  // index of the entry to insert after (-1: before the first)
        for key in keys {
            let anchor = existing.lastIndex { $0.key < key } ?? -1
            groups[anchor, default: []].append(key)
        }
        return groups.map { anchor, keys in
            let entries = keys.map { keyText($0) + ": " + scalarText(values[$0]!) }
            if anchor < 0 {
                let separator = isJSON ? ",\n" + indent : mapping.isFlow ? ", " : "\n" + indent
                let text = entries.map { $0 + separator }.joined()
                return Edit(range: first.keyNode.start.offset..<first.keyNode.start.offset, text: text)
            }
            let separator = isJSON ? ",\n" + indent : mapping.isFlow ? ", " : "\n" + indent
            var position = existing[anchor].value.end.offset
            if !isJSON, !mapping.isFlow {
                // In a block mapping, a new line goes after the whole line, so a trailing comment stays where it was.
                position = original[position...].firstIndex(of: UInt8(ascii: "\n")) ?? original.count
            }
            return Edit(range: position..<position, text: entries.map { separator + $0 }.joined())
        }
    }

    private func keyText(_ key: String) -> String {
        isJSON || YAMLScalarTypes.needsQuotes(key) ? quoted(key) : key
    }

    private func scalarText(_ value: String) -> String {
        isJSON || YAMLScalarTypes.needsQuotes(value) ? quoted(value) : value
    }

    /// A replacement value in the style of the one it replaces (quoted stays quoted), unless that would change its type.
    private func scalarText(_ value: String, like node: Node) -> String {
        switch node.scalar?.style {
        case .doubleQuoted, .jsonString: quoted(value)
        case .singleQuoted where !value.contains("'") && !value.contains("\n"): "'" + value + "'"
        default: scalarText(value)
        }
    }

    private func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONWriter.appendString(text, to: &bytes)  // a JSON string is also a valid YAML double-quoted scalar
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Re-reads the edited file: it must still be one SealedSecret, with every merged item holding its new value.
    private func verify(_ result: [UInt8], items: [String: String]) throws {
        let check = try SealedSecretEditor(file: result)
        for (key, value) in items where check.sealedSecret.encryptedData[key] != value {
            throw ManifestError("internal error: the merged file does not hold item \(key) as written; nothing was changed")
        }
        let untouched = sealedSecret.encryptedData.filter { items[$0.key] == nil }
        for (key, value) in untouched where check.sealedSecret.encryptedData[key] != value {
            throw ManifestError("internal error: the merge would change item \(key); nothing was changed")
        }
    }
}
