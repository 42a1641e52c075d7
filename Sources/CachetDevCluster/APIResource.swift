import CachetKubeConfig
import CachetManifests

/// A resource the dev cluster serves, with what discovery says about it.
struct APIResource: Sendable {
    let type: ResourceType
    let singular: String
    let shortNames: [String]
    /// Writes to `/status` change only `status`, and writes to the object leave `status` alone.
    let hasStatusSubresource: Bool
    /// `metadata.generation` counts changes to `spec` (custom resources, workloads).
    let hasGeneration: Bool

    static let verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]

    static let builtIn: [APIResource] = [
        APIResource(type: .namespaces, singular: "namespace", shortNames: ["ns"], hasStatusSubresource: true, hasGeneration: false),
        APIResource(type: .secrets, singular: "secret", shortNames: [], hasStatusSubresource: false, hasGeneration: false),
        APIResource(type: .configMaps, singular: "configmap", shortNames: ["cm"], hasStatusSubresource: false, hasGeneration: false),
        APIResource(type: .services, singular: "service", shortNames: ["svc"], hasStatusSubresource: true, hasGeneration: false),
        APIResource(type: .events, singular: "event", shortNames: ["ev"], hasStatusSubresource: false, hasGeneration: false),
        APIResource(type: ResourceType(group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount"),
                    singular: "serviceaccount", shortNames: ["sa"], hasStatusSubresource: false, hasGeneration: false),
        APIResource(type: .leases, singular: "lease", shortNames: [], hasStatusSubresource: false, hasGeneration: false),
        APIResource(type: .customResourceDefinitions, singular: "customresourcedefinition", shortNames: ["crd", "crds"],
                    hasStatusSubresource: true, hasGeneration: true),
        APIResource(type: .sealedSecrets, singular: "sealedsecret", shortNames: [], hasStatusSubresource: true, hasGeneration: true),
    ]

    /// Bitnami's CRD, preregistered so that kubectl and the controller find SealedSecrets as on a real cluster.
    static let sealedSecretsCRD = ManifestValue.object([
        ("apiVersion", .string("apiextensions.k8s.io/v1")),
        ("kind", .string("CustomResourceDefinition")),
        ("metadata", .object([("name", .string("sealedsecrets.bitnami.com"))])),
        ("spec", .object([
            ("group", .string("bitnami.com")),
            ("names", .object([
                ("kind", .string("SealedSecret")), ("listKind", .string("SealedSecretList")),
                ("plural", .string("sealedsecrets")), ("singular", .string("sealedsecret")),
            ])),
            ("scope", .string("Namespaced")),
            ("versions", .array([.object([
                ("name", .string("v1alpha1")), ("served", .bool(true)), ("storage", .bool(true)),
                ("subresources", .object([("status", .object([]))])),
                ("additionalPrinterColumns", .array([
                    .object([("name", .string("Status")), ("type", .string("string")), ("jsonPath", .string(".status.conditions[0].message"))]),
                    .object([("name", .string("Synced")), ("type", .string("string")), ("jsonPath", .string(".status.conditions[0].status"))]),
                    .object([("name", .string("Age")), ("type", .string("date")), ("jsonPath", .string(".metadata.creationTimestamp"))]),
                ])),
                ("schema", .object([("openAPIV3Schema", .object([
                    ("type", .string("object")), ("x-kubernetes-preserve-unknown-fields", .bool(true)),
                ]))])),
            ])])),
        ])),
    ])
}
