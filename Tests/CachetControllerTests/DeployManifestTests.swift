import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// `deploy/controller/`: valid Kubernetes objects (checked by the `kubernetes-validate` Python package against the
/// 1.32 schemas, strictly), consistent with each other and with what the CLI expects.
@Suite("deploy/: the controller's manifests")
struct DeployManifestTests {
    static let directory = Repository.root.appendingPathComponent("deploy/controller")
    static let files = ["crd.yaml", "rbac.yaml", "controller.yaml"]

    static func validate(_ paths: [String]) throws -> ProcessResult {
        try TestProcess.run(program: "python3", ["-m", "kubernetes_validate", "-k", "1.32.0", "--strict"] + paths)
    }

    static var validatorInstalled: Bool {
        (try? TestProcess.run(program: "python3", ["-c", "import kubernetes_validate"]).status) == 0
    }

    @Test("every object passes kubernetes-validate --strict; a broken copy does not")
    func schemas() throws {
        guard Self.validatorInstalled else {
            Issue.record("the kubernetes-validate Python package is missing (scripts/bootstrap installs it)")
            return
        }
        let result = try Self.validate(Self.files.map { Self.directory.appendingPathComponent($0).path })
        #expect(result.status == 0, "\(String(decoding: result.output, as: UTF8.self))\(result.error)")

        // The check can fail: a misspelt field in the Deployment is caught.
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-broken-\(getpid()).yaml")
        defer { try? FileManager.default.removeItem(at: broken) }
        let text = try String(contentsOf: Self.directory.appendingPathComponent("controller.yaml"), encoding: .utf8)
        try text.replacingOccurrences(of: "readOnlyRootFilesystem", with: "readOnlyRootFileSystem").write(to: broken, atomically: true, encoding: .utf8)
        #expect(try Self.validate([broken.path]).status != 0)
    }

    @Test("the pieces fit: the Service kubeseal looks for, the service account the RBAC binds, the CRD's status and columns")
    func consistency() throws {
        var objects: [String: ManifestValue] = [:]
        for file in Self.files {
            let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent(file)))
            for object in try ManifestReader.objects(in: ManifestReader.documents(in: bytes)) {
                let value = try ManifestValue(node: object.node)
                objects["\(object.kind ?? "")/\(value.string(at: ["metadata", "name"]) ?? "")"] = value
            }
        }
        let service = try #require(objects["Service/sealed-secrets-controller"])
        #expect(service.string(at: ["metadata", "namespace"]) == "kube-system")
        #expect(service.value(at: ["spec", "ports"])?.arrayValue?.first?["name"]?.stringValue == "http")

        let deployment = try #require(objects["Deployment/sealed-secrets-controller"])
        let pod = try #require(deployment.value(at: ["spec", "template", "spec"]))
        #expect(pod["serviceAccountName"]?.stringValue == "sealed-secrets-controller")
        #expect(objects["ServiceAccount/sealed-secrets-controller"] != nil)
        let container = try #require(pod["containers"]?.arrayValue?.first)
        #expect(container["command"] == .array([.string("cachet-controller"), .string("run")]))
        let environment = container["env"]?.arrayValue ?? []
        #expect(environment.contains { $0["name"]?.stringValue == "SWIFT_BACKTRACE" && $0["value"]?.stringValue == "enable=no" })
        #expect(environment.contains { $0["name"]?.stringValue == "POD_NAMESPACE" })
        #expect(container.value(at: ["securityContext", "readOnlyRootFilesystem"]) == .bool(true))

        // Two replicas are safe only with leader election, which needs the Lease rights and a PodDisruptionBudget
        // that keeps one of them through a drain; the Lease name is the flag's default.
        #expect(deployment.value(at: ["spec", "replicas"]) == .number("2"))
        #expect(deployment.string(at: ["spec", "strategy", "type"]) == "RollingUpdate")
        #expect(container["args"]?.arrayValue?.contains(.string("--leader-elect")) == true)
        #expect(environment.contains { $0["name"]?.stringValue == "POD_NAME" })
        let budget = try #require(objects["PodDisruptionBudget/sealed-secrets-controller"])
        #expect(budget.value(at: ["spec", "minAvailable"]) == .number("1"))
        let leaseRules = (objects["Role/sealed-secrets-key-admin"]?["rules"]?.arrayValue ?? [])
            .filter { $0["resources"] == .array([.string("leases")]) }
        let leaseVerbs = Set(leaseRules.flatMap { $0["verbs"]?.arrayValue?.compactMap(\.stringValue) ?? [] })
        #expect(leaseVerbs == ["create", "get", "update"])
        #expect(leaseRules.contains { $0["resourceNames"] == .array([.string(LeaderElection.Settings(namespace: "", identity: "").leaseName)]) })

        for binding in ["ClusterRoleBinding/sealed-secrets-controller", "RoleBinding/sealed-secrets-controller"] {
            let subject = try #require(objects[binding]?["subjects"]?.arrayValue?.first)
            #expect(subject["name"]?.stringValue == "sealed-secrets-controller" && subject["namespace"]?.stringValue == "kube-system")
        }

        let crd = try #require(objects["CustomResourceDefinition/sealedsecrets.bitnami.com"])
        let version = try #require(crd.value(at: ["spec", "versions"])?.arrayValue?.first)
        #expect(version["subresources"]?["status"] != nil)
        #expect(version["additionalPrinterColumns"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["Status", "Synced", "Age"])
    }

    /// Two placeholder image names had crept in (deploy/ and the docs disagreed): there is one image.
    @Test("deploy/ and the docs name one image")
    func oneImage() throws {
        var images: Set<String> = []
        for folder in ["deploy", "docs"] {
            let root = Repository.root.appendingPathComponent(folder)
            for case let url as URL in FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)! {
                guard ["yaml", "md"].contains(url.pathExtension), let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
                for line in text.split(separator: "\n") where line.contains("image: ") {
                    images.insert(String(line.split(separator: "image: ")[1].split(separator: " ")[0]))
                }
            }
        }
        #expect(images == ["ghcr.io/cachet-dev/cachet-controller:0.1.0"], "\(images)")
    }
}
