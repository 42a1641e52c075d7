import CachetCrypto
import CachetManifests
import Foundation
import Testing
@testable import CachetController

enum Support {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let cryptoFixtures = repositoryRoot.appendingPathComponent("Tests/CachetCryptoTests/Fixtures")
    static let canary = "CANARY-ee41-hunter2"

    /// The crypto fixtures' RSA-2048 test key, and a PEM file of it readable only by its owner.
    static let privateKey: RSAPrivateKey = {
        struct Answers: Decodable { let keys: [String: String] }
        let data = try! Data(contentsOf: cryptoFixtures.appendingPathComponent("v1-known-answers.json"))
        let pem = try! JSONDecoder().decode(Answers.self, from: data).keys["rsa2048"]!
        return try! RSAPrivateKey(pem: try SecureBytes(copying: Array(pem.utf8)))
    }()
    static let sealingKey = try! SealingKey(pem: Data(contentsOf: cryptoFixtures.appendingPathComponent("rsa2048.crt")))
    static let keyFile: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-render-key-\(getpid()).pem").path
        let pem = try! privateKey.pkcs1PEM()
        _ = FileManager.default.createFile(atPath: path, contents: pem.withUnsafeBytes { Data($0) }, attributes: [.posixPermissions: 0o600])
        return path
    }()

    static func renderer(jobs: Int = 2, namespace: String? = nil) -> Renderer {
        Renderer(unsealer: Unsealer(keyRing: KeyRing(keys: [privateKey]), namespace: namespace), jobs: jobs)
    }

    /// A SealedSecret (a document body, no `---`) sealed with the fixture key for `namespace`; with
    /// `dropNamespace` the namespace is then removed, as in repositories that leave it to kustomize or Argo CD.
    static func sealedSecret(
        name: String, namespace: String = "team-a", dropNamespace: Bool = false, scope: SealingScope.Kind = .strict,
        items: [String: String] = ["password": canary], format: ManifestFormat = .yaml
    ) throws -> String {
        let stringData = items.sorted { $0.key < $1.key }.map { "  \($0.key): \"\($0.value)\"" }.joined(separator: "\n")
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(name)\n  namespace: \(namespace)\ntype: Opaque\nstringData:\n\(stringData)\n"
        var sealer = Sealer(sealingKey: sealingKey)
        sealer.scope = scope
        let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(secret.utf8))).first)
        var sealed = try sealer.seal(SecretManifest(object)).sealedSecret
        if dropNamespace {
            sealed.metadata.namespace = nil
            sealed.template.metadata.namespace = nil
        }
        return String(decoding: try format.writeBody(sealed.manifestValue), as: UTF8.self)
    }

    /// The objects of a rendered stream, as Foundation JSON values via our own reader.
    static func objects(_ bytes: [UInt8]) throws -> [ManifestObject] {
        try ManifestReader.objects(in: ManifestReader.documents(in: bytes, limits: Renderer.limits))
    }

    /// `data` of the Secret named `name` in a rendered stream, decoded.
    static func secretData(_ bytes: [UInt8], name: String) throws -> [String: String] {
        let object = try #require(try objects(bytes).first { $0.kind == "Secret" && $0.node["metadata"]?["name"]?.scalar?.text == name })
        let secret = try SecretManifest(object)
        return secret.items.mapValues { String(decoding: $0.withUnsafeBytes { Array($0) }, as: UTF8.self) }
    }

    /// Runs the built `cachet-controller`.
    static let executable: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cachet-controller")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return repositoryRoot.appendingPathComponent(".build/debug/cachet-controller")
    }()

    struct Result {
        let status: Int32
        let output: Data
        let error: String
    }

    static func run(_ executable: URL, _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:],
                    directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        Thread {
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }.start()
        let errorData = Locked(Data())
        let errorDone = DispatchSemaphore(value: 0)
        Thread {
            errorData.set(error.fileHandleForReading.readDataToEndOfFile())
            errorDone.signal()
        }.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errorDone.wait()
        return Result(status: process.terminationStatus, output: outputData, error: String(decoding: errorData.get(), as: UTF8.self))
    }

    final class Locked<Value>: @unchecked Sendable {
        private var value: Value
        private let lock = NSLock()
        init(_ value: Value) { self.value = value }
        func set(_ newValue: Value) { lock.lock(); value = newValue; lock.unlock() }
        func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    }

    static let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }
}
