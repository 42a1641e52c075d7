import Foundation
import Testing
@testable import CachetCrypto

/// No secret byte reaches a description, a dump, or an error.
struct SecretHygieneTests {
    static let canary = Array("CANARY-7f3a9c-do-not-print".utf8)

    func everyRendering(of value: Any) -> String {
        var dumped = ""
        dump(value, to: &dumped)
        return [String(describing: value), String(reflecting: value), dumped].joined(separator: "\n")
    }

    @Test func secureBytesNeverShowTheirContent() throws {
        let secret = try SecureBytes(copying: Self.canary)
        let rendered = everyRendering(of: secret)
        #expect(!rendered.contains("CANARY"))
        #expect(!rendered.contains("67"), "not even as decimal bytes")
        #expect(rendered.contains("redacted"))
    }

    @Test func privateKeysNeverShowTheirContent() throws {
        let key = TestSupport.rsa2048
        let pem = try key.pkcs1PEM()
        let body = pem.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            .split(separator: "\n").dropFirst().first.map(String.init)!
        let rendered = everyRendering(of: key)
        #expect(!rendered.contains(body.prefix(20)))
        #expect(rendered.contains(key.keyID.hex))
        #expect(!everyRendering(of: pem).contains(body.prefix(20)))
    }

    @Test("an opened value is in SecureBytes and the failure errors carry none of it")
    func errorsCarryNoValue() throws {
        let envelope = try EnvelopeV1.seal(Self.canary, to: TestSupport.rsa2048.publicKey, scope: .clusterWide)
        do {
            _ = try EnvelopeV1.open(envelope, with: TestSupport.rsa2048, scope: .namespaceWide(namespace: "x"))
            Issue.record("opened under the wrong scope")
        } catch {
            #expect(!everyRendering(of: error).contains("CANARY"))
        }
        let opened = try EnvelopeV1.open(envelope, with: TestSupport.rsa2048, scope: .clusterWide)
        #expect(opened.constantTimeEquals(Self.canary))
        #expect(!opened.constantTimeEquals(Self.canary.dropLast()))
        #expect(!everyRendering(of: opened).contains("CANARY"))
    }

    @Test("private-key numbers live on OpenSSL's secure heap")
    func secureHeap() throws {
        #expect(CryptoLibraries.secureHeapInitialized)
        _ = try RSAPrivateKey.generate(bits: 2048)
        _ = TestSupport.rsa4096
        #expect(CryptoLibraries.secureHeapBytesInUse > 0)
    }

    @Test("small SecureBytes come from the secure heap's share, within its cap; past it, guarded memory, and keys still work")
    func secureArena() throws {
        #expect(try SecureBytes(count: 32).isInSecureArena)
        #expect(try SecureBytes(copying: [UInt8](repeating: 7, count: SecureArena.largestBuffer)).isInSecureArena)
        #expect(try !SecureBytes(count: SecureArena.largestBuffer + 1).isInSecureArena)

        // Fill the share: the next buffers come from libsodium, the share is never exceeded, and private-key work
        // (its numbers and scratch space are on the other half of the heap) goes on.
        var held: [SecureBytes] = []
        while held.count < 2 * SecureArena.share / SecureArena.largestBuffer, held.last?.isInSecureArena != false {
            held.append(try SecureBytes(count: SecureArena.largestBuffer))
        }
        #expect(held.last?.isInSecureArena == false)
        #expect(SecureArena.inUse <= SecureArena.share)
        let fresh = try RSAPrivateKey.generate(bits: 2048)
        let envelope = try EnvelopeV1.seal(Self.canary, to: fresh.publicKey, scope: .clusterWide)
        let opened = try EnvelopeV1.open(envelope, with: fresh, scope: .clusterWide)
        #expect(opened.constantTimeEquals(Self.canary))
        held.removeAll()
        #expect(try SecureBytes(count: 32).isInSecureArena, "the share is returned on free")
    }

    @Test("SecureBytes can shrink, and the dropped tail is zeroed")
    func shrink() throws {
        let bytes = try SecureBytes(copying: [1, 2, 3, 4])
        bytes.shrink(to: 2)
        #expect(TestSupport.bytes(bytes) == [1, 2])
        #expect(try SecureBytes(count: 0).isEmpty)
    }
}
