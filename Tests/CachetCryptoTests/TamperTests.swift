import Foundation
import Testing
@testable import CachetCrypto

/// Altered sealed values: each fails with one clear error, never crashes, never releases plaintext.
struct TamperTests {
    static let key = TestSupport.rsa2048
    static let scope = SealingScope.strict(namespace: "team-a", name: "db-credentials")
    static let envelope = try! EnvelopeV1.seal(Array("s3cret".utf8), to: key.publicKey, scope: scope)
    static var k: Int { key.publicKey.modulusByteCount }

    /// Opening must fail; structural damage may say so, anything else must be the one `cannotOpen` error.
    func expectRefused(_ bytes: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try EnvelopeV1.open(bytes, with: Self.key, scope: Self.scope)
            Issue.record("\(what): an altered value opened", sourceLocation: sourceLocation)
        } catch let error as CachetCryptoError {
            #expect(error.code == .malformedValue || error.code == .cannotOpen, "\(what)", sourceLocation: sourceLocation)
            if error.code == .cannotOpen {
                #expect(error.message == CachetCryptoError.cannotOpen.message, sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("\(what): unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theUntouchedValueOpens() throws {
        #expect(try TestSupport.bytes(EnvelopeV1.open(Self.envelope, with: Self.key, scope: Self.scope)) == Array("s3cret".utf8))
    }

    @Test func everyTruncation() {
        for length in 0..<Self.envelope.count {
            expectRefused(Array(Self.envelope.prefix(length)), "truncated to \(length) bytes")
        }
    }

    @Test func aFlippedBitInEachRegion() {
        let k = Self.k
        let positions = [
            ("length prefix, high byte", 0), ("length prefix, low byte", 1),
            ("RSA block, first byte", 2), ("RSA block, middle", 2 + k / 2), ("RSA block, last byte", 1 + k),
            ("GCM ciphertext, first byte", 2 + k), ("GCM ciphertext, last byte", 2 + k + 5),
            ("tag, first byte", 2 + k + 6), ("tag, last byte", Self.envelope.count - 1),
        ]
        for (region, position) in positions {
            for bit in [0, 7] {
                var altered = Self.envelope
                altered[position] ^= UInt8(1 << bit)
                expectRefused(altered, "\(region), bit \(bit)")
            }
        }
    }

    @Test func appendedBytes() {
        expectRefused(Self.envelope + [0], "one byte appended")
        expectRefused(Self.envelope + [UInt8](repeating: 0, count: 16), "16 bytes appended")
        expectRefused(Self.envelope + Self.envelope, "the value twice")
    }

    @Test(arguments: [0, 1, 255, 257, 0xFFFF])
    func lengthPrefix(_ prefix: Int) {
        var altered = Self.envelope
        altered[0] = UInt8(prefix >> 8)
        altered[1] = UInt8(prefix & 0xFF)
        expectRefused(altered, "length prefix \(prefix)")
    }

    @Test("the k − 1 and k + 1 prefixes are refused for RSA-4096 too")
    func lengthPrefixOffByOne4096() throws {
        let key = TestSupport.rsa4096
        let envelope = try EnvelopeV1.seal([1, 2, 3], to: key.publicKey, scope: Self.scope)
        for prefix in [511, 513] {
            var altered = envelope
            altered[0] = UInt8(prefix >> 8)
            altered[1] = UInt8(prefix & 0xFF)
            #expect(throws: CachetCryptoError.self) { try EnvelopeV1.open(altered, with: key, scope: Self.scope) }
        }
    }

    @Test(arguments: ["not base64!", "AQ== ", "AQ=", "A", "AQ-_", "AQ==AQ==", "\u{00e9}AAA", "AQ\t=="])
    func nonBase64Input(_ text: String) {
        #expect(throws: CachetCryptoError.self) {
            try EnvelopeV1.open(sealedValue: text, with: Self.key, scope: Self.scope)
        }
        do {
            _ = try EnvelopeV1.open(sealedValue: text, with: Self.key, scope: Self.scope)
        } catch let error as CachetCryptoError {
            #expect(error.code == .malformedValue)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a strict value opened under another namespace or name", arguments: [
        SealingScope.strict(namespace: "team-b", name: "db-credentials"),
        .strict(namespace: "team-a", name: "db-credential"),
        .namespaceWide(namespace: "team-a"),
        .clusterWide,
    ])
    func strictValueElsewhere(scope: SealingScope) {
        #expect(throws: CachetCryptoError.cannotOpen) { try EnvelopeV1.open(Self.envelope, with: Self.key, scope: scope) }
    }

    @Test("a cluster-wide value does not open as strict (the label is part of the key wrap)")
    func clusterWideValueAsStrict() throws {
        let envelope = try EnvelopeV1.seal([9], to: Self.key.publicKey, scope: .clusterWide)
        #expect(throws: CachetCryptoError.cannotOpen) { try EnvelopeV1.open(envelope, with: Self.key, scope: Self.scope) }
    }
}
