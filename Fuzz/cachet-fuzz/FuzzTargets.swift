// Fuzz targets for every parser untrusted bytes reach (scripts/fuzz runs them under libFuzzer).
//
// Built by scripts/fuzz with `--sanitize fuzzer --sanitize address -DFUZZING`: libFuzzer provides
// `main` and calls `LLVMFuzzerTestOneInput` with each input, for the target named by CACHET_FUZZ_TARGET. Built
// normally (as `swift build` does), this file is a replayer instead: `cachet-fuzz TARGET FILE|DIR…` runs each input
// through the target once, which is how the test suite replays the checked-in corpora without libFuzzer.
//
// A target fails by crashing (trap, sanitizer report) or by breaking an invariant checked here (`check`); it must
// never loop or take time out of proportion to its input (libFuzzer's -timeout catches that).
#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetKubeConfig
import CachetKubeSyntax
import CachetManifests
import CachetTransport

enum FuzzTarget: String, CaseIterable, Sendable {
    /// YAML documents, and the Secret and SealedSecret models on them; JSON written from them must read back.
    case yaml
    /// JSON documents (strict RFC 8259), and the same models.
    case json
    /// YAML 1.1 scalar typing and the JSON spelling of numbers.
    case scalar
    /// Go-compatible, canonical base64.
    case base64
    /// The DER reader: certificates, SubjectPublicKeyInfo and PKCS#1 public keys, and PEM around them.
    case der
    /// v1 envelopes, raw and as base64 text, against a real key (a bounded number of RSA operations each).
    case envelope
    /// The CLI's HTTP/1.1 response parser.
    case httpResponse = "http-response"
    /// The controller's `/v1/verify` and `/v1/rotate` request bodies, down to the RSA work they may cause.
    case controllerBody = "controller-body"
    /// Label selectors (`--label-selector`, and the dev API server's `labelSelector` query).
    case labelSelector = "label-selector"
    /// v2: age headers, STREAM payloads, armor, Bech32 recipients and identity files, against a fixed identity.
    case age
    /// What a kubeconfig and its credential plugin hand Cachet: a plugin's ExecCredential output, an exec section,
    /// proxy URLs and NO_PROXY lists.
    case kubeconfig
    /// `.cachet.yaml` (a repository's: in CI, a pull request's) and its gitignore-style path patterns.
    case rules

