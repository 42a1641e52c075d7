import CachetTestSupport
import Foundation
import Testing
@testable import CachetCrypto

/// Wycheproof vectors (../shared/testdata/wycheproof) run as data through one loader.
@Suite(.enabled(if: Repository.sharedTestdata != nil, "../shared/testdata is absent: Wycheproof vectors skipped"))
struct WycheproofTests {
    /// The parts of Wycheproof's JSON layout these tests read.
    struct VectorFile: Decodable {
        struct Group: Decodable {
            let privateKeyPem: String?
            let sha: String?
            let mgfSha: String?
            let keySize: Int?
            let ivSize: Int?
            let tagSize: Int?
            let tests: [Vector]
        }
        struct Vector: Decodable {
            let tcId: Int
            let comment: String
            let msg: String
            let ct: String
            let label: String?
            let key: String?
            let iv: String?
            let aad: String?
            let tag: String?
            let result: String
        }
        let testGroups: [Group]

        static func load(_ name: String) throws -> VectorFile {
            let url = Repository.sharedTestdata!.appendingPathComponent("wycheproof").appendingPathComponent(name)
            return try JSONDecoder().decode(VectorFile.self, from: Data(contentsOf: url))
        }
    }

    static let oaepSHA256Files = [2048, 3072, 4096].map { "rsa_oaep_\($0)_sha256_mgf1sha256_test.json" }
    static let oaepMGF1SHA1Files = [2048, 3072, 4096].map { "rsa_oaep_\($0)_sha256_mgf1sha1_test.json" }

    /// Every valid vector decrypts to `msg`; every invalid one fails with the one `cannotOpen` error.
    @Test(arguments: oaepSHA256Files)
    func rsaOAEPWithSHA256AndMGF1SHA256(file: String) throws {
        let vectors = try VectorFile.load(file)
        var checked = 0
        for group in vectors.testGroups {
            #expect(group.sha == "SHA-256" && group.mgfSha == "SHA-256")
            let key = try RSAPrivateKey(pem: try SecureBytes(copying: Array(group.privateKeyPem!.utf8)))
            for vector in group.tests {
                let ciphertext = TestSupport.hex(vector.ct)
                let result = Result { try ciphertext.withUnsafeBytes { try key.withDecryptedOAEP($0, label: TestSupport.hex(vector.label ?? "")) { Array($0) } } }
                switch (vector.result, result) {
                case ("valid", .success(let plaintext)), ("acceptable", .success(let plaintext)):
                    #expect(plaintext == TestSupport.hex(vector.msg), "tcId \(vector.tcId)")
                case ("valid", .failure(let error)):
                    Issue.record("tcId \(vector.tcId) (\(vector.comment)) should decrypt: \(error)")
                case (_, .failure(let error)):
                    #expect((error as? CachetCryptoError)?.code == .cannotOpen, "tcId \(vector.tcId)")
                    #expect("\(error)" == "\(CachetCryptoError.cannotOpen)", "tcId \(vector.tcId): one error for every failure")
                case ("invalid", .success):
                    Issue.record("tcId \(vector.tcId) (\(vector.comment)) must not decrypt")
                default:
                    break
                }
                checked += 1
            }
        }
        #expect(checked >= 30)
    }

    /// A negative control: OAEP with MGF1-SHA-1 is not v1's padding, so even the valid vectors must fail.
    @Test(arguments: oaepMGF1SHA1Files)
    func rsaOAEPWithMGF1SHA1IsRejected(file: String) throws {
        let vectors = try VectorFile.load(file)
        var validVectors = 0
        for group in vectors.testGroups {
            #expect(group.mgfSha == "SHA-1")
            let key = try RSAPrivateKey(pem: try SecureBytes(copying: Array(group.privateKeyPem!.utf8)))
            for vector in group.tests {
                let ciphertext = TestSupport.hex(vector.ct)
                #expect(throws: CachetCryptoError.self, "tcId \(vector.tcId)") {
                    try ciphertext.withUnsafeBytes { try key.withDecryptedOAEP($0, label: TestSupport.hex(vector.label ?? "")) { Array($0) } }
                }
                if vector.result == "valid" { validVectors += 1 }
            }
        }
        #expect(validVectors > 0, "the control must include vectors that are valid under MGF1-SHA-1")
    }

    /// AES-256-GCM with 96-bit IVs, both directions.
    @Test func aes256GCMWith96BitNonces() throws {
        let vectors = try VectorFile.load("aes_gcm_test.json")
        var checked = 0
        for group in vectors.testGroups where group.keySize == 256 && group.ivSize == 96 && group.tagSize == 128 {
            for vector in group.tests {
                let key = try SecureBytes(copying: TestSupport.hex(vector.key!))
                let nonce = TestSupport.hex(vector.iv!)
                let aad = TestSupport.hex(vector.aad ?? "")
                let sealed = TestSupport.hex(vector.ct) + TestSupport.hex(vector.tag!)
                let opened = Result { try sealed.withUnsafeBytes { try AES256GCM.open($0, key: key, nonce: nonce, aad: aad) } }
                switch (vector.result, opened) {
                case ("valid", .success(let plaintext)):
                    #expect(TestSupport.bytes(plaintext) == TestSupport.hex(vector.msg), "tcId \(vector.tcId)")
                    let resealed = try TestSupport.hex(vector.msg).withUnsafeBytes {
                        try AES256GCM.seal($0, key: key, nonce: nonce, aad: aad)
                    }
                    #expect(resealed == sealed, "tcId \(vector.tcId) seals to the same bytes")
                case ("valid", .failure(let error)):
                    Issue.record("tcId \(vector.tcId) should open: \(error)")
                case ("invalid", .success):
                    Issue.record("tcId \(vector.tcId) (\(vector.comment)) must not open")
                case (_, .failure(let error)):
                    #expect((error as? CachetCryptoError)?.code == .cannotOpen, "tcId \(vector.tcId)")
                default:
                    break
                }
                checked += 1
            }
        }
        #expect(checked >= 60)
    }
}
