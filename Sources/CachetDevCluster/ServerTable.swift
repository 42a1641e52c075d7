import CachetManifests
import FoundationEssentials

/// Server-side printing, as kube-apiserver does it: `kubectl get` asks for `application/json;as=Table;…` and prints
/// the columns the server chose. For custom resources those are the CRD's `additionalPrinterColumns` (read from the
/// stored CRD, so applying `deploy/controller/crd.yaml` changes them as it would on a cluster); for the built-in types
/// a few of kubectl's usual columns. A `date` column is shown as an age ("5m", "2d3h"), as the API server does.
///
/// Lists, single objects and watch events (`kubectl get -w`: each event's object a one-row Table) are served so.
enum ServerTable {
    /// What one request asked for: the Table version and the columns of its resource.
    struct Format: Sendable {
        let version: String
        let columns: [Column]

        func table(_ objects: [ManifestValue], listMetadata: ManifestValue) -> ManifestValue {
            ServerTable.table(version: version, columns: columns, objects: objects, listMetadata: listMetadata)
        }

        /// A watch event with its object as a Table; bookmarks and errors pass unchanged.
        func watchEvent(_ event: ManifestValue) -> ManifestValue {
            guard let type = event["type"]?.stringValue, ["ADDED", "MODIFIED", "DELETED"].contains(type),
                  let object = event["object"] else { return event }
            let metadata = ManifestValue.object(object.value(at: ["metadata", "resourceVersion"]).map { [("resourceVersion", $0)] } ?? [])
            return .object([("type", .string(type)), ("object", table([object], listMetadata: metadata))])
        }
    }

    struct Column: Sendable {
        let name: String
        let type: String
        let jsonPath: String
        var format: String = ""
        var description: String = ""
        var priority = 0
    }

    /// The Table version (`v1` or `v1beta1`) the Accept header asks for first, if it asks for a Table at all.
    static func requestedVersion(accept: String?) -> String? {
        for range in (accept ?? "").split(separator: ",") {
            var parameters: [String: String] = [:]
            for parameter in range.split(separator: ";").dropFirst() {
                let parts = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { parameters[parts[0]] = parts[1] }
            }
            if parameters["as"] == "Table", parameters["g"] == "meta.k8s.io", let version = parameters["v"],
               version == "v1" || version == "v1beta1" {
                return version
            }
        }
        return nil
    }

    static func table(
        version: String, columns: [Column], objects: [ManifestValue], listMetadata: ManifestValue, now: Date = Date()
    ) -> ManifestValue {
        let all = [Column(name: "Name", type: "string", jsonPath: ".metadata.name", format: "name",
                          description: "Name must be unique within a namespace.")] + columns
        let definitions = all.map { column in
            ManifestValue.object([
                ("name", .string(column.name)), ("type", .string(column.type)), ("format", .string(column.format)),
                ("description", .string(column.description)), ("priority", .number(String(column.priority))),
            ])
        }
        let rows = objects.map { object in
            ManifestValue.object([
                ("cells", .array(all.map { cell($0, of: object, now: now) })),
                ("object", .object([
                    ("kind", .string("PartialObjectMetadata")), ("apiVersion", .string("meta.k8s.io/\(version)")),
                    ("metadata", object["metadata"] ?? .object([])),
                ])),
            ])
        }
        return .object([
            ("kind", .string("Table")), ("apiVersion", .string("meta.k8s.io/\(version)")), ("metadata", listMetadata),
            ("columnDefinitions", .array(definitions)), ("rows", .array(rows)),
        ])
    }

    /// The columns after Name for `resource`; `crd` is the stored CRD of a custom resource.
    static func columns(for resource: APIResource, crd: ManifestValue?) -> [Column] {
        let age = Column(name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp")
        if let crd {
            let versions = crd.value(at: ["spec", "versions"])?.arrayValue ?? []
            let version = versions.first { $0["name"]?.stringValue == resource.type.version }
            guard let printer = version?["additionalPrinterColumns"]?.arrayValue else { return [age] }
            return printer.compactMap { column in
                guard let name = column["name"]?.stringValue, let type = column["type"]?.stringValue,
                      let path = column["jsonPath"]?.stringValue else { return nil }
                return Column(name: name, type: type, jsonPath: path, format: column["format"]?.stringValue ?? "",
                              description: column["description"]?.stringValue ?? "",
                              priority: column["priority"].flatMap { if case .number(let text) = $0 { Int(text) } else { nil } } ?? 0)
            }
        }
        switch resource.type.resource {
        case "secrets":
            return [Column(name: "Type", type: "string", jsonPath: ".type"),
                    Column(name: "Data", type: "integer", jsonPath: ".data", format: "count"), age]
        case "configmaps":
            return [Column(name: "Data", type: "integer", jsonPath: ".data", format: "count"), age]
        case "namespaces":
            return [Column(name: "Status", type: "string", jsonPath: ".status.phase"), age]
        case "services":
            return [Column(name: "Type", type: "string", jsonPath: ".spec.type"),
                    Column(name: "Cluster-IP", type: "string", jsonPath: ".spec.clusterIP"), age]
        default:
            return [age]
        }
    }

    static func cell(_ column: Column, of object: ManifestValue, now: Date) -> ManifestValue {
        let value = evaluate(column.jsonPath, in: object)
        if column.format == "count" { return .number(String(value?.keys.count ?? 0)) }
        guard let value else { return .null }
        if column.type == "date", let text = value.stringValue {
            guard let date = try? Date(text, strategy: .iso8601) else { return .string("<invalid>") }
            return .string(humanDuration(now.timeIntervalSince(date)))
        }
        return value
    }

    /// The simple JSON paths CRDs use: `.a.b`, `.a[0].b`. Anything it cannot follow is no value (an empty cell).
    static func evaluate(_ path: String, in object: ManifestValue) -> ManifestValue? {
        var current: ManifestValue? = object
        for segment in path.split(separator: ".") {
            var name = Substring(segment)
            var indices: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "["), let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) {
                indices.insert(index, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { current = current?[String(name)] }
            for index in indices {
                guard let array = current?.arrayValue, array.indices.contains(index) else { return nil }
                current = array[index]
            }
        }
        return current
    }

    /// An age as kubectl shows it (k8s.io/apimachinery's HumanDuration): "45s", "3m20s", "2h5m", "6d", "1y30d".
    static func humanDuration(_ interval: TimeInterval) -> String {
        if interval < -1 { return "<invalid>" }
        let seconds = max(0, Int(interval))
        let minutes = seconds / 60, hours = seconds / 3600, days = hours / 24, years = days / 365
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<600: return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s"
        case ..<(3 * 3600): return "\(minutes)m"
        case ..<(8 * 3600): return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m"
        case ..<(48 * 3600): return "\(hours)h"
        case ..<(8 * 86400): return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h"
        case ..<(2 * 365 * 86400): return "\(days)d"
        case ..<(8 * 365 * 86400): return days % 365 == 0 ? "\(years)y" : "\(years)y\(days % 365)d"
        default: return "\(years)y"
        }
    }
}
