import CachetCrypto
import CachetManifests
import CachetProgram

/// The render mode's core: SealedSecrets in a manifest stream become the Secrets the controller would write; every
/// other byte of the stream passes through untouched, in its original order.
///
/// All inputs are read and every SealedSecret is opened before anything is produced, and a single failure fails the
/// whole render (fail closed): a sync engine must never receive a partial set of Secrets.
package struct Renderer: Sendable {
    package var unsealer: Unsealer
    /// Threads that open values in parallel.
    package var jobs: Int
    /// False when render runs inside a kustomize build (a KRM function or an exec plugin): an overlay built on top
    /// can still rename or move whatever it outputs, so the name and namespace a SealedSecret has here are not the
    /// ones its Secret will have. A value bound to them (strict, namespace-wide) would come out under another name,
    /// bypassing its scope, so such values are refused there (fail closed); cluster-wide values are bound to nothing
    /// and render anywhere. Bound values render only from final manifests: `kustomize build DIR | … render`.
    package var namesAreFinal = true

    package init(unsealer: Unsealer, jobs: Int) {
        self.unsealer = unsealer
        self.jobs = max(1, jobs)
    }

    package struct Input: Sendable {
        package let name: String
        package let bytes: [UInt8]

        package init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// Everything that went wrong, each error naming file, document, object and items (never a value).
    package struct Failure: ReportableError, CustomStringConvertible {
        package let errors: [any Error]
        package var description: String { errors.map { "\($0)" }.joined(separator: "\n") }
        /// Every problem found, one error line each: a render reports all of them, not just the first.
        package var diagnostic: Diagnostic { Diagnostic(errors: errors.map { "\($0)" }) }
    }

    /// Annotation prefixes kustomize and the KRM function spec reserve to track resources through a function; they
    /// move from each SealedSecret to its Secret so the orchestrator can follow the object.
    static let orchestratorAnnotationPrefixes = [
        "config.kubernetes.io/", "internal.config.kubernetes.io/", "config.k8s.io/", "kustomize.config.k8s.io/",
    ]

    /// Where a SealedSecret sits in an input, and how its Secret is written in its place.
    struct Target {
        enum Style { case yamlBlock, prettyJSON, compactJSON }
        let input: Int
        let range: Range<Int>
        let style: Style
        let object: ManifestObject
    }

    /// Renders plain streams (files, directories' files, or stdin), concatenated as one YAML stream.
    package func render(_ inputs: [Input]) throws -> [UInt8] {
        var targets: [Target] = []
        var errors: [any Error] = []
        for (index, input) in inputs.enumerated() {
            do {
                let documents = try ManifestReader.documents(in: input.bytes, limits: Self.limits)
                targets += try Self.targets(in: documents, input: index, bytes: input.bytes)
            } catch let error as ManifestError {
                errors.append(error.inFile(input.name))
            }
        }
        let secrets = try unseal(targets, inputs: inputs, earlierErrors: errors)
        var output: [UInt8] = []
        for (index, input) in inputs.enumerated() {
            var rendered = try Self.splice(input.bytes, targets.indices.filter { targets[$0].input == index }
                .map { (targets[$0], secrets[$0]) })
            // A UTF-8 byte-order mark means nothing in UTF-8, and one in the middle of the joined stream is invalid YAML.
            if rendered.starts(with: [0xEF, 0xBB, 0xBF]) { rendered.removeFirst(3) }
            if !output.isEmpty {
                if output.last != 0x0A { output.append(0x0A) }
                if !rendered.starts(with: Array("---".utf8)) { output += Array("---\n".utf8) }
            }
            output += rendered
        }
        return output
    }

    /// Renders a KRM `ResourceList` (config.kubernetes.io/v1): SealedSecret items become Secrets, everything else in
    /// it (other items, `functionConfig`, comments) keeps its bytes. On failure the output is a ResourceList with no
    /// items and one `results` entry per problem, as the KRM function spec has functions report errors.
    package func renderResourceList(_ input: Input, document: Document) -> (output: [UInt8], problems: [any Error]) {
        do {
            let targets = try Self.targets(inResourceList: document, bytes: input.bytes)
            let secrets = try unseal(targets, inputs: [input], earlierErrors: [])
            return (try Self.splice(input.bytes, Array(zip(targets, secrets))), [])
        } catch let failure as Failure {
            return (Self.failedResourceList(failure), failure.errors)
        } catch {
            return (Self.failedResourceList(Failure(errors: [error])), [error])
        }
    }

    /// True when `documents` is one KRM ResourceList.
    package static func isResourceList(_ documents: [Document]) -> Bool {
        guard documents.count == 1, let root = documents.first?.root else { return false }
        let apiVersion = root["apiVersion"]?.scalar?.text
        return root["kind"]?.scalar?.text == "ResourceList"
            && (apiVersion == "config.kubernetes.io/v1" || apiVersion == "config.kubernetes.io/v1beta1")
    }

    /// Documents in render mode may hold anything (duplicate keys in someone's Deployment are not ours to judge);
    /// the SealedSecret model refuses duplicates in SealedSecrets itself.
    package static let limits = ParseLimits(allowDuplicateKeys: true)

    // MARK: - Finding the SealedSecrets

    static func isSealedSecret(_ node: Node) -> Bool {
        node["kind"]?.scalar?.text == SealedSecretManifest.kind && node["apiVersion"]?.scalar?.text == SealedSecretManifest.apiVersion
    }

    static func targets(in documents: [Document], input: Int, bytes: [UInt8]) throws -> [Target] {
        let isJSON = bytes.withUnsafeBytes { ManifestReader.isJSON($0) }
        var targets: [Target] = []
        for object in try ManifestReader.objects(in: documents) where isSealedSecret(object.node) {
            // Replacing a node drops any anchor on it (or inside it): an alias elsewhere in the document would then
            // dangle, and the output would not be the YAML it claims to be. Refused rather than passed on.
            if let document = documents.first(where: { $0.index == object.document }), containsAlias(document.root) {
                throw ManifestError("\(object.label): a document with YAML aliases (*name) cannot have its SealedSecret replaced "
                                    + "without breaking them; expand the aliases", at: object.node.start, document: object.document)
            }
            let node = object.node
            let style: Target.Style
            if object.itemIndex != nil || node.isFlow && !isJSON {
                style = .compactJSON  // inside a List, or a flow mapping: one line of JSON fits any YAML context
            } else if isJSON {
                style = .prettyJSON
            } else {
                // A block mapping replaced by a block mapping must start a line of its own.
                style = node.start.column == 1 ? .yamlBlock : .compactJSON
            }
            targets.append(Target(input: input, range: contentRange(of: node, in: bytes), style: style, object: object))
        }
        return targets
    }

    static func targets(inResourceList document: Document, bytes: [UInt8]) throws -> [Target] {
        guard let items = document.root["items"]?.elements else {
            throw ManifestError("a ResourceList needs items", path: "items", document: document.index)
        }
        return items.enumerated().compactMap { index, item in
            guard isSealedSecret(item) else { return nil }
            let object = ManifestObject(document: document.index, itemIndex: index, node: item)
            return Target(input: 0, range: contentRange(of: item, in: bytes), style: .compactJSON, object: object)
        }
    }

    /// Whether any node under `root` is an alias (iteratively: input depth must not exhaust the stack).
    static func containsAlias(_ root: Node) -> Bool {
        var pending = [root]
        while let node = pending.popLast() {
            switch node.kind {
            case .alias: return true
            case .scalar: continue
            case .sequence(let elements): pending += elements
            case .mapping(let entries): pending += entries.map(\.value)
            }
        }
        return false
    }

    /// A node's bytes without the trailing blank space libyaml counts into block collections (their end mark is
    /// where the next token starts), so the line structure around a replacement stays as it was.
    static func contentRange(of node: Node, in bytes: [UInt8]) -> Range<Int> {
        var end = node.end.offset
        while end > node.start.offset, [0x20, 0x09, 0x0D, 0x0A].contains(bytes[end - 1]) { end -= 1 }
        return node.start.offset..<end
    }

    // MARK: - Opening

    /// Reads every target as a SealedSecret and opens them all in parallel. Throws ``Failure`` with every problem.
    private func unseal(_ targets: [Target], inputs: [Input], earlierErrors: [any Error]) throws -> [SecretManifest] {
        var errors = earlierErrors
        var sealed: [SealedSecretManifest] = []
        for target in targets {
            do {
                sealed.append(try SealedSecretManifest(target.object))
            } catch {
                errors.append(error.inFile(inputs[target.input].name))
            }
        }
        if !namesAreFinal {
            for (target, object) in zip(targets, sealed) where object.scopeKind != .clusterWide {
                errors.append(ManifestError(
                    "\(target.object.label): a \(object.scopeKind.rawValue) value cannot be rendered inside a kustomize build, where an "
                        + "overlay can still rename or move the Secret; render the finished build instead "
                        + "(kustomize build DIR | cachet-controller render), or seal the value cluster-wide",
                    at: target.object.node.start, document: target.object.document).inFile(inputs[target.input].name))
            }
        }
        guard errors.isEmpty else { throw Failure(errors: errors) }
        let results = unsealer.unsealAll(sealed, jobs: jobs)
        var secrets: [SecretManifest] = []
        for (target, (result, original)) in zip(targets, zip(results, sealed)) {
            switch result {
            case .success(var secret):
                for (key, value) in original.metadata.annotations
                where Self.orchestratorAnnotationPrefixes.contains(where: { key.hasPrefix($0) }) {
                    secret.metadata.annotations[key] = value
                }
                secrets.append(secret)
            case .failure(let error as ManifestError):
                errors.append(error.inFile(inputs[target.input].name))
            case .failure(let error):
                errors.append(error)
            }
        }
        guard errors.isEmpty else { throw Failure(errors: errors) }
        return secrets
    }

    // MARK: - Writing

    /// The input with each target's bytes replaced by its Secret.
    static func splice(_ bytes: [UInt8], _ replacements: [(Target, SecretManifest)]) throws -> [UInt8] {
        var output = bytes
        for (target, secret) in replacements.sorted(by: { $0.0.range.lowerBound > $1.0.range.lowerBound }) {
            let text: [UInt8] = switch target.style {
            case .yamlBlock: try ManifestFormat.yaml.writeBody(secret.manifestValue)
            case .prettyJSON: try ManifestFormat.json.writeBody(secret.manifestValue)
            case .compactJSON: ManifestFormat.compactJSON(secret.manifestValue)
            }
            output.replaceSubrange(target.range, with: text)
        }
        return output
    }

    static func failedResourceList(_ failure: Failure) -> [UInt8] {
        let results: [ManifestValue] = failure.errors.map { error in
            var entries: [(String, ManifestValue)] = [("message", .string("\(error)")), ("severity", .string("error"))]
            if let error = error as? ManifestError, let path = error.path {
                entries.append(("field", .object([("path", .string(path))])))
            }
            return .object(entries)
        }
        let list = ManifestValue.object([
            ("apiVersion", .string("config.kubernetes.io/v1")), ("kind", .string("ResourceList")),
            ("items", .array([])), ("results", .array(results)),
        ])
        return (try? ManifestFormat.yaml.writeBody(list)).map { $0 + [0x0A] } ?? []
    }
}
