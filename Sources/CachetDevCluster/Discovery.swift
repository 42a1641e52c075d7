import CachetKubeConfig
import CachetManifests

/// Legacy (non-aggregated) discovery documents. kubectl asks for aggregated discovery first and, when the answer is
/// plain JSON, falls back to these, as it does with older API servers.
enum Discovery {
    static let apiVersions = ManifestValue.object([
        ("kind", .string("APIVersions")), ("versions", .array([.string("v1")])),
        ("serverAddressByClientCIDRs", .array([.object([("clientCIDR", .string("0.0.0.0/0")), ("serverAddress", .string("127.0.0.1"))])])),
    ])

    static func groups(_ resources: some Sequence<APIResource>) -> [String: [String]] {
        var groups: [String: [String]] = [:]
        for resource in resources where !resource.type.group.isEmpty {
            if !(groups[resource.type.group]?.contains(resource.type.version) ?? false) {
                groups[resource.type.group, default: []].append(resource.type.version)
            }
        }
        return groups
    }

    static func groupValue(_ name: String, versions: [String]) -> ManifestValue {
        let versionValues = versions.map { ManifestValue.object([("groupVersion", .string("\(name)/\($0)")), ("version", .string($0))]) }
        return .object([
            ("kind", .string("APIGroup")), ("apiVersion", .string("v1")),
            ("name", .string(name)), ("versions", .array(versionValues)), ("preferredVersion", versionValues[0]),
        ])
    }

    static func groupList(_ resources: some Sequence<APIResource>) -> ManifestValue {
        let groups = groups(resources).sorted { $0.key < $1.key }.map { groupValue($0.key, versions: $0.value) }
        return .object([("kind", .string("APIGroupList")), ("apiVersion", .string("v1")), ("groups", .array(groups))])
    }

    static func group(_ name: String, _ resources: some Sequence<APIResource>) -> ManifestValue? {
        groups(resources)[name].map { groupValue(name, versions: $0) }
    }

    static func resourceList(group: String, version: String, _ resources: some Sequence<APIResource>) -> ManifestValue {
        var entries: [ManifestValue] = []
        for resource in resources.sorted(by: { $0.type.resource < $1.type.resource })
        where resource.type.group == group && resource.type.version == version {
            var fields: [(String, ManifestValue)] = [
                ("name", .string(resource.type.resource)), ("singularName", .string(resource.singular)),
                ("namespaced", .bool(resource.type.namespaced)), ("kind", .string(resource.type.kind)),
                ("verbs", .array(APIResource.verbs.map { .string($0) })),
            ]
            if !resource.shortNames.isEmpty { fields.append(("shortNames", .array(resource.shortNames.map { .string($0) }))) }
            entries.append(.object(fields))
            if resource.hasStatusSubresource {
                entries.append(.object([
                    ("name", .string(resource.type.resource + "/status")), ("singularName", .string("")),
                    ("namespaced", .bool(resource.type.namespaced)), ("kind", .string(resource.type.kind)),
                    ("verbs", .array(["get", "patch", "update"].map { .string($0) })),
                ]))
            }
            if resource.type == .services {
                entries.append(.object([
                    ("name", .string("services/proxy")), ("singularName", .string("")), ("namespaced", .bool(true)),
                    ("kind", .string("ServiceProxyOptions")), ("verbs", .array(["create", "get"].map { .string($0) })),
                ]))
            }
        }
        let groupVersion = group.isEmpty ? version : "\(group)/\(version)"
        return .object([
            ("kind", .string("APIResourceList")), ("apiVersion", .string("v1")),
            ("groupVersion", .string(groupVersion)), ("resources", .array(entries)),
        ])
    }
}

/// OpenAPI v3, just enough for clients to see that the server validates fields itself: kubectl looks for the
/// `fieldValidation` query parameter on each kind's PATCH operation and, finding it, sends `fieldValidation=Strict`
/// instead of downloading schemas to validate on its own side. This server has no schemas: it accepts the parameter
/// and checks names, types and data, not unknown fields.
enum OpenAPI {
    static func groupVersions(_ resources: some Sequence<APIResource>) -> [String] {
        Array(Set(resources.map { $0.type.group.isEmpty ? "api/\($0.type.version)" : "apis/\($0.type.group)/\($0.type.version)" })).sorted()
    }