    func run(_ bytes: [UInt8]) {
        switch self {
        case .yaml, .json: Self.documents(bytes)
        case .scalar: Self.scalar(bytes)
        case .base64: Self.base64(bytes)
        case .der: Self.der(bytes)
        case .envelope: Self.envelope(bytes)
        case .httpResponse: _ = try? BlockingHTTP.parseResponse(bytes, maxBodyBytes: 1 << 16)
        case .controllerBody: Self.controllerBody(bytes)
        case .labelSelector: Self.labelSelector(bytes)
        case .age: Self.age(bytes)
        case .kubeconfig: Self.kubeconfig(bytes)
        case .rules: Self.rules(bytes)
        }
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            printError("cachet-fuzz: invariant broken: \(message())\n")
            abort()
        }
    }

    static func documents(_ bytes: [UInt8]) {
        guard let documents = try? ManifestReader.documents(in: bytes), let objects = try? ManifestReader.objects(in: documents) else { return }
        for object in objects {
            if let secret = try? SecretManifest(object) { _ = secret.manifestValue.jsonBytes }
            if let sealed = try? SealedSecretManifest(object) {
                _ = try? ManifestFormat.yaml.write([sealed.manifestValue])
            }
            if let value = try? ManifestValue(node: object.node) {
                // The controller reads SealedSecrets from API objects (no second parse): a JSON object the model
                // accepts from its bytes must read alike from its value.
                let fromValue = try? SealedSecretManifest(apiObject: value)
                if object.node.isFlow, let sealed = try? SealedSecretManifest(object) {
                    check(fromValue?.encryptedData == sealed.encryptedData, "a SealedSecret reads differently from its API object")
                }
                // Whatever YAML held, the JSON Cachet writes from it must be valid JSON (validate and reencrypt send it).
                let json = value.jsonBytes
                check((try? ManifestValue(json: json)) != nil || json.first != UInt8(ascii: "{"),
                      "JSON written from a document does not read back: \(String(decoding: json.prefix(200), as: UTF8.self))")
            }
        }
    }

    static func labelSelector(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let selector = try? LabelSelector(text) else { return }
        // What parses is what the API server would take: every key a label key.
        for requirement in selector.requirements {
            let key: String = switch requirement {
            case .equals(let key, _), .notEquals(let key, _), .inSet(let key, _), .notInSet(let key, _), .exists(let key), .notExists(let key): key
            }
            check(KubeSyntax.isLabelKey(key), "a selector with an invalid key parsed: \(text.prefix(200))")
        }
        _ = selector.matches(["app": "web"].merging([text: text]) { $1 })
    }

    static func scalar(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = YAMLScalarTypes.resolvePlain(text)
        if let number = YAMLScalarTypes.jsonNumber(text) {
            check((try? ManifestValue(json: Array("[\(number)]".utf8))) != nil, "not a JSON number: \(number)")
        }
    }

    static func base64(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let decoded = try? Base64.decode(text) else { return }
        // Decoding is canonical: only line breaks may differ between the input and the re-encoded value.
        check(Base64.encode(decoded) == text.filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" }, "base64 is not canonical")
    }

    static func der(_ bytes: [UInt8]) {
        _ = try? CertificateFields(der: bytes[...])
        _ = try? RSAPublicNumbers(subjectPublicKeyInfo: bytes[...])
        _ = try? RSAPublicNumbers(pkcs1: bytes[...])
        _ = try? SealingKey(pem: bytes)
        _ = try? RSAPublicKey(pem: bytes)
    }

    /// The key envelopes are opened with: CACHET_FUZZ_KEY's (scripts/fuzz names the test fixture, so that seeds
    /// sealed to its certificate open and the code past RSA is reached), else a fresh one.
    static let key: RSAPrivateKey = {
        if let path = getenv("CACHET_FUZZ_KEY").map({ String(cString: $0) }), let pem = CorpusFiles.read(path) {
            return try! RSAPrivateKey(pem: SecureBytes(copying: pem))
        }
        return try! RSAPrivateKey.generate(bits: 2048)
    }()

    static func envelope(_ bytes: [UInt8]) {
        _ = try? EnvelopeV1.open(bytes, with: key, scope: .clusterWide)
        _ = try? KeyRing(keys: [key]).open(sealedValue: String(decoding: bytes, as: UTF8.self), scope: .clusterWide,
                                           item: "k", budget: OperationBudget(limit: 2))
    }

    /// The identity v2 seeds are sealed to (Fuzz/corpus/age holds values for it, binding `cluster-wide k`).
    static let ageIdentity = try! AgeIdentity(text: Array("AGE-SECRET-KEY-1LGJMJVXQ6NL2JRF64WRDYVTP06LRUNK9ANDV8GLM4PENKP78RAGQK9HPMU".utf8))

    static func age(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            if let opened = try? EnvelopeV2.open(raw, with: [ageIdentity], scope: .clusterWide, item: "k").count {
                check(opened <= raw.count, "a v2 value opened to more bytes than it holds")
            }
            // Armor that decodes must re-encode to something that decodes alike.
            if let decoded = try? AgeArmor.decode(raw) {
                let again = try? Array(AgeArmor.encode(decoded).utf8).withUnsafeBytes { try AgeArmor.decode($0) }
                check(again == decoded, "armor did not round-trip")
            }
            // A whole file (a key backup), binary or armored: all or nothing, never more than it holds.
            if let opened = try? AgeFile.decrypt(raw, identities: [ageIdentity]).count {
                check(opened <= raw.count, "an age file opened to more bytes than it holds")
            }
        }
        _ = try? EnvelopeV2.open(sealedValue: String(decoding: bytes, as: UTF8.self), with: [ageIdentity], scope: .clusterWide, item: "k")
        // A recipient that parses must print as the text it came from (one spelling per key).
        let text = String(decoding: bytes, as: UTF8.self)
        if let recipient = try? AgeRecipient(text) {
            check(recipient.description == text, "a recipient has two spellings")
        }
        _ = try? AgeIdentity.list(in: bytes)
        _ = try? AgeRecipient.list(in: text)
    }

    static let plugin = try! ExecPlugin(
        ManifestValue(json: Array(#"{"apiVersion":"client.authentication.k8s.io/v1beta1","command":"plugin"}"#.utf8)),
        userName: "fuzz", directory: "/", where: "fuzz")

    static func kubeconfig(_ bytes: [UInt8]) {
        // As a plugin's output: a token that would end the Authorization header is never accepted.
        if let credential = try? ExecCredentialSource.parse(bytes, plugin: plugin, name: "plugin", generation: 1) {
            check(credential.token != nil || credential.clientCertificatePEM != nil, "a credential with nothing in it")
            check(credential.token.map { $0.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F } } ?? true, "a token with control characters")
        }
        // As an exec section.
        if let exec = try? ManifestValue(json: bytes) {
            _ = try? ExecPlugin(exec, userName: "fuzz", directory: "/tmp", where: "fuzz")
        }
        // As a proxy URL, and as NO_PROXY: the CONNECT line is built from the host, so it must be a plain name.
        let text = String(decoding: bytes, as: UTF8.self)
        if let proxy = try? ProxySetting(url: text, origin: "fuzz") {
            check(!proxy.host.isEmpty && (1...65535).contains(proxy.port), "a proxy without a host or port")
            check(!proxy.host.contains { $0 == "\r" || $0 == "\n" || $0 == " " || $0 == "/" || $0 == "@" }, "a proxy host that is not a name")
        }
        for server in ["https://api.example:6443", "https://10.1.2.3", "http://[fd00::1]:8080"] {
            _ = try? ProxySetting.forServer(server, proxyURL: nil, environment: ["HTTPS_PROXY": "proxy:3128", "HTTP_PROXY": "proxy:3128", "NO_PROXY": text])
        }
    }

    static func rules(_ bytes: [UInt8]) {
        if let secure = try? SecureBytes(copying: bytes), let rules = try? RepositoryRules.parse(secure, file: "/repo/.cachet.yaml") {
            check(!rules.rules.isEmpty, "a rules file with no rules")
            for path in ["/repo/a.yaml", "/repo/overlays/prod/x/db.sealed.yaml", "/elsewhere/b.yaml"] { _ = rules.rule(for: path) }
        }
        // A pattern against paths up to 600 segments deep: the table keeps it polynomial.
        if let pattern = try? PathPattern(String(decoding: bytes.prefix(4096), as: UTF8.self)) {
            for path in ["a", "a/b/c.yaml", String(repeating: "a/", count: 600) + "b"] { _ = pattern.matches(path) }
        }
        check((try? PathPattern("**").matches("x/y"))! , "** does not match everything")
    }

    static func controllerBody(_ bytes: [UInt8]) {
        guard let sealed = SealedSecretManifest.single(in: bytes) else { return }
        var unsealer = Unsealer(keyRing: KeyRing(keys: [key]))
        unsealer.budget = OperationBudget(limit: 4)
        _ = try? unsealer.unseal(sealed)
    }
}

