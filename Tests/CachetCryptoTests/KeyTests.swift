import Foundation
import Testing
@testable import CachetCrypto

struct KeyTests {
    @Test("generated keys have the asked size and exponent 65537", arguments: RSAPrivateKey.generatableBits)
    func generate(bits: Int) throws {
        let key = try RSAPrivateKey.generate(bits: bits)
        #expect(key.bits == bits)
        #expect(key.publicKey.modulusByteCount == bits / 8)
        let reread = try RSAPrivateKey(pem: key.pkcs1PEM())
        #expect(reread.keyID == key.keyID)
    }

    @Test("other key sizes are not generated", arguments: [1024, 2047, 4097, 8192, 0])
    func refusedSizes(bits: Int) {
        #expect(throws: CachetCryptoError.self) { try RSAPrivateKey.generate(bits: bits) }
    }

    @Test("the certificate carries Bitnami's fields (checked by Python cryptography)")
    func bitnamiCertificateFields() throws {
        let key = TestSupport.rsa2048
        let notBefore = Date(timeIntervalSince1970: 1_800_000_000)
        let certificate = try Certificate.selfSigned(for: key, notBefore: notBefore)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-cert-\(UUID()).crt")
        try certificate.pem.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let result = try IndependentPython.run(["inspect-cert", file.path])
        #expect(result.status == 0, "\(result.error)")
        struct Fields: Decodable {
            struct Extension: Decodable { let critical: Bool; let bits: [String]?; let ca: Bool? }
            let version, subject, issuer, notBefore, notAfter, signatureHash, keyID: String
            let serialBits, keyBits, publicExponent: Int
            let extensions: [String: Extension]
        }
        let fields = try JSONDecoder().decode(Fields.self, from: result.output)
        #expect(fields.version == "v3")
        #expect(fields.subject == "" && fields.issuer == "")
        #expect(fields.serialBits <= 128 && fields.serialBits > 64)
        #expect(fields.notBefore == "2027-01-15T08:00:00+00:00")
        #expect(fields.notAfter == "2037-01-12T08:00:00+00:00", "3650 days later (three leap days in between)")
        #expect(fields.signatureHash == "sha256")
        #expect(fields.keyBits == 2048 && fields.publicExponent == 65537)
        #expect(fields.keyID == key.keyID.hex, "the key id is SHA-256 of the SubjectPublicKeyInfo, first 8 bytes")
        #expect(fields.extensions["keyUsage"]?.critical == true)
        #expect(fields.extensions["keyUsage"]?.bits == ["encipherOnly"])
        #expect(fields.extensions["basicConstraints"]?.critical == true)
        #expect(fields.extensions["basicConstraints"]?.ca == true)
        #expect(fields.extensions["subjectKeyIdentifier"] != nil)

        // Our own reader agrees.
        let reread = try Certificate(pem: Array(certificate.pem.utf8))
        #expect(reread.notBefore == notBefore)
        #expect(reread.notAfter == notBefore.addingTimeInterval(Certificate.defaultValidity))
        #expect(reread.subject == "" && reread.issuer == "")
        #expect(reread.keyID == key.keyID)
    }

    @Test("one key, one id: from the private key, the certificate, and both public key PEM forms")
    func keyIDIsStable() throws {
        let id = TestSupport.rsa2048.keyID
        #expect(try Certificate(pem: TestSupport.fixture("rsa2048.crt")).keyID == id)
        #expect(try RSAPublicKey(pem: TestSupport.fixture("rsa2048-public.pem")).keyID == id)
        #expect(try RSAPublicKey(pem: TestSupport.fixture("rsa2048-pkcs1-public.pem")).keyID == id)
        #expect(id.hex.count == 16)
        #expect(KeyID(id.hex) == id)
        #expect(KeyID("XYZ") == nil)
        #expect(TestSupport.rsa4096.keyID != id)
    }

    @Test("the public key PEM we write reads back")
    func publicKeyPEM() throws {
        let key = TestSupport.rsa4096.publicKey
        #expect(try RSAPublicKey(pem: Array(key.pem.utf8)).keyID == key.keyID)
    }

    @Test("private keys are written as PKCS#1 and read as PKCS#1 or PKCS#8")
    func privateKeyForms() throws {
        let pem = try TestSupport.rsa4096.pkcs1PEM()
        #expect(pem.withUnsafeBytes { $0.starts(with: Array("-----BEGIN RSA PRIVATE KEY-----".utf8)) })
        #expect(TestSupport.knownAnswers.keys["rsa4096"]!.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(TestSupport.knownAnswers.keys["rsa2048"]!.hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        #expect(try RSAPrivateKey(pem: pem).keyID == TestSupport.rsa4096.keyID)
    }

