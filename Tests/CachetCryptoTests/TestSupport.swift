import Foundation
import Testing
@testable import CachetCrypto

/// Paths and helpers shared by the crypto tests.
enum TestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/testdata` beside the repository (CI puts it there), or `CACHET_TESTDATA`.
    static let sharedTestdata: URL? = {
        let candidate = ProcessInfo.processInfo.environment["CACHET_TESTDATA"].map { URL(fileURLWithPath: $0) }
            ?? repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }()

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent(name))
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func bytes(_ secure: SecureBytes) -> [UInt8] {
        secure.withUnsafeBytes { Array($0) }
    }

    /// The known-answer document made by scripts/v1-vectors.py.
    struct KnownAnswers: Decodable {
        struct Vector: Decodable {
            let key: String
            let scope: String
            let namespace: String?
            let name: String?
            let value: String
            let sealed: String
        }
        let keys: [String: String]
        let values: [String: String]
        let vectors: [Vector]
    }

    static let knownAnswers: KnownAnswers = {
        try! JSONDecoder().decode(KnownAnswers.self, from: try! fixture("v1-known-answers.json"))
    }()

    /// The fixture keys, parsed once: rsa2048 (PKCS#1 PEM) and rsa4096 (PKCS#8 PEM).
    static let rsa2048 = try! RSAPrivateKey(pem: try SecureBytes(copying: Array(knownAnswers.keys["rsa2048"]!.utf8)))
    static let rsa4096 = try! RSAPrivateKey(pem: try SecureBytes(copying: Array(knownAnswers.keys["rsa4096"]!.utf8)))

    static func scope(kind: String, namespace: String?, name: String?) -> SealingScope {
        switch kind {
        case "strict": .strict(namespace: namespace!, name: name!)
        case "namespace-wide": .namespaceWide(namespace: namespace!)
        default: .clusterWide
        }
    }

    /// Runs a command and returns its exit status and standard output.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }
}

/// Python with `cryptography`, the independent implementation. scripts/bootstrap installs it; the test command runs
/// bootstrap first, so in CI it is always present and these tests always run.
enum IndependentPython {
    static let script = TestSupport.repositoryRoot.appendingPathComponent("scripts/v1-vectors.py").path

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        try TestSupport.run("python3", [script] + arguments)
    }
}