    static func root(_ resources: some Sequence<APIResource>) -> ManifestValue {
        .object([("paths", .object(groupVersions(resources).map { path in
            (path, .object([("serverRelativeURL", .string("/openapi/v3/\(path)?hash=cachet-dev"))]))
        }))])
    }

    static func document(_ groupVersion: String, _ resources: some Sequence<APIResource>) -> ManifestValue? {
        let matching = resources.filter {
            ($0.type.group.isEmpty ? "api/\($0.type.version)" : "apis/\($0.type.group)/\($0.type.version)") == groupVersion
        }
        guard !matching.isEmpty else { return nil }
        let parameter = ManifestValue.object([
            ("name", .string("fieldValidation")), ("in", .string("query")), ("schema", .object([("type", .string("string"))])),
        ])
        var paths: [(String, ManifestValue)] = []
        for resource in matching.sorted(by: { $0.type.resource < $1.type.resource }) {
            let gvk = ManifestValue.object([
                ("group", .string(resource.type.group)), ("version", .string(resource.type.version)), ("kind", .string(resource.type.kind)),
            ])
            let operation = ManifestValue.object([("x-kubernetes-group-version-kind", gvk), ("parameters", .array([parameter]))])
            let path = resource.type.path(namespace: resource.type.namespaced ? "{namespace}" : nil, name: "{name}")
                .replacingOccurrences(of: "%7B", with: "{").replacingOccurrences(of: "%7D", with: "}")
            paths.append((path, .object([("patch", operation), ("put", operation)])))
        }
        return .object([
            ("openapi", .string("3.0.0")), ("info", .object([("title", .string("cachet dev-cluster")), ("version", .string("v1.32.0"))])),
            ("paths", .object(paths)), ("components", .object([("schemas", .object([]))])),
        ])
    }
}

/// OpenAPI v2, as kubectl reads it for client-side validation (a `kind: List`, for one, is validated item by item
/// against it, whatever v3 says): gnostic's `openapi.v2.Document` protobuf, with one definition per kind this
/// server knows, carrying `x-kubernetes-group-version-kind`. The definitions have no type and no properties — kube-
/// openapi reads that as "any value" — because the server checks the objects itself; what kubectl needs is to find
/// the kind. Written by hand: seven message types, a few dozen lines, against pulling in a protobuf library.
enum OpenAPIV2 {
    /// What kubectl asks for (the `@` form, which is not a valid media type) and what the API server answers with.
    static let requestedType = "com.github.proto-openapi.spec.v2"
    static let mediaType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    static func definitionName(_ type: ResourceType) -> String {
        let group = type.group.isEmpty ? "io.k8s.api.core" : type.group.split(separator: ".").reversed().joined(separator: ".")
        return "\(group).\(type.version).\(type.kind)"
    }

    static func gvkYAML(_ type: ResourceType) -> String {
        "- group: \"\(type.group)\"\n  kind: \(type.kind)\n  version: \(type.version)\n"
    }

    /// The document as protobuf (field numbers from gnostic's OpenAPIv2.proto).
    static func document(_ resources: some Sequence<APIResource>) -> [UInt8] {
        let types = resources.map(\.type).sorted { definitionName($0) < definitionName($1) }
        let definitions = types.flatMap { type -> [UInt8] in
            let extensionValue = field(2, field(2, gvkYAML(type)))                       // Any.yaml
            let vendorExtension = field(1, "x-kubernetes-group-version-kind") + extensionValue  // NamedAny
            let schema = field(4, "\(type.kind) (checked by the server)") + field(31, vendorExtension)  // description, vendor_extension
            return field(1, field(1, definitionName(type)) + field(2, schema))           // NamedSchema in Definitions
        }
        let info = field(1, "cachet dev-cluster") + field(2, "v1.32.0")
        return field(1, "2.0") + field(2, info) + field(9, definitions)
    }

