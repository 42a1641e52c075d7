#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests
import CachetProgram
import Dispatch
import FoundationEssentials
import Synchronization
import Subprocess
import SystemPackage

/// The checks behind `cachet check`. Findings name files, lines, keys and key ids — never a value.
struct RepositoryCheck {
    struct Finding {
        enum Kind: String {
            case plaintextSecret = "plaintext-secret"
            case secretGenerator = "secret-generator"
            case unreadable
            case stale
            case moved = "moved-by-overlay"
            case ruleUnusable = "rule-unusable"
        }

        let file: String
        let line: Int
        let kind: Kind
        let message: String
        let fix: String

        var manifestValue: ManifestValue {
            .object([("file", .string(file)), ("line", .number(String(line))), ("kind", .string(kind.rawValue)),
                     ("message", .string(message)), ("fix", .string(fix))])
        }
    }

    /// A SealedSecret read from a file, for the overlay check.
    struct SealedSource {
        let file: String
        let line: Int
        let sealed: SealedSecretManifest
    }

    let build: Bool
    private(set) var notes: [String] = []
    private(set) var filesRead = 0
    private var findings: [Finding] = []
    private var sealedSources: [String: [SealedSource]] = [:]
    private var rulesByDirectory: [String: RepositoryRules?] = [:]
    private var currentIDs: [String: Result<Set<KeyID>, CommandFailure>] = [:]

    init(build: Bool) {
        self.build = build
    }

    mutating func run(_ paths: [String]) throws -> [Finding] {
        var kustomizations: [String] = []
        var checked = Set<String>()
        for path in paths {
            for file in Self.files(under: path) where checked.insert(RepositoryRules.absolute(file)).inserted {
                if Self.isKustomization(file) { kustomizations.append(RepositoryRules.directory(of: file)) }
                check(file)
            }
        }
        if build {
            let tree = Self.files(under: ".").filter(Self.isKustomization).map(RepositoryRules.directory(of:))
            // Files named one by one (pre-commit): the kustomizations that may use them are the tree's.
            if paths.contains(where: { !SecretFiles.isDirectory($0) }) { kustomizations += tree }
            // A base is not built on its own when a kustomization of the tree uses it, even if only the base was named.
            let real = Set(checked.map(KustomizeBuild.realPath))
            var seen = Set<String>()
            let directories = Self.leaves(kustomizations, among: kustomizations + tree).filter { seen.insert(RepositoryRules.absolute($0)).inserted }
            // kubectl kustomize is the cost (seconds for a large overlay): one per core at a time.
            let builds = Box([Result<[KustomizeBuild.BuiltSealedSecret], KustomizeBuild.Failure>?](repeating: nil, count: directories.count))
            let lock = Mutex(())
            DispatchQueue.concurrentPerform(iterations: directories.count) { index in
                let result = Result { () throws(KustomizeBuild.Failure) in try KustomizeBuild.sealedSecrets(of: directories[index]) }
                lock.withLock { _ in builds.value[index] = result }
            }
            for (directory, result) in zip(directories, builds.value) {
                if let result { checkBuild(of: directory, result, reportingOnly: real) }
            }
        }
        return findings.sorted { ($0.file, $0.line, $0.message) < ($1.file, $1.line, $1.message) }
    }

    // MARK: - Files

    static func isKustomization(_ file: String) -> Bool {
        ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains(file.split(separator: "/").last.map(String.init) ?? file)
    }

    static func isManifest(_ file: String) -> Bool {
        let lowered = file.lowercased()
        return lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") || lowered.hasSuffix(".json") || isKustomization(file)
    }

