import Foundation
import Testing
@testable import CachetCrypto

/// The sealing path runs without OpenSSL's decoders and EVP layer: certificates and public keys are read by
/// Cachet's DER reader, OAEP is encoded in Swift, and AES-GCM is libsodium's. Each piece is checked against
/// OpenSSL's own reading or output here (and sealed values open in Python, in KnownAnswerTests).
struct SealingPathTests {
    static let certificates = ["rsa2048.crt", "rsa1024.crt", "expired.crt", "not-yet-valid.crt"]

    @Test("certificates read by the DER reader match OpenSSL's reading: validity and key", arguments: certificates)
    func certificateFields(name: String) throws {
        let pem = try TestSupport.fixture(name)
        let openssl = try Certificate(pem: pem)
        let der = try #require(try pem.withUnsafeBytes { try pemBlock("CERTIFICATE", in: $0) })
        let fields = try CertificateFields(der: der[...])
        #expect(fields.notBefore == openssl.notBefore)
        #expect(fields.notAfter == openssl.notAfter)
        let key = RSAPublicKey(numbers: fields.publicKey)
        #expect(key.subjectPublicKeyInfo == openssl.publicKey.subjectPublicKeyInfo)
        #expect(key.keyID == openssl.keyID && key.bits == openssl.publicKey.bits)
    }

    @Test("generated certificates (GeneralizedTime past 2049 too) read the same both ways")
    func generatedCertificates() throws {
        let key = try RSAPrivateKey.generate(bits: 2048)
        for validity in [3600.0, 30 * 365 * 86400.0] {
            let certificate = try Certificate.selfSigned(for: key, validity: validity)
            let sealing = try SealingKey(pem: Array(try certificate.pem.utf8))
            #expect(sealing.notBefore == certificate.notBefore && sealing.notAfter == certificate.notAfter)
            #expect(sealing.keyID == key.keyID)
        }
    }

    @Test("both public key PEM forms read by the DER reader give OpenSSL's canonical SubjectPublicKeyInfo")
    func publicKeyForms() throws {
        let spki = try RSAPublicKey(pem: TestSupport.fixture("rsa2048-public.pem"))
        let pkcs1 = try RSAPublicKey(pem: TestSupport.fixture("rsa2048-pkcs1-public.pem"))
        let viaOpenSSL = try RSAPublicKey(publicHalfOf: spki.evpKey)
        #expect(spki.subjectPublicKeyInfo == viaOpenSSL.subjectPublicKeyInfo)
        #expect(pkcs1.subjectPublicKeyInfo == viaOpenSSL.subjectPublicKeyInfo)
        #expect(spki.keyID == pkcs1.keyID)
    }

    @Test("every damaged certificate is refused with a reason, never a crash or a wrong key")
    func damagedCertificates() throws {
        let pem = try TestSupport.fixture("rsa2048.crt")
        let der = try #require(try pem.withUnsafeBytes { try pemBlock("CERTIFICATE", in: $0) })
        let good = try CertificateFields(der: der[...])
        // Every truncation, and one flipped bit in every byte: either refused or read as exactly the original key
        // (a flip inside the signature or a name changes nothing a sealer uses).
        for length in 0..<der.count {
            #expect(throws: (any Error).self) { try CertificateFields(der: der[..<length]) }
        }
        for index in 0..<der.count {
            var damaged = der
            damaged[index] ^= 0x10
            if let fields = try? CertificateFields(der: damaged[...]) {
                let changedKey = fields.publicKey != good.publicKey
                let changedTime = fields.notBefore != good.notBefore || fields.notAfter != good.notAfter
                // A flip inside n or a time field changes what is read; that is the certificate's content, not a
                // parsing error (signatures are not checked, as in kubeseal).
                #expect(!(changedKey && changedTime), "byte \(index)")
            }
        }
        #expect(throws: (any Error).self) { try CertificateFields(der: (der + [0])[...]) }
        let noEnd = String(decoding: pem, as: UTF8.self).replacingOccurrences(of: "-----END CERTIFICATE-----", with: "")
        #expect(throws: CachetCryptoError.self) { try SealingKey(pem: Array(noEnd.utf8)) }
    }

    @Test("times: UTCTime and GeneralizedTime, and malformed ones refused")
    func times() throws {
        func element(_ tag: UInt8, _ text: String) -> DER.Element {
            let bytes = Array(text.utf8)
            return DER.Element(tag: tag, contents: bytes[...], encoded: bytes[...])
        }
        #expect(try CertificateFields.time(element(DER.utcTime, "491231235959Z"), "t") == Date(timeIntervalSince1970: 2_524_607_999))
        #expect(try CertificateFields.time(element(DER.utcTime, "500101000000Z"), "t") == Date(timeIntervalSince1970: -631_152_000))
        #expect(try CertificateFields.time(element(DER.generalizedTime, "20240229120000Z"), "t") == Date(timeIntervalSince1970: 1_709_208_000))
        for bad in ["4912312359Z", "491231235959", "491231235959+0100", "491331235959Z", "230229000000Z", "49123123595aZ"] {
            #expect(throws: CachetCryptoError.self, "\(bad)") { try CertificateFields.time(element(DER.utcTime, bad), "t") }
        }
    }

    @Test("the Swift OAEP encoding opens with OpenSSL's RSA-OAEP, for every label and message length")
    func oaepAgainstOpenSSL() throws {
        let key = try RSAPrivateKey.generate(bits: 2048)
        let k = key.publicKey.modulusByteCount
        for length in [0, 1, 32, k - 2 * 32 - 2] {
            for label in [[UInt8](), Array("team-a/app".utf8)] {
                let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
                let ciphertext = try message.withUnsafeBytes { try key.publicKey.encryptOAEP($0, label: label) }
                #expect(ciphertext.count == k)
                let opened = try ciphertext.withUnsafeBytes { try key.withDecryptedOAEP($0, label: label) { Array($0) } }
                #expect(opened == message)
            }
        }
        let tooLong = [UInt8](repeating: 1, count: k - 2 * 32 - 1)
        #expect(throws: (any Error).self) { try tooLong.withUnsafeBytes { try key.publicKey.encryptOAEP($0, label: []) } }
    }

    @Test("libsodium's AES-256-GCM and OpenSSL's give the same bytes")
    func aesGCMImplementationsAgree() throws {
        guard AES256GCM.sodiumAvailable else { return }  // no AES-NI: only OpenSSL's is used, nothing to compare
        for length in [0, 1, 15, 16, 17, 1000, 65_536] {
            let key = try SystemRandom.secureBytes(count: 32)
            let plaintext = SystemRandom.bytes(count: length)
            let nonce = [UInt8](repeating: 0, count: 12)
            let sodium = try plaintext.withUnsafeBytes { try AES256GCM.sealWithSodium($0, key: key, nonce: nonce, aad: []) }
            let openssl = try plaintext.withUnsafeBytes { try AES256GCM.sealWithOpenSSL($0, key: key, nonce: nonce, aad: []) }
            #expect(sodium == openssl, "\(length) bytes")
        }
    }
}