    /// The same as JSON, for people and tools that ask for it.
    static func json(_ resources: some Sequence<APIResource>) -> ManifestValue {
        let types = resources.map(\.type).sorted { definitionName($0) < definitionName($1) }
        return .object([
            ("swagger", .string("2.0")),
            ("info", .object([("title", .string("cachet dev-cluster")), ("version", .string("v1.32.0"))])),
            ("paths", .object([])),
            ("definitions", .object(types.map { type in
                (definitionName(type), .object([
                    ("description", .string("\(type.kind) (checked by the server)")),
                    ("x-kubernetes-group-version-kind", .array([.object([
                        ("group", .string(type.group)), ("kind", .string(type.kind)), ("version", .string(type.version)),
                    ])])),
                ]))
            })),
        ])
    }

    /// A length-delimited protobuf field (wire type 2).
    static func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] {
        varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
    }

    static func field(_ number: Int, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }
}

/// RFC 6902 JSON Patch: add, remove, replace, test, copy and move, with RFC 6901 pointers.
enum JSONPatch {
    static func apply(_ patch: ManifestValue, to document: ManifestValue) throws(APIError) -> ManifestValue {
        guard let operations = patch.arrayValue else { throw APIError.badRequest("a JSON patch must be an array of operations") }
        var result = document
        for operation in operations {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw APIError.badRequest("a JSON patch operation needs op and path")
            }
            let pointer = try pointer(path)
            switch op {
            case "add", "replace":
                guard let value = operation["value"] else { throw APIError.badRequest("\(op) needs a value") }
                if op == "replace", get(result, pointer) == nil { throw APIError.invalid("replace: \(path) does not exist") }
                result = try set(result, pointer, value, inserting: op == "add")
            case "remove":
                guard get(result, pointer) != nil else { throw APIError.invalid("remove: \(path) does not exist") }
                result = try set(result, pointer, nil, inserting: false)
            case "test":
                guard get(result, pointer) == operation["value"] else { throw APIError.invalid("test failed at \(path)") }
            case "copy", "move":
                guard let from = operation["from"]?.stringValue, let value = get(result, try self.pointer(from)) else {
                    throw APIError.invalid("\(op): the from path does not exist")
                }
                if op == "move" { result = try set(result, try self.pointer(from), nil, inserting: false) }
                result = try set(result, pointer, value, inserting: true)
            default:
                throw APIError.badRequest("unknown JSON patch operation \(op)")
            }
        }
        return result
    }

    static func pointer(_ path: String) throws(APIError) -> [String] {
        guard path.isEmpty || path.hasPrefix("/") else { throw APIError.badRequest("invalid JSON pointer \(path)") }
        return path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func get(_ value: ManifestValue, _ pointer: [String]) -> ManifestValue? {
        var current: ManifestValue? = value
        for token in pointer {
            if let elements = current?.arrayValue { current = Int(token).flatMap { elements.indices.contains($0) ? elements[$0] : nil } }
            else { current = current?[token] }
        }
        return current
    }

    static func set(_ value: ManifestValue, _ pointer: [String], _ newValue: ManifestValue?, inserting: Bool) throws(APIError) -> ManifestValue {
        guard let token = pointer.first else { return newValue ?? .null }
        let rest = Array(pointer.dropFirst())
        if var elements = value.arrayValue {
            if rest.isEmpty {
                if token == "-", let newValue { elements.append(newValue); return .array(elements) }
                guard let index = Int(token), index >= 0, index <= elements.count else { throw APIError.invalid("bad array index \(token)") }
                if let newValue {
                    if inserting { elements.insert(newValue, at: index) }
                    else if index < elements.count { elements[index] = newValue }
                    else { throw APIError.invalid("bad array index \(token)") }
                } else if index < elements.count {
                    elements.remove(at: index)
                }
                return .array(elements)
            }
            guard let index = Int(token), elements.indices.contains(index) else { throw APIError.invalid("bad array index \(token)") }
            elements[index] = try set(elements[index], rest, newValue, inserting: inserting)
            return .array(elements)
        }
        var result = value
        if rest.isEmpty {
            result.setValue(newValue, at: [token])
        } else {
            guard let child = value[token] else { throw APIError.invalid("the path does not exist at \(token)") }
            result.setValue(try set(child, rest, newValue, inserting: inserting), at: [token])
        }
        return result
    }
}

import FoundationEssentials
