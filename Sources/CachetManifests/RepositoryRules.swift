#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import FoundationEssentials

/// `.cachet.yaml`: what the files of a repository are sealed to, by path, as `.sops.yaml`'s creation rules are for
/// SOPS. Found by walking up from the file being sealed; paths in it are relative to its directory.
///
/// ```yaml
/// rules:
///   - path: "overlays/prod/**"
///     cert: keys/prod.crt              # a file, a key directory, or an https:// URL
///     recipients: [age1…]              # and/or recipients-file: keys/dr.recipients
///     scope: strict
///   - path: "**"
///     cert: keys/dev.crt
/// ```
///
/// The first rule whose `path` matches wins. A rule with only `cert` seals format v1 to that certificate; one with
/// recipients seals format v2 to them, and with `cert` as well, also to that cluster's own recipient (see
/// ``Rule/clusterRecipientsLocation``), so that the cluster can open what is sealed for it.
package struct RepositoryRules: Sendable {
    package static let fileName = ".cachet.yaml"

    package struct Rule: Sendable {
        /// 1-based, in file order.
        package let number: Int
        package let line: Int
        package let path: PathPattern
        /// Resolved against the rules file's directory (URLs as written).
        package let cert: String?
        package let certificateAuthority: String?
        package let recipients: [AgeRecipient]
        package let recipientsFiles: [String]
        package let scope: SealingScope.Kind?

        /// Whether the rule seals format v2.
        package var sealsV2: Bool { !recipients.isEmpty || !recipientsFiles.isEmpty }

        /// For a v2 rule with `cert`: where the cluster's own age recipients are. A Cachet controller serves them
        /// beside its certificate (`…/v1/recipients.txt` for `…/v1/cert.pem`); a key directory holds them in
        /// `age-recipients.txt` (what `cachet keys generate` writes). nil for a certificate file.
        package var clusterRecipientsLocation: String? {
            guard sealsV2, let cert else { return nil }
            let lowered = cert.lowercased()
            if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") {
                guard lowered.hasSuffix("/v1/cert.pem") else { return nil }
                return String(cert.dropLast("cert.pem".count)) + "recipients.txt"
            }
            // Only a key directory: beside a lone certificate file, a directory of several clusters' certificates may
            // hold another cluster's age-recipients.txt.
            guard SecretFiles.isDirectory(cert) else { return nil }
            return SecretFiles.join(cert, "age-recipients.txt")
        }
    }

    /// The rules file, as found (absolute).
    package let file: String
    /// Its directory: rule paths and file names in it are relative to this.
    package let directory: String
    package let rules: [Rule]

    /// The nearest `.cachet.yaml` in `directory` or above it, parsed; nil when there is none up to the root.
    package static func find(from directory: String) throws -> RepositoryRules? {
        var current = absolute(directory)
        while true {
            let candidate = SecretFiles.join(current, fileName)
            if SecretFiles.exists(candidate) {
                try refuseIfForeign(candidate)
                return try load(candidate)
            }
            guard current != "/" else { return nil }
            current = Self.directory(of: current)
        }
    }

    /// The rules decide who can read what is sealed, and are looked for in every directory above the file: one that
    /// another user owns (a shared /tmp, a parent directory someone else controls) or anyone may write is refused, as
    /// OpenSSH refuses such a config, rather than followed or skipped in silence.
    static func refuseIfForeign(_ path: String) throws(FileError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw FileError("\(path) is not a regular file: rules are not followed through links") }
        if status.st_uid != getuid(), status.st_uid != 0 {
            throw FileError("\(path) belongs to another user (uid \(status.st_uid)): its rules are not followed",
                            hint: "remove it, or pass --cert / --recipient to say what to seal to")
        }
        if status.st_mode & S_IWOTH != 0 {
            throw FileError("\(path) can be written by anyone: its rules are not followed", hint: "chmod o-w \(path)")
        }
    }

    /// Parses `path`. Errors name the file, line and rule.
    package static func load(_ path: String) throws -> RepositoryRules {
        let file = absolute(path)
        let bytes = try SecretFiles.read(file, limit: 1 << 20)
        return try inFile(path) { try parse(bytes, file: file) }
    }

    package static func parse(_ bytes: SecureBytes, file: String) throws -> RepositoryRules {
        let directory = Self.directory(of: file)
        let documents = try ManifestReader.documents(in: bytes)
        guard documents.count == 1, let root = documents.first?.root else {
            throw ManifestError(documents.isEmpty ? "the rules file is empty; it needs a rules: list" : "the rules file must be one YAML document")
        }
        let object = ManifestObject(document: 1, itemIndex: nil, node: root)
        let reader = FieldReader(object: object)
        for entry in try reader.mapping(root, path: "") where entry.key != "rules" {
            throw ManifestError("unknown field \"\(entry.key)\" (the file holds rules:)", at: entry.keyNode.start, path: entry.key)
        }
        guard let list = root["rules"] else { throw ManifestError("no rules: list", at: root.start) }
        guard let elements = list.elements, !elements.isEmpty else {
            throw ManifestError("rules must be a non-empty list", at: list.start, path: "rules")
        }
        // Every file sealed or checked is matched against the rules in order: a bound keeps that cost small.
        guard elements.count <= 256 else { throw ManifestError("more than 256 rules", at: list.start, path: "rules") }
        var rules: [Rule] = []
        for (index, element) in elements.enumerated() {
            rules.append(try rule(element, number: index + 1, directory: directory, reader: reader))
        }
        return RepositoryRules(file: file, directory: directory, rules: rules)
    }

    private static let fields: Set = ["path", "cert", "cert-ca", "recipients", "recipients-file", "scope"]

    private static func rule(_ node: Node, number: Int, directory: String, reader: FieldReader) throws(ManifestError) -> Rule {
        let at = "rules[\(number - 1)]"
        let entries = try reader.mapping(node, path: at)
        for entry in entries where !fields.contains(entry.key) {
            throw ManifestError("unknown field \"\(entry.key)\" (a rule has \(fields.sorted().joined(separator: ", ")))",
                                at: entry.keyNode.start, path: at)
        }
        guard let pathNode = node["path"] else { throw ManifestError("a rule needs path:", at: node.start, path: at) }
        let pattern: PathPattern
        do {
            pattern = try PathPattern(try reader.string(pathNode, path: at + ".path"))
        } catch {
            throw ManifestError(error.message, at: pathNode.start, path: at + ".path")
        }
        func file(_ key: String) throws(ManifestError) -> String? {
            guard let value = node[key] else { return nil }
            let text = try reader.string(value, path: "\(at).\(key)")
            guard !text.isEmpty else { throw ManifestError("empty", at: value.start, path: "\(at).\(key)") }
            return resolve(text, in: directory)
        }
        func list(_ key: String) throws(ManifestError) -> [(String, Node)] {
            guard let value = node[key] else { return [] }
            if value.scalar != nil { return [(try reader.string(value, path: "\(at).\(key)"), value)] }
            guard let elements = value.elements else {
                throw ManifestError("expected a list or a string, found \(value.kindDescription)", at: value.start, path: "\(at).\(key)")
            }
            var texts: [(String, Node)] = []
            for (index, element) in elements.enumerated() {
                texts.append((try reader.string(element, path: "\(at).\(key)[\(index)]"), element))
            }
            return texts
        }
        var recipients: [AgeRecipient] = []
        for (index, (text, element)) in try list("recipients").enumerated() {
            do {
                recipients.append(try AgeRecipient(text))
            } catch let error as CachetCryptoError {
                throw ManifestError(error.message, at: element.start, path: "\(at).recipients[\(index)]")
            } catch {
                throw ManifestError("not an age recipient", at: element.start, path: "\(at).recipients[\(index)]")
            }
        }
        let recipientsFiles = try list("recipients-file").map { resolve($0.0, in: directory) }
        var scope: SealingScope.Kind?
        if let value = node["scope"] {
            let text = try reader.string(value, path: at + ".scope")
            guard let kind = SealingScope.Kind(rawValue: text) else {
                throw ManifestError("scope: one of strict, namespace-wide, cluster-wide", at: value.start, path: at + ".scope")
            }
            scope = kind
        }
        let cert = try file("cert")
        let certificateAuthority = try file("cert-ca")
        guard cert != nil || !recipients.isEmpty || !recipientsFiles.isEmpty else {
            throw ManifestError("the rule names nothing to seal to: give cert, recipients or recipients-file", at: node.start, path: at)
        }
        if certificateAuthority != nil, !(cert?.lowercased().hasPrefix("https://") ?? false) {
            throw ManifestError("cert-ca applies to an https:// cert only", at: node["cert-ca"]?.start, path: at + ".cert-ca")
        }
        let rule = Rule(number: number, line: node.start.line, path: pattern, cert: cert, certificateAuthority: certificateAuthority,
                        recipients: recipients, recipientsFiles: recipientsFiles, scope: scope)
        if cert != nil, rule.sealsV2, rule.clusterRecipientsLocation == nil {
            throw ManifestError("with recipients the rule seals format v2, and the cluster's own recipient comes with its certificate: cert must be a key directory (tls.crt and age-recipients.txt) or a Cachet controller's https://…/v1/cert.pem",
                                at: node["cert"]?.start, path: at + ".cert")
        }
        return rule
    }

    /// The first rule whose path matches `path` (a file or directory, relative to the current directory or
    /// absolute), and the path as the rule saw it; nil when none matches or the file is outside this directory.
    package func rule(for path: String) -> (rule: Rule, relativePath: String)? {
        guard let relative = relativePath(path) else { return nil }
        return rules.first { $0.path.matches(relative) }.map { ($0, relative) }
    }

    /// `path` relative to ``directory``, or nil when it is not inside it.
    package func relativePath(_ path: String) -> String? {
        let full = Self.absolute(path)
        let prefix = directory == "/" ? "/" : directory + "/"
        guard full.hasPrefix(prefix), full.count > prefix.count else { return nil }
        return String(full.dropFirst(prefix.count))
    }

    // MARK: - Paths

    /// An absolute path with `.` and `..` segments folded (not resolving symbolic links: the repository's layout as
    /// the user names it is what the rules describe).
    package static func absolute(_ path: String) -> String {
        let start = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in start.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A file named in the rules: relative to the rules file's directory; URLs and absolute paths as written.
    static func resolve(_ text: String, in directory: String) -> String {
        let lowered = text.lowercased()
        if text.hasPrefix("/") || lowered.hasPrefix("https://") || lowered.hasPrefix("http://") { return text }
        return absolute(directory + "/" + text)
    }
}