    /// The manifest files under `path`: in a git work tree, those git would commit (tracked, or untracked and not
    /// ignored), so that a gitignored plaintext Secret kept beside its SealedSecret is not reported; else all of them.
    /// A file named directly is checked whatever its name.
    static func files(under path: String) -> [String] {
        guard SecretFiles.isDirectory(path) else { return [path] }
        let prefix = path.hasSuffix("/") ? path : path + "/"
        if let listed = gitFiles(path) {
            // Regular files only: a committed symbolic link may point at /dev/stdin or outside the repository.
            return listed.filter(isManifest).map { prefix == "./" ? $0 : prefix + $0 }.filter(isRegularFile)
        }
        var result: [String] = []
        walk(path == "." ? "" : prefix, into: &result, depth: 0)
        return result.filter(isManifest)
    }

    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    private static func walk(_ prefix: String, into result: inout [String], depth: Int) {
        guard depth < 64, let names = try? FileManager.default.contentsOfDirectory(atPath: prefix.isEmpty ? "." : prefix) else { return }
        for name in names.sorted() where name != ".git" {
            let path = prefix + name
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR: walk(path + "/", into: &result, depth: depth + 1)  // not through symbolic links: no loops
            case S_IFREG: result.append(path)
            default: continue
            }
        }
    }

    private static func gitFiles(_ directory: String) -> [String]? {
        guard let result = try? Self.runTool("git", ["-C", directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]),
              result.status == 0 else { return nil }
        return result.output.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.sorted()
    }

    /// Runs a tool found on PATH; nil status when it could not be started.
    static func runTool(_ name: String, _ arguments: [String]) throws -> (status: Int32?, output: [UInt8]) {
        try Blocking.run {
            do {
                let result = try await Subprocess.run(.name(name), arguments: Arguments(arguments), input: .none,
                                                      output: .bytes(limit: 64 << 20), error: .discarded)
                if case .exited(let code) = result.terminationStatus { return (code, result.standardOutput) }
                return (nil, result.standardOutput)
            } catch let error as SubprocessError where error.code == .executableNotFound || error.code == .spawnFailed {
                return (nil, [])
            }
        }
    }

    // MARK: - One file

    private mutating func add(_ file: String, _ line: Int, _ kind: Finding.Kind, _ message: String, fix: String) {
        findings.append(Finding(file: file, line: max(line, 1), kind: kind, message: message, fix: fix))
    }

    private mutating func check(_ file: String) {
        let bytes: SecureBytes
        do {
            bytes = try SecretFiles.read(file, limit: SecretFiles.defaultLimit)
        } catch {
            notes.append("\(file): not read: \(error)")
            return
        }
        filesRead += 1
        let documents: [Document]
        do {
            documents = try ManifestReader.documents(in: bytes)
        } catch let error as ManifestError {
            // Not what Cachet's reader takes (stricter than kubectl's: duplicate keys, tabs, depth): a problem when it
            // mentions a Secret or SealedSecret, since then plaintext could pass unseen. Helm templates are not YAML
            // until rendered, and are left alone.
            let text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            let mentionsSealed = text.contains("SealedSecret")
            if (mentionsSealed || text.contains("Secret")) && !Self.isHelmTemplate(file) {
                add(file, error.mark?.line ?? 1, .unreadable, "does not parse (\(error.message)), and it mentions \(mentionsSealed ? "SealedSecret" : "a Secret"): what kustomize or kubectl reads there cannot be checked",
                    fix: "correct the YAML, or seal it again from its Secret (cachet seal -f SECRET -w \(Self.quoted(file)))")
            }
            return
        } catch {
            return
        }
        var objects = (try? ManifestReader.objects(in: documents)) ?? documents.map { ManifestObject(document: $0.index, itemIndex: nil, node: $0.root) }
        // kubectl's typed lists (SecretList, …): their items are applied too.
        for object in objects where object.node["kind"]?.scalar?.text.hasSuffix("List") == true && object.node["kind"]?.scalar?.text != "List" {
            for (index, item) in (object.node["items"]?.elements ?? []).enumerated() {
                let kind = item["kind"]?.scalar?.text ?? String(object.node["kind"]?.scalar?.text.dropLast(4) ?? "")
                if kind == "Secret", item["kind"] == nil { checkSecretItems(item, file: file) }
                objects.append(ManifestObject(document: object.document, itemIndex: index, node: item))
            }
        }
        if Self.isRulesFile(file) { checkRules(file) }
        for object in objects {
            let kind = object.node["kind"]?.scalar?.text, apiVersion = object.node["apiVersion"]?.scalar?.text
            if kind == "Secret", apiVersion == "v1" { checkSecret(object, file: file) }
            if kind == "SealedSecret", apiVersion?.hasPrefix("bitnami.com/") == true { checkSealedSecret(object, file: file) }
        }
        if Self.isKustomization(file), let root = documents.first?.root { checkGenerators(root, file: file) }
    }

    static func isHelmTemplate(_ file: String) -> Bool {
        let directory = RepositoryRules.directory(of: file)
        return directory.split(separator: "/").last == "templates" && SecretFiles.exists(SecretFiles.join(RepositoryRules.directory(of: directory), "Chart.yaml"))
    }

    static func isRulesFile(_ file: String) -> Bool { file.split(separator: "/").last.map(String.init) == RepositoryRules.fileName }

    /// The rules file itself: a mistake in it is a finding, not only when a SealedSecret needs it.
    private mutating func checkRules(_ file: String) {
        do {
            _ = try RepositoryRules.load(file)
        } catch let error as ManifestError {
            add(file, error.mark?.line ?? 1, .ruleUnusable, "the rules cannot be read: \(error.message)", fix: "correct \(Self.quoted(file))")
        } catch {
            add(file, 1, .ruleUnusable, "the rules cannot be read: \(error)", fix: "correct \(Self.quoted(file))")
        }
    }

    /// A typed list's Secret items carry no kind of their own.
    private mutating func checkSecretItems(_ node: Node, file: String) {
        checkSecret(ManifestObject(document: 1, itemIndex: nil, node: node), file: file)
    }

    private mutating func checkSecret(_ object: ManifestObject, file: String) {
        for entry in object.node.entries ?? [] where entry.key == "data" || entry.key == "stringData" {
            guard let items = entry.value.entries, !items.isEmpty else { continue }
            let name = object.node["metadata"]?["name"]?.scalar?.text ?? "(unnamed)"
            let sealed = Self.sealedName(for: file)
            add(file, entry.keyNode.start.line, .plaintextSecret,
                "Secret \(name) holds \(items.count) value\(items.count == 1 ? "" : "s") in plaintext (\(entry.key): \(items.map(\.key).sorted().joined(separator: ", ")))",
                fix: "cachet seal -f \(Self.quoted(file)) -w \(Self.quoted(sealed)), then remove \(Self.quoted(file)) from the repository (and its history, if it was ever pushed: rotate those values)")
        }
    }

    static func sealedName(for file: String) -> String {
        for suffix in [".yaml", ".yml", ".json"] where file.hasSuffix(suffix) {
            return String(file.dropLast(suffix.count)) + ".sealed.yaml"
        }
        return file + ".sealed.yaml"
    }

    private mutating func checkGenerators(_ root: Node, file: String) {
        guard let generators = root["secretGenerator"]?.elements else { return }
        for generator in generators {
            let name = generator["name"]?.scalar?.text ?? "(unnamed)"
            for entry in generator.entries ?? [] where ["literals", "envs", "env", "files"].contains(entry.key) {
                let empty = entry.value.elements?.isEmpty ?? (entry.value.scalar?.bytes.isEmpty ?? true)
                guard !empty else { continue }
                let what = entry.key == "literals" ? "literal values written in the kustomization" : "\(entry.key) files in the repository"
                add(file, entry.keyNode.start.line, .secretGenerator, "secretGenerator \(name) builds a Secret from \(what): plaintext in git",
                    fix: "put the values in a Secret manifest, cachet seal it, and list the .sealed.yaml under resources: instead")
            }
        }
    }

    private mutating func checkSealedSecret(_ object: ManifestObject, file: String) {
        let sealed: SealedSecretManifest
        do {
            sealed = try SealedSecretManifest(object)
        } catch {
            add(file, error.mark?.line ?? object.node.start.line, .unreadable, "SealedSecret does not parse: \(error.message)",
                fix: "seal it again from its Secret (cachet seal -f SECRET -w \(Self.quoted(file)))")
            return
        }
        sealedSources[KustomizeBuild.realPath(file), default: []].append(SealedSource(file: file, line: object.node.start.line, sealed: sealed))
        if sealed.encryptedData.isEmpty {
            add(file, object.node.start.line, .unreadable, "SealedSecret \(sealed.metadata.name ?? "") holds no values (a placeholder left by an interrupted cachet seal --kustomization?): it would deploy an empty Secret",
                fix: "seal it again from its Secret (cachet seal -f SECRET -w \(Self.quoted(file)))")
        }
        checkStale(sealed, line: object.node.start.line, file: file)
    }

    /// Stale: sealed by keys other than those its rule seals to now (after a key renewal, or a recipient added or
    /// removed). Only with a `.cachet.yaml` rule, and a `cachet.dev/sealed-by` hint to compare.
    private mutating func checkStale(_ sealed: SealedSecretManifest, line: Int, file: String) {
        let sealedBy = Set(sealed.sealedBy)
        guard !sealedBy.isEmpty else { return }
        let directory = RepositoryRules.directory(of: RepositoryRules.absolute(file))
        if rulesByDirectory[directory] == nil {
            do {
                rulesByDirectory[directory] = .some(try RepositoryRules.find(from: directory))
            } catch {
                rulesByDirectory[directory] = .some(nil)
                add(file, 1, .ruleUnusable, "the repository rules cannot be read: \(error)", fix: "correct .cachet.yaml")
            }
        }
        guard let rules = rulesByDirectory[directory] ?? nil, let (rule, _) = rules.rule(for: file) else { return }
        let key = "\(rules.file)#\(rule.number)"
        if currentIDs[key] == nil {
            do {
                let target = try FollowedRule(rule: rule, file: rules.file).target()
                currentIDs[key] = .success(Set(target.keyIDs))
            } catch {
                let failure = (error as? CommandFailure) ?? CommandFailure("\(error)")
                currentIDs[key] = .failure(failure)
                // FollowedRule's message starts with the rules file and line, which the finding states already.
                let message = failure.message.hasPrefix("\(rules.file):\(rule.line): ") ? String(failure.message.dropFirst("\(rules.file):\(rule.line): ".count)) : failure.message
                add(rules.file, rule.line, .ruleUnusable, message, fix: failure.hint ?? "correct the rule")
            }
        }
        guard case .success(let current)? = currentIDs[key], sealedBy != current else { return }
        let name = sealed.metadata.name ?? "(unnamed)"
        let fix = rule.sealsV2
            ? "seal it again from its Secret: cachet seal -f SECRET -w \(Self.quoted(file)) (the rule seals to the current recipients)"
            : "cachet reencrypt -f \(Self.quoted(file)) (the controller re-seals it to its newest key), or seal it again from its Secret"
        add(file, line, .stale,
            "SealedSecret \(name) is sealed by \(sealedBy.sorted().map(\.hex).joined(separator: ", ")), but rule \(rule.number) of \(rules.file) seals to \(current.sorted().map(\.hex).joined(separator: ", ")) now",
            fix: fix)
    }

    // MARK: - Overlays

    /// Builds `directory` (see ``KustomizeBuild``) and compares each SealedSecret's built namespace and name with
    /// what its scope was sealed for.
    private mutating func checkBuild(of directory: String, _ result: Result<[KustomizeBuild.BuiltSealedSecret], KustomizeBuild.Failure>,
                                     reportingOnly checked: Set<String>) {
        let built: [KustomizeBuild.BuiltSealedSecret]
        do {
            built = try result.get()
        } catch .kubectlMissing {
            if !notes.contains(where: { $0.hasPrefix("kubectl was not found") }) {
                notes.append("kubectl was not found: kustomizations were not built, so overlays were not checked")
            }
            return
        } catch {
            notes.append("\(directory): \(error.message); its overlays were not checked")
            return
        }
        for object in built where checked.contains(object.origin) {
            // The source object: the one holding a sealed value the built one holds (each seal is unique, and a patch
            // that renames leaves the values); else the one whose name the built name contains (prefix and suffix).
            let sources = sealedSources[object.origin] ?? []
            let byValue = sources.first { source in
                source.sealed.encryptedData.contains { item, value in object.values[item] == value }
            }
            let byName = sources.filter { object.name.contains($0.sealed.metadata.name ?? "\u{0}") }
                .max { ($0.sealed.metadata.name ?? "").count < ($1.sealed.metadata.name ?? "").count }
            guard let origin = byValue ?? byName else { continue }
            let sealed = origin.sealed
            let scope = sealed.scopeKind
            guard scope != .clusterWide else { continue }
            let sealedFor = Self.sealedFor(sealed)
            let moved = object.namespace != sealedFor.namespace || (scope == .strict && object.name != sealedFor.name)
            guard moved else { continue }
            let was = scope == .strict ? "\(sealedFor.namespace ?? "?")/\(sealedFor.name ?? "?")" : "namespace \(sealedFor.namespace ?? "?")"
            let now = scope == .strict ? "\(object.namespace ?? "(no namespace)")/\(object.name)" : "namespace \(object.namespace ?? "(none)")"
            add(origin.file, origin.line, .moved,
                "SealedSecret \(sealed.metadata.name ?? "") is sealed \(scope.rawValue) for \(was), but \(directory) builds it as \(now): the controller will refuse to unseal it",
                fix: "give each overlay that deploys it its own file, sealed with cachet seal --kustomization \(Self.quoted(directory)) -f SECRET -w FILE, or seal it namespace-wide / cluster-wide if it must move")
        }
    }

    /// The kustomizations that another one in the list uses (as a resource, base or component directory): what is
    /// deployed is the top, so only the others are built on their own.
    static func leaves(_ directories: [String], among all: [String]) -> [String] {
        var used = Set<String>()
        for directory in all {
            guard let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"].map({ SecretFiles.join(directory, $0) }).first(where: SecretFiles.exists),
                  let bytes = try? SecretFiles.read(file, limit: 1 << 20), let root = (try? ManifestReader.documents(in: bytes))?.first?.root
            else { continue }
            for key in ["resources", "bases", "components"] {
                for entry in root[key]?.elements ?? [] {
                    guard let text = entry.scalar?.text, !text.contains("://") else { continue }
                    let path = RepositoryRules.absolute(SecretFiles.join(directory, text))
                    if SecretFiles.isDirectory(path) { used.insert(path) }
                }
            }
        }
        return directories.filter { !used.contains(RepositoryRules.absolute($0)) }
    }

    /// A path as a shell word: fix commands are meant to be pasted, and a file name may hold `;` or spaces.
    static func quoted(_ path: String) -> String {
        let plain = path.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "._/-+=:,@".utf8.contains(byte)
        }
        return plain && !path.isEmpty ? path : "'" + path.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// What the values were sealed for: the `cachet.dev/sealed-for` hint (`cachet seal --kustomization` writes it),
    /// else the template's namespace and name (sealers write what they sealed for there), else the object's own.
    static func sealedFor(_ sealed: SealedSecretManifest) -> (namespace: String?, name: String?) {
        if let hint = sealed.sealedForHint { return (hint.namespace, hint.name ?? sealed.metadata.name) }
        let template = sealed.template.metadata
        return (template.namespace ?? sealed.metadata.namespace, template.name ?? sealed.metadata.name)
    }
}
