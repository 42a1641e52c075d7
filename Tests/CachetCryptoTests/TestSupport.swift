import CachetTestSupport
import Foundation
import Testing
@testable import CachetCrypto

/// Helpers of the crypto tests alone; paths, keys and the process runner are CachetTestSupport's.
enum TestSupport {
    static let fixtures = Repository.cryptoFixtures

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
    static let rsa2048 = FixtureKeys.rsa2048
    static let rsa4096 = FixtureKeys.rsa4096

    static func scope(kind: String, namespace: String?, name: String?) -> SealingScope {
        switch kind {
        case "strict": .strict(namespace: namespace!, name: name!)
        case "namespace-wide": .namespaceWide(namespace: namespace!)
        default: .clusterWide
        }
    }
}

/// Python with `cryptography`, the independent implementation. scripts/bootstrap installs it; the test command runs
/// bootstrap first, so in CI it is always present and these tests always run.
enum IndependentPython {
    static let script = Repository.root.appendingPathComponent("scripts/v1-vectors.py").path

    static func run(_ arguments: [String]) throws -> ProcessResult {
        try TestProcess.run(program: "python3", [script] + arguments)
    }
}
