/// Typed reads of an object's fields, with errors that say where (line:column and key path) and never quote a value.
struct FieldReader {
    let object: ManifestObject

    func error(_ message: String, at node: Node?, path: String) -> ManifestError {
        object.error(message, at: node, path: path)
    }

    /// Refuses aliases: a Secret has no use for them, and refusing them keeps alias bombs harmless.
    func checkNotAlias(_ node: Node, path: String) throws(ManifestError) {
        if case .alias(let anchor) = node.kind {
            throw error("aliases (*\(anchor)) are not allowed here; write the value out", at: node, path: path)
        }
    }

    func mapping(_ node: Node, path: String) throws(ManifestError) -> [Node.Entry] {
        try checkNotAlias(node, path: path)
        guard let entries = node.entries else {
            throw error("expected a mapping, found \(node.kindDescription)", at: node, path: path)
        }
        var index: [String: Int]?
        for (position, entry) in entries.enumerated() {
            if entry.key == "<<" {
                throw error("merge keys (<<) are not allowed here; write the fields out", at: entry.keyNode, path: path)
            }
            // The reader may have kept duplicates (render mode); a Secret or SealedSecret never may.
            if let first = DuplicateKeys.firstLine(of: entry.key, line: entry.keyNode.start.line, in: entries[..<position],
                                                   index: &index) {
                throw error("duplicate key \"\(entry.key)\" (first at line \(first))", at: entry.keyNode, path: path)
            }
        }
        return entries
    }

    /// A scalar that must be text. A plain scalar that YAML 1.1 would type otherwise is refused with "quote it".
    func string(_ node: Node, path: String) throws(ManifestError) -> String {
        try stringBytes(node, path: path).text
    }

    func stringBytes(_ node: Node, path: String) throws(ManifestError) -> Node.Scalar {
        try checkNotAlias(node, path: path)
        guard let scalar = node.scalar else {
            throw error("expected a string, found \(node.kindDescription)", at: node, path: path)
        }
        let type = YAMLScalarTypes.resolve(scalar)
        guard type == .string else {
            throw error(Self.coercionMessage(type, style: scalar.style), at: node, path: path)
        }
        return scalar
    }

    /// A mapping key that must be text: `on:` as a key is the boolean true to a YAML 1.1 reader.
    func key(_ entry: Node.Entry, path: String) throws(ManifestError) -> String {
        guard let scalar = entry.keyNode.scalar else { return entry.key }
        let type = YAMLScalarTypes.resolve(scalar)
        guard type == .string else {
            throw error("this unquoted key " + Self.typeDescription(type) + "; quote it", at: entry.keyNode, path: path)
        }
        return entry.key
    }

    func stringMap(_ node: Node, path: String) throws(ManifestError) -> [String: String] {
        var map: [String: String] = [:]
        for entry in try mapping(node, path: path) {
            let key = try key(entry, path: path)
            map[key] = try string(entry.value, path: path + "." + key)
        }
        return map
    }

    func bool(_ node: Node, path: String) throws(ManifestError) -> Bool {
        try checkNotAlias(node, path: path)
        guard let scalar = node.scalar, YAMLScalarTypes.resolve(scalar) == .bool else {
            throw error("expected true or false", at: node, path: path)
        }
        switch scalar.text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("write true or false (YAML 1.1 spellings like yes/on are ambiguous)", at: node, path: path)
        }
    }

    /// Any value, converted to a ``ManifestValue`` the way a JSON reader would see it. Only unambiguous forms are
    /// accepted: `yes`, `0755` or `1_000` mean different things to different YAML readers and are refused.
    func value(_ node: Node, path: String) throws(ManifestError) -> ManifestValue {
        try checkNotAlias(node, path: path)
        switch node.kind {
        case .alias:
            fatalError("checked above")
        case .scalar(let scalar):
            let type = YAMLScalarTypes.resolve(scalar)
            let text = scalar.text
            switch type {
            case .string: return .string(text)
            case .null: return .null
            case .bool where ["true", "false"].contains(text): return .bool(text == "true")
            case .int, .float:
                if JSONReader.isJSONNumber(Array(text.utf8)) { return .number(text) }
            default: break
            }
            throw error(Self.coercionMessage(type, style: scalar.style), at: node, path: path)
        case .sequence(let elements):
            var values: [ManifestValue] = []
            for (index, element) in elements.enumerated() {
                values.append(try value(element, path: "\(path)[\(index)]"))
            }
            return .array(values)
        case .mapping:
            var entries: [(String, ManifestValue)] = []
            for entry in try mapping(node, path: path) {
                let key = try key(entry, path: path)
                entries.append((key, try value(entry.value, path: path.isEmpty ? key : path + "." + key)))
            }
            return .object(entries)
        }
    }

    static func typeDescription(_ type: YAMLScalarTypes.ResolvedType) -> String {
        switch type {
        case .null: "would be read as null (empty), not as text"
        case .bool: "would be read as a boolean by YAML 1.1 readers such as kubectl, not as text"
        case .int, .float: "would be read as a number by YAML 1.1 readers such as kubectl, not as text"
        case .timestamp: "would be read as a timestamp by YAML 1.1 readers such as kubectl, not as text"
        case .merge: "is a YAML merge key"
        case .tagged: "carries a YAML tag other than !!str"
        case .string: "is text"
        }
    }

    static func coercionMessage(_ type: YAMLScalarTypes.ResolvedType, style: Node.ScalarStyle) -> String {
        if style == .jsonLiteral { return "expected a JSON string (in double quotes)" }
        return "this unquoted value " + typeDescription(type) + "; quote it"
    }
}
