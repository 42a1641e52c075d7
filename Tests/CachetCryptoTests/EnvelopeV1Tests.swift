import Foundation
import Testing
@testable import CachetCrypto

struct EnvelopeV1Tests {
    static let scopes: [SealingScope] = [
        .strict(namespace: "team-a", name: "db-credentials"), .namespaceWide(namespace: "team-a"), .clusterWide,
    ]

    @Test("seal then open gives the exact bytes back", arguments: scopes)
    func roundTrip(scope: SealingScope) throws {
        let key = TestSupport.rsa2048
        for value in [[], [0], Array("hunter2\n".utf8), [UInt8](repeating: 0xFF, count: 70_000)] {
            let sealed = try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: scope)
            #expect(!sealed.contains("\n"))
            #expect(try TestSupport.bytes(EnvelopeV1.open(sealedValue: sealed, with: key, scope: scope)) == value)
        }
    }

    @Test("the envelope has Bitnami's layout: BE16(k), k bytes of RSA, then value and 16-byte tag")
    func layout() throws {
        for key in [TestSupport.rsa2048, TestSupport.rsa4096] {
            let value = Array("abc".utf8)
            let envelope = try EnvelopeV1.seal(value, to: key.publicKey, scope: .clusterWide)
            let k = key.publicKey.modulusByteCount
            #expect(envelope.count == 2 + k + value.count + 16)
            #expect(Int(envelope[0]) << 8 | Int(envelope[1]) == k)
        }
        // RSA-4096 values start "Ag", RSA-2048 values "AQ" (README of Bitnami: 0x0200 and 0x0100).
        #expect(try EnvelopeV1.sealedValue([1], to: TestSupport.rsa4096.publicKey, scope: .clusterWide).hasPrefix("Ag"))
        #expect(try EnvelopeV1.sealedValue([1], to: TestSupport.rsa2048.publicKey, scope: .clusterWide).hasPrefix("AQ"))
    }

    @Test("every seal is fresh: the same value seals to different bytes")
    func sealsAreRandomised() throws {
        let first = try EnvelopeV1.sealedValue([1, 2, 3], to: TestSupport.rsa2048.publicKey, scope: .clusterWide)
        let second = try EnvelopeV1.sealedValue([1, 2, 3], to: TestSupport.rsa2048.publicKey, scope: .clusterWide)
        #expect(first != second)
    }

    @Test("a value opens only with the key it was sealed to")
    func wrongKey() throws {
        let other = try RSAPrivateKey.generate(bits: 2048)
        let sealed = try EnvelopeV1.sealedValue([7], to: TestSupport.rsa2048.publicKey, scope: .clusterWide)
        #expect(throws: CachetCryptoError.cannotOpen) { try EnvelopeV1.open(sealedValue: sealed, with: other, scope: .clusterWide) }
        // A key of another size fails the same way, without RSA work.
        #expect(throws: CachetCryptoError.cannotOpen) {
            try EnvelopeV1.open(sealedValue: sealed, with: TestSupport.rsa4096, scope: .clusterWide)
        }
    }

    @Test("scope labels are Bitnami's: namespace/name, namespace, empty")
    func labels() {
        #expect(SealingScope.strict(namespace: "myns", name: "myname").label == Array("myns/myname".utf8))
        #expect(SealingScope.namespaceWide(namespace: "myns").label == Array("myns".utf8))
        #expect(SealingScope.clusterWide.label == [])
    }

    @Test("names that could make a label ambiguous are refused", arguments: [
        SealingScope.strict(namespace: "a/b", name: "c"), .strict(namespace: "a", name: "b/c"),
        .strict(namespace: "", name: "x"), .strict(namespace: "ns", name: ""), .namespaceWide(namespace: "Team"),
        .strict(namespace: String(repeating: "a", count: 64), name: "x"), .strict(namespace: "ns", name: "-x"),
        .strict(namespace: "ns", name: "a..b"),
    ])
    func invalidScopes(scope: SealingScope) {
        #expect(throws: CachetCryptoError.self) {
            try EnvelopeV1.seal([1], to: TestSupport.rsa2048.publicKey, scope: scope)
        }
    }

    @Test("valid Kubernetes names are accepted")
    func validNames() throws {
        try SealingScope.strict(namespace: "kube-system", name: "my.app-1.example.com").validate()
        try SealingScope.strict(namespace: "a", name: String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63)).validate()
    }

    @Test("line breaks inside the base64 are skipped, as Go does")
    func foldedBase64Opens() throws {
        let sealed = try EnvelopeV1.sealedValue(Array("folded".utf8), to: TestSupport.rsa2048.publicKey, scope: .clusterWide)
        var folded = ""
        for (index, character) in sealed.enumerated() {
            folded.append(character)
            if index % 60 == 59 { folded += index % 120 == 119 ? "\r\n" : "\n" }
        }
        folded += "\n"
        #expect(try TestSupport.bytes(EnvelopeV1.open(sealedValue: folded, with: TestSupport.rsa2048, scope: .clusterWide))
                == Array("folded".utf8))
    }
}

extension CachetCryptoError: Equatable {
    /// Test-only: errors are equal when their codes are, so `#expect(throws: CachetCryptoError.cannotOpen)` reads well.
    public static func == (lhs: CachetCryptoError, rhs: CachetCryptoError) -> Bool { lhs.code == rhs.code }
}