/// A line on stderr (unbuffered, and without touching C's shared `stderr` stream).
func printError(_ text: String) {
    var line = text
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

let selectedTarget: FuzzTarget? = getenv("CACHET_FUZZ_TARGET").flatMap { FuzzTarget(rawValue: String(cString: $0)) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selectedTarget else {
        printError("cachet-fuzz: set CACHET_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n")
        exit(64)
    }
    target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// Reading inputs from files, for the replayer and the fuzz key.
enum CorpusFiles {
    /// The inputs a path names: the file, or every file in the directory.
    static func inputs(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var files: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { files.append(path + "/" + name) }
        }
        return files.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer.prefix(count)
        }
        return bytes
    }
}

#if !FUZZING
/// Without libFuzzer: `cachet-fuzz TARGET FILE|DIR…` runs each input (each file of a directory) through the target
/// once. The test suite replays the checked-in corpora this way.
@main
struct CorpusReplayer {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            printError("usage: cachet-fuzz TARGET FILE|DIR… (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))\n")
            exit(64)
        }
        var replayed = 0
        for path in arguments.dropFirst() {
            for file in CorpusFiles.inputs(path) {
                guard let bytes = CorpusFiles.read(file) else {
                    printError("cachet-fuzz: cannot read \(file)\n")
                    exit(1)
                }
                target.run(bytes)
                replayed += 1
            }
        }
        print("cachet-fuzz: \(target.rawValue): \(replayed) inputs replayed")
    }
}
#endif
