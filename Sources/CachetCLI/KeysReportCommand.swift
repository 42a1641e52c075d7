import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram
import FoundationEssentials

/// `cachet keys report [PATH…] [--key KEY…] [--cluster]`: which keys the values in a repository (and a cluster) still
/// need, so that a key is retired only when nothing does.
struct KeysReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "For each key, how many values in the tree and the cluster still need it; which are safe to retire.",
        discussion: """
            Values are attributed by their cachet.dev/sealed-by hint (a v2 value counts for each of its recipients: \
            any one of them opens it); where there is no hint, or a v1 object names several keys, the private keys \
            given with --key are tried. What cannot be attributed is counted and its files named. Keys come from \
            --key, from the targets of .cachet.yaml rules (current), and with --cluster from the controller (its \
            newest certificate); a key that no value needs and that no rule or controller seals to is safe to retire.
            """)

    @Argument(help: "Files or directories of the repository (default: . unless --cluster).")
    var paths: [String] = []

    @Option(name: .customLong("key"), parsing: .singleValue,
            help: "Private keys, key directories or key backups: listed, and used to attribute values that carry no hint.")
    var keys: [String] = []

    @Flag(name: .customLong("cluster"), help: "Also count the SealedSecrets in the cluster (kubeconfig), and the controller's newest key.")
    var cluster = false

    @Option(name: [.customShort("o"), .customLong("output")], help: "text (default) or json.")
    var output: CheckCommand.OutputKind = .text

    @OptionGroup(title: "With --cluster") var controller: ControllerOptions

    /// What is known of one key.
    struct Row {
        var sources: [String] = []
        var created: Date?
        var tree = 0
        var inCluster = 0
        var current = false
    }

    func run() throws {
        let paths = self.paths.isEmpty && !cluster ? ["."] : self.paths
        for path in paths where !SecretFiles.exists(path) { throw CommandFailure.usage("\(path): no such file or directory") }
        var rows: [KeyID: Row] = [:]
        let groups = try keys.map { try KeyMaterial.load($0) }
        let material = groups.flatMap { $0 }
        for key in material {
            rows[key.keyID, default: Row()].sources.append(key.path)
            if case .certificate(let certificate) = key.kind { rows[key.keyID]?.created = certificate.notBefore }
        }
        let keyRing = keys.isEmpty ? nil : try KeyRing.load(paths: keys)
        var unattributed: [String: Int] = [:]
        var rulesByDirectory: [String: RepositoryRules?] = [:]

        for path in paths {
            for file in RepositoryCheck.files(under: path) where !RepositoryCheck.isKustomization(file) {
                guard let objects = Self.sealedSecrets(in: file) else { continue }
                for sealed in objects {
                    count(sealed, in: &rows, keyRing: keyRing, place: file, unattributed: &unattributed) { $0.tree += 1 }
                }
                // The rule's target for this file: current keys.
                let directory = RepositoryRules.directory(of: RepositoryRules.absolute(file))
                if rulesByDirectory[directory] == nil { rulesByDirectory[directory] = .some(try? RepositoryRules.find(from: directory)) }
                if let rules = rulesByDirectory[directory] ?? nil, let (rule, _) = rules.rule(for: file),
                   let target = try? FollowedRule(rule: rule, file: rules.file).target() {
                    for id in target.keyIDs {
                        rows[id, default: Row()].current = true
                        let source = "\(RepositoryRules.fileName) rule \(rule.number)"
                        if !(rows[id]?.sources.contains(source) ?? false) { rows[id]?.sources.append(source) }
                    }
                }
            }
        }
        if cluster {
            let client = controller.values.client
            let pem = try ControllerCalls.fetchCertificate(client)
            let certificate = try Certificate(pem: pem)
            rows[certificate.publicKey.keyID, default: Row()].current = true
            rows[certificate.publicKey.keyID]?.created = certificate.notBefore
            rows[certificate.publicKey.keyID]?.sources.append("controller (newest)")
            for sealed in try clusterSealedSecrets() {
                let place = "cluster: \(sealed.metadata.namespace ?? "")/\(sealed.metadata.name ?? "")"
                count(sealed, in: &rows, keyRing: keyRing, place: place, unattributed: &unattributed) { $0.inCluster += 1 }
            }
        }
        // A key directory is one key pair (RSA and its age identity): retired together, so current together.
        for group in groups where group.contains(where: { rows[$0.keyID]?.current ?? false }) {
            for key in group { rows[key.keyID]?.current = true }
        }
        try print(rows, unattributed: unattributed)
    }

    /// The SealedSecrets of a file; nil for a file with none (or that does not parse: `cachet check` reports those).
    static func sealedSecrets(in file: String) -> [SealedSecretManifest]? {
        guard let bytes = try? SecretFiles.read(file, limit: SecretFiles.defaultLimit),
              let objects = try? ManifestReader.objects(in: ManifestReader.documents(in: bytes)) else { return nil }
        let sealed = objects.compactMap { object in
            object.node["kind"]?.scalar?.text == "SealedSecret" ? try? SealedSecretManifest(object) : nil
        }
        return sealed.isEmpty ? nil : sealed
    }

    /// Counts each value of `sealed` for the keys that can open it.
    private func count(_ sealed: SealedSecretManifest, in rows: inout [KeyID: Row], keyRing: KeyRing?, place: String,
                       unattributed: inout [String: Int], _ add: (inout Row) -> Void) {
        let hints = sealed.sealedBy
        let scope = try? OfflineReencryption.scope(of: OfflineReencryption.asSealed(sealed))
        for (item, value) in sealed.encryptedData {
            let isV2 = SealedValue.isV2(value)
            // v2: every recipient opens it, and the hint lists them all. v1 with one id: that key.
            if !hints.isEmpty, isV2 || hints.count == 1 {
                for id in hints { add(&rows[id, default: Row()]) }
                continue
            }
            if let keyRing, let scope, let opened = try? keyRing.open(sealedValue: value, scope: scope, item: item, preferring: hints) {
                add(&rows[opened.opening.keyID, default: Row()])
                continue
            }
            unattributed[place, default: 0] += 1
        }
    }

    /// Every SealedSecret in the cluster, a page at a time.
    private func clusterSealedSecrets() throws -> [SealedSecretManifest] {
        let values = controller.values
        let api = try APIServer(kubeconfig: values.kubeconfig, context: values.context, overrides: values.overrides,
                                environment: KubeConfig.currentEnvironment())
        var result: [SealedSecretManifest] = []
        var token: String?
        repeat {
            let path = "/apis/bitnami.com/v1alpha1/sealedsecrets?" + PathEscape.query([("limit", "500")] + (token.map { [("continue", $0)] } ?? []))
            let response = try api.send("GET", path, accept: "application/json")
            guard response.status == 200, let list = try? ManifestValue(json: response.body) else {
                throw CommandFailure("cannot list SealedSecrets in the cluster: HTTP \(response.status)",
                                     hint: response.status == 403 ? "it takes list on sealedsecrets.bitnami.com in every namespace" : nil)
            }
            for item in list.value(at: ["items"])?.arrayValue ?? [] {
                if let sealed = try? SealedSecretManifest(apiObject: item) { result.append(sealed) }
            }
            token = list.string(at: ["metadata", "continue"]).flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return result
    }

    private func print(_ rows: [KeyID: Row], unattributed: [String: Int]) throws {
        let sorted = rows.sorted { ($0.value.created ?? .distantPast, $0.key) > ($1.value.created ?? .distantPast, $1.key) }
        func status(_ row: Row) -> String { row.current ? "current" : row.tree + row.inCluster > 0 ? "needed" : "safe to retire" }
        if output == .json {
            // For scripts: the same facts as the table, one object per key (newest first), then what was not attributed.
            let keys = sorted.map { id, row in
                ManifestValue.object([
                    ("keyID", .string(id.hex)), ("created", row.created.map { .string($0.formatted(.iso8601)) } ?? .null),
                    ("tree", .number(String(row.tree))), ("cluster", cluster ? .number(String(row.inCluster)) : .null),
                    ("status", .string(status(row))), ("sources", .array(row.sources.map { .string($0) })),
                ])
            }
            let value = ManifestValue.object([
                ("keys", .array(keys)),
                ("unattributed", .array(unattributed.keys.sorted().map { .object([("place", .string($0)), ("values", .number(String(unattributed[$0]!)))]) })),
            ])
            return try StandardStreams.writeOutput(String(decoding: value.jsonBytes, as: UTF8.self) + "\n")
        }
        var table = [["KEY ID", "CREATED", "TREE", "CLUSTER", "STATUS", "SOURCE"]]
        for (id, row) in sorted {
            // Sources and places are paths and names from the repository or the cluster: escaped, one line each.
            table.append([id.hex, row.created.map { $0.formatted(.iso8601) } ?? "-", String(row.tree),
                          cluster ? String(row.inCluster) : "-", status(row),
                          (row.sources.isEmpty ? "(sealed-by hints)" : row.sources.joined(separator: ", ")).escapingControlCharacters()])
        }
        let widths = (0..<5).map { column in table.map { $0[column].count }.max() ?? 0 }
        var text = table.map { row in (0..<5).map { row[$0].padded(to: widths[$0]) }.joined(separator: "  ") + "  " + row[5] }
            .joined(separator: "\n") + "\n"
        if !unattributed.isEmpty {
            let total = unattributed.values.reduce(0, +)
            text += "\n\(total) value\(total == 1 ? "" : "s") could not be attributed (no cachet.dev/sealed-by hint, and no --key opens them):\n"
            text += unattributed.keys.sorted().map { "  \($0.escapingControlCharacters()): \(unattributed[$0]!)" }.joined(separator: "\n") + "\n"
        }
        try StandardStreams.writeOutput(text)
    }
}