    /// Each refusal comes with a one-line reason naming what is wrong.
    @Test("sealing keys that are refused", arguments: [
        ("expired.crt", CachetCryptoError.Code.certificateNotValid, "expired"),
        ("not-yet-valid.crt", .certificateNotValid, "not valid before"),
        ("rsa1024.crt", .unsupportedKey, "1024 bits"),
        ("rsa1024-public.pem", .unsupportedKey, "1024 bits"),
        ("ec-p256.crt", .unsupportedKey, "EC"),
        ("ec-p256.key", .unsupportedKey, "private key"),
        ("rsa2048-encrypted.key", .unsupportedKey, "private key"),
    ])
    func refusedSealingKeys(file: String, code: CachetCryptoError.Code, reason: String) throws {
        let pem = try TestSupport.fixture(file)
        do {
            _ = try SealingKey(pem: pem)
            Issue.record("\(file) was accepted")
        } catch let error as CachetCryptoError {
            #expect(error.code == code, "\(file): \(error)")
            #expect(error.message.contains(reason), "\(file): \(error)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test("a certificate is usable exactly within its validity period")
    func validityWindow() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let certificate = try Certificate.selfSigned(for: TestSupport.rsa2048, notBefore: start, validity: 3600)
        #expect(throws: CachetCryptoError.self) { try certificate.checkValidity(at: start.addingTimeInterval(-1)) }
        try certificate.checkValidity(at: start)
        try certificate.checkValidity(at: start.addingTimeInterval(3600))
        #expect(throws: CachetCryptoError.self) { try certificate.checkValidity(at: start.addingTimeInterval(3601)) }
        let pem = Array(try certificate.pem.utf8)
        #expect(throws: CachetCryptoError.self) { try SealingKey(pem: pem, at: start.addingTimeInterval(7200)) }
        #expect(try SealingKey(pem: pem, at: start.addingTimeInterval(60)).keyID == TestSupport.rsa2048.keyID)
    }

    @Test("the sealing refusals hold in the envelope too, whatever the caller")
    func weakKeyRefusedAtSeal() throws {
        let weak = try RSAPublicKey(pem: TestSupport.fixture("rsa1024-public.pem"))
        #expect(throws: CachetCryptoError.self) { try EnvelopeV1.seal([1], to: weak, scope: .clusterWide) }
    }

    @Test("private keys that are refused", arguments: [
        ("ec-p256.key", "EC"), ("rsa2048-encrypted.key", "encrypted"), ("rsa2048.crt", "found CERTIFICATE"),
        ("rsa2048-public.pem", "found PUBLIC KEY"),
    ])
    func refusedPrivateKeys(file: String, reason: String) throws {
        let pem = try SecureBytes(copying: try TestSupport.fixture(file))
        do {
            _ = try RSAPrivateKey(pem: pem)
            Issue.record("\(file) was accepted")
        } catch let error as CachetCryptoError {
            #expect(error.message.contains(reason), "\(file): \(error)")
        }
    }

    @Test("damaged PEM is refused with a reason, not a crash", arguments: [
        "", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n",
    ])
    func damagedPEM(text: String) {
        #expect(throws: CachetCryptoError.self) { try SealingKey(pem: Array(text.utf8)) }
        #expect(throws: CachetCryptoError.self) { try RSAPrivateKey(pem: try SecureBytes(copying: Array(text.utf8))) }
    }

    @Test("PEM contents are told apart from their labels")
    func pemContent() throws {
        #expect(PEMContent(pem: try TestSupport.fixture("rsa2048.crt")) == .certificate)
        #expect(PEMContent(pem: try TestSupport.fixture("rsa2048-public.pem")) == .publicKey)
        #expect(PEMContent(pem: try TestSupport.fixture("rsa2048-pkcs1-public.pem")) == .publicKey)
        #expect(PEMContent(pem: try TestSupport.fixture("ec-p256.key")) == .privateKey)
        #expect(PEMContent(pem: try TestSupport.fixture("rsa2048-encrypted.key")) == .encryptedPrivateKey)
        #expect(PEMContent(pem: Array("junk".utf8)) == .unrecognized(label: nil))
    }
}
