/// A kind of Kubernetes object and where its API lives.
package struct ResourceType: Sendable, Hashable, CustomStringConvertible {
    /// Empty for the core group (`/api/v1`).
    package let group: String
    package let version: String
    /// The plural name in URLs (`secrets`, `sealedsecrets`).
    package let resource: String
    package let kind: String
    package let namespaced: Bool

    package init(group: String, version: String, resource: String, kind: String, namespaced: Bool = true) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `v1` or `group/version`, as in an object's `apiVersion`.
    package var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    package var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    /// `/api/v1/namespaces/ns/secrets/name` and friends.
    package func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(PathEscape.segment(namespace))" }
        path += "/" + resource
        if let name {
            path += "/" + PathEscape.segment(name)
            if let subresource { path += "/" + subresource }
        }
        return path
    }

    package static let namespaces = ResourceType(group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false)
    package static let secrets = ResourceType(group: "", version: "v1", resource: "secrets", kind: "Secret")
    package static let configMaps = ResourceType(group: "", version: "v1", resource: "configmaps", kind: "ConfigMap")
    package static let services = ResourceType(group: "", version: "v1", resource: "services", kind: "Service")
    package static let events = ResourceType(group: "", version: "v1", resource: "events", kind: "Event")
    package static let leases = ResourceType(group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease")
    package static let sealedSecrets = ResourceType(group: "bitnami.com", version: "v1alpha1", resource: "sealedsecrets", kind: "SealedSecret")
    package static let customResourceDefinitions = ResourceType(
        group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions", kind: "CustomResourceDefinition",
        namespaced: false)
}

/// Percent-encoding for URL path segments and query values (RFC 3986 unreserved characters pass unchanged).
package enum PathEscape {
    package static func segment(_ text: String) -> String { escape(text) }

    package static func query(_ items: [(String, String)]) -> String {
        items.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    private static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}

/// One event of a watch stream.
package struct WatchEvent: Sendable {
    package enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }

    package let kind: Kind
    package let object: CachetManifests.ManifestValue

    package init(kind: Kind, object: CachetManifests.ManifestValue) {
        self.kind = kind
        self.object = object
    }

    /// The object's `metadata.resourceVersion` (for bookmarks, the version the watch has reached).
    package var resourceVersion: String? { object.string(at: ["metadata", "resourceVersion"]) }
}

import CachetManifests

/// A page of a list.
package struct ObjectList: Sendable {
    package var items: [ManifestValue]
    /// The list's resourceVersion: watch from here to see every later change.
    package var resourceVersion: String
    /// Set when more items remain; pass it back as `continue`.
    package var continueToken: String?

    package init(items: [ManifestValue], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}
