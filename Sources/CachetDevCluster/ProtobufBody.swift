import CachetCrypto
import CachetManifests

/// Kubernetes' protobuf encoding, for the built-in objects kubectl sends that way (`kubectl create namespace`,
/// `create secret`, `create configmap`): the `k8s\0` envelope around a runtime.Unknown, and the fields of ObjectMeta,
/// Namespace, Secret and ConfigMap (k8s.io/api/core/v1 generated.proto). Anything else answers 415, as kube-apiserver
/// does for types it cannot decode.
enum ProtobufBody {
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]  // "k8s\0"

    static func decode(_ bytes: [UInt8]) throws(APIError) -> ManifestValue {
        guard bytes.starts(with: magic) else { throw unsupported("the protobuf body has no k8s envelope") }
        var unknown = Reader(bytes[magic.count...])
        var apiVersion = "", kind = ""
        var raw: ArraySlice<UInt8> = []
        while let (field, value) = try unknown.next() {
            switch (field, value) {
            case (1, .bytes(let typeMeta)):
                var reader = Reader(typeMeta)
                while let (typeField, typeValue) = try reader.next() {
                    if case .bytes(let text) = typeValue {
                        if typeField == 1 { apiVersion = String(decoding: text, as: UTF8.self) }
                        if typeField == 2 { kind = String(decoding: text, as: UTF8.self) }
                    }
                }
            case (2, .bytes(let bytes)): raw = bytes
            default: break
            }
        }
        var object: [(String, ManifestValue)] = [("apiVersion", .string(apiVersion)), ("kind", .string(kind))]
        var reader = Reader(raw)
        while let (field, value) = try reader.next() {
            switch (kind, field, value) {
            case (_, 1, .bytes(let metadata)):
                object.append(("metadata", try objectMeta(metadata)))
            case ("Namespace", _, _):
                break  // spec.finalizers and status are the server's
            case ("Secret", 2, .bytes(let entry)):
                let (key, data) = try mapEntry(entry)
                append(&object, "data", key, .string(Base64.encode(Array(data))))
            case ("Secret", 3, .bytes(let text)):
                object.append(("type", .string(String(decoding: text, as: UTF8.self))))
            case ("Secret", 4, .bytes(let entry)):
                let (key, text) = try mapEntry(entry)
                append(&object, "stringData", key, .string(String(decoding: text, as: UTF8.self)))
            case ("Secret", 5, .varint(let flag)), ("ConfigMap", 4, .varint(let flag)):
                object.append(("immutable", .bool(flag != 0)))
            case ("ConfigMap", 2, .bytes(let entry)):
                let (key, text) = try mapEntry(entry)
                append(&object, "data", key, .string(String(decoding: text, as: UTF8.self)))
            case ("ConfigMap", 3, .bytes(let entry)):
                let (key, data) = try mapEntry(entry)
                append(&object, "binaryData", key, .string(Base64.encode(Array(data))))
            case ("Secret", _, _), ("ConfigMap", _, _):
                throw unsupported("unexpected protobuf field \(field) in a \(kind)")
            default:
                throw unsupported("\(kind.isEmpty ? "this type" : kind) cannot be sent as protobuf here; send JSON")
            }
        }
        return .object(object)
    }

    /// The ObjectMeta fields a client sets; the server-set ones (uid, resourceVersion, …) are ignored.
    private static func objectMeta(_ bytes: ArraySlice<UInt8>) throws(APIError) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = []
        var reader = Reader(bytes)
        while let (field, value) = try reader.next() {
            guard case .bytes(let data) = value else { continue }
            let text = String(decoding: data, as: UTF8.self)
            switch field {
            case 1 where !text.isEmpty: metadata.append(("name", .string(text)))
            case 2 where !text.isEmpty: metadata.append(("generateName", .string(text)))
            case 3 where !text.isEmpty: metadata.append(("namespace", .string(text)))
            case 11:
                let (key, label) = try mapEntry(data)
                append(&metadata, "labels", key, .string(String(decoding: label, as: UTF8.self)))
            case 12:
                let (key, annotation) = try mapEntry(data)
                append(&metadata, "annotations", key, .string(String(decoding: annotation, as: UTF8.self)))
            case 14:
                var finalizers = metadata.last { $0.0 == "finalizers" }?.1.arrayValue ?? []
                finalizers.append(.string(text))
                metadata.removeAll { $0.0 == "finalizers" }
                metadata.append(("finalizers", .array(finalizers)))
            default: break
            }
        }
        return .object(metadata)
    }

    private static func mapEntry(_ bytes: ArraySlice<UInt8>) throws(APIError) -> (String, ArraySlice<UInt8>) {
        var reader = Reader(bytes)
        var key = "", value: ArraySlice<UInt8> = []
        while let (field, item) = try reader.next() {
            if case .bytes(let data) = item {
                if field == 1 { key = String(decoding: data, as: UTF8.self) }
                if field == 2 { value = data }
            }
        }
        return (key, value)
    }

    private static func append(_ object: inout [(String, ManifestValue)], _ field: String, _ key: String, _ value: ManifestValue) {
        var map = ManifestValue.object(object.last { $0.0 == field }?.1.keys.map { ($0, object.last { $0.0 == field }!.1[$0]!) } ?? [])
        map.setValue(value, at: [key])
        object.removeAll { $0.0 == field }
        object.append((field, map))
    }

    static func unsupported(_ message: String) -> APIError {
        APIError.unsupportedMediaType(message)
    }

    /// Protobuf wire format: (field number, value) pairs.
    struct Reader {
        enum Value { case varint(UInt64), bytes(ArraySlice<UInt8>), fixed }
        var bytes: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        mutating func next() throws(APIError) -> (Int, Value)? {
            guard !bytes.isEmpty else { return nil }
            let tag = try varint()
            let field = Int(tag >> 3)
            switch tag & 7 {
            case 0: return (field, .varint(try varint()))
            case 2:
                let length = Int(try varint())
                guard length <= bytes.count else { throw ProtobufBody.unsupported("truncated protobuf") }
                defer { bytes = bytes.dropFirst(length) }
                return (field, .bytes(bytes.prefix(length)))
            case 1:
                guard bytes.count >= 8 else { throw ProtobufBody.unsupported("truncated protobuf") }
                bytes = bytes.dropFirst(8)
                return (field, .fixed)
            case 5:
                guard bytes.count >= 4 else { throw ProtobufBody.unsupported("truncated protobuf") }
                bytes = bytes.dropFirst(4)
                return (field, .fixed)
            default:
                throw ProtobufBody.unsupported("invalid protobuf wire type")
            }
        }

        mutating func varint() throws(APIError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.first {
                bytes = bytes.dropFirst()
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
                if shift > 63 { break }
            }
            throw ProtobufBody.unsupported("invalid protobuf varint")
        }
    }
}
