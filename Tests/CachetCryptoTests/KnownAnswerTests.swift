import Foundation
import Testing
@testable import CachetCrypto

/// Interoperability with an independent implementation (Python `cryptography`, scripts/v1-vectors.py), both ways.
struct KnownAnswerTests {
    static let vectors = TestSupport.knownAnswers.vectors.indices.map { $0 }

    @Test("Python-sealed values open to the exact bytes", arguments: vectors)
    func pythonSealedValueOpens(index: Int) throws {
        let vector = TestSupport.knownAnswers.vectors[index]
        let key = vector.key == "rsa2048" ? TestSupport.rsa2048 : TestSupport.rsa4096
        let scope = TestSupport.scope(kind: vector.scope, namespace: vector.namespace, name: vector.name)
        let expected = try Base64.decode(TestSupport.knownAnswers.values[vector.value]!)
        let opened = try EnvelopeV1.open(sealedValue: vector.sealed, with: key, scope: scope)
        #expect(TestSupport.bytes(opened) == expected)
        #expect(vector.sealed.hasPrefix(vector.key == "rsa2048" ? "AQ" : "Ag"), "the length prefix is k")
    }

    @Test("Python-sealed values do not open under another scope")
    func pythonSealedValueRefusesOtherScopes() throws {
        for vector in TestSupport.knownAnswers.vectors where vector.value == "one-byte" {
            let key = vector.key == "rsa2048" ? TestSupport.rsa2048 : TestSupport.rsa4096
            let scope = TestSupport.scope(kind: vector.scope, namespace: vector.namespace, name: vector.name)
            let others: [SealingScope] = [
                .strict(namespace: "team-a", name: "db-credential"), .strict(namespace: "team-b", name: "db-credentials"),
                .namespaceWide(namespace: "team-b"), .namespaceWide(namespace: "team-a"), .clusterWide,
            ].filter { $0 != scope }
            for other in others {
                #expect(throws: CachetCryptoError.cannotOpen) {
                    try EnvelopeV1.open(sealedValue: vector.sealed, with: key, scope: other)
                }
            }
        }
    }

    @Test("Swift-sealed values open in Python, and only under their own scope")
    func swiftSealedValuesOpenInPython() throws {
        struct Document: Encodable {
            struct Vector: Encodable {
                let key: String, scope: String, namespace: String?, name: String?, sealed: String, value: String, expect: String
            }
            let keys: [String: String]
            let vectors: [Vector]
        }
        let answers = TestSupport.knownAnswers
        var vectors: [Document.Vector] = []
        for (keyName, key) in [("rsa2048", TestSupport.rsa2048), ("rsa4096", TestSupport.rsa4096)] {
            for scope in [SealingScope.strict(namespace: "team-a", name: "db-credentials"), .namespaceWide(namespace: "team-a"), .clusterWide] {
                for valueName in ["empty", "one-byte", "64KiB"] {
                    let value = try Base64.decode(answers.values[valueName]!)
                    let sealed = try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: scope)
                    let (namespace, name): (String?, String?) = switch scope {
                    case .strict(let namespace, let name): (namespace, name)
                    case .namespaceWide(let namespace): (namespace, nil)
                    case .clusterWide: (nil, nil)
                    }
                    let encoded = answers.values[valueName]!
                    vectors.append(.init(key: keyName, scope: scope.kind.rawValue, namespace: namespace, name: name,
                                         sealed: sealed, value: encoded, expect: "open"))
                    // The same value claimed for another namespace must not open (the label differs)…
                    if scope != .clusterWide {
                        vectors.append(.init(key: keyName, scope: scope.kind.rawValue, namespace: "team-b", name: name,
                                             sealed: sealed, value: encoded, expect: "fail"))
                    }
                    // …nor with its last byte altered.
                    var altered = try Base64.decode(sealed)
                    altered[altered.count - 1] ^= 1
                    vectors.append(.init(key: keyName, scope: scope.kind.rawValue, namespace: namespace, name: name,
                                         sealed: Base64.encode(altered), value: encoded, expect: "fail"))
                }
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-swift-sealed-\(UUID()).json")
        try JSONEncoder().encode(Document(keys: answers.keys, vectors: vectors)).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let result = try IndependentPython.run(["open", file.path])
        #expect(result.status == 0, "python: \(result.outputText) \(result.error)")
        #expect(result.outputText.contains("\"checked\": \(vectors.count)"))
        #expect(result.outputText.contains("\"failures\": []"))
    }
}
