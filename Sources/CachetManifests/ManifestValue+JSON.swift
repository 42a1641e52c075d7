import FoundationEssentials

/// Reading, editing and writing ``ManifestValue``s as JSON: the shape of every object the Kubernetes API exchanges.
extension ManifestValue {
    /// Parses one JSON value (strict RFC 8259). Throws ``ManifestError``.
    package init(json: some ContiguousBytes, limits: ParseLimits = .default) throws {
        let documents = try json.withUnsafeBytes { bytes -> [Document] in
            guard ManifestReader.isJSON(bytes) || bytes.first.map({ $0 == UInt8(ascii: "[") }) == true else {
                throw ManifestError("expected a JSON object")
            }
            return try JSONReader.read(bytes, limits: limits)
        }
        guard documents.count == 1 else { throw ManifestError("expected one JSON value, found \(documents.count)") }
        self = try ManifestValue(node: documents[0].root)
    }

    /// Converts a parsed YAML or JSON node the way sigs.k8s.io/yaml turns YAML into JSON (YAML 1.1 types for plain
    /// scalars). For configuration files such as kubeconfig; Secrets are read strictly by their own model instead.
    package init(node: Node) throws {
        switch node.kind {
        case .alias(let anchor):
            throw ManifestError("aliases (*\(anchor)) are not supported here", at: node.start)
        case .scalar(let scalar):
            let text = scalar.text
            switch YAMLScalarTypes.resolve(scalar) {
            case .null: self = .null
            case .bool: self = .bool(YAMLScalarTypes.trues.contains(text))
            case .int, .float:
                // The number's value in JSON's own spelling, as sigs.k8s.io/yaml gives it (`0x1F` is 31); a YAML
                // number JSON cannot spell (`.inf`, base 60) stays text, never invalid JSON.
                self = YAMLScalarTypes.jsonNumber(text).map(ManifestValue.number) ?? .string(text)
            default: self = .string(text)
            }
        case .sequence(let elements):
            self = .array(try elements.map { try ManifestValue(node: $0) })
        case .mapping(let entries):
            self = .object(try entries.map { ($0.key, try ManifestValue(node: $0.value)) })
        }
    }

    /// Compact JSON (one line, no trailing newline).
    package var jsonBytes: [UInt8] { JSONWriter.write(self, compact: true) }

    /// The value at a key path through objects (`["metadata", "name"]`).
    package func value(at path: [String]) -> ManifestValue? {
        var current: ManifestValue? = self
        for key in path { current = current?[key] }
        return current
    }

    package func string(at path: [String]) -> String? {
        value(at: path)?.stringValue
    }

    /// Sets `value` at a key path, creating objects on the way; `nil` removes the key.
    package mutating func setValue(_ value: ManifestValue?, at path: [String]) {
        guard let key = path.first else {
            if let value { self = value }
            return
        }
        guard case .object(var entries) = self else {
            if value == nil { return }
            self = .object([])
            setValue(value, at: path)
            return
        }
        let index = entries.firstIndex { $0.0 == key }
        if path.count == 1 {
            switch (index, value) {
            case (let index?, let value?): entries[index].1 = value
            case (nil, let value?): entries.append((key, value))
            case (let index?, nil): entries.remove(at: index)
            case (nil, nil): break
            }
        } else {
            var child = index.map { entries[$0].1 } ?? .object([])
            child.setValue(value, at: Array(path.dropFirst()))
            if let index { entries[index].1 = child } else { entries.append((key, child)) }
        }
        self = .object(entries)
    }

    /// The keys of an object, in order.
    package var keys: [String] {
        if case .object(let entries) = self { return entries.map(\.0) }
        return []
    }

    package var arrayValue: [ManifestValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// RFC 7386 JSON merge patch: objects merge key by key, `null` deletes, anything else replaces.
    package func applyingMergePatch(_ patch: ManifestValue) -> ManifestValue {
        guard case .object(let patchEntries) = patch else { return patch }
        var result: ManifestValue = if case .object = self { self } else { .object([]) }
        for (key, patchValue) in patchEntries {
            if patchValue == .null {
                result.setValue(nil, at: [key])
            } else {
                result.setValue((result[key] ?? .null).applyingMergePatch(patchValue), at: [key])
            }
        }
        return result
    }
}
