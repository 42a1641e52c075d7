import CachetCrypto
import Foundation

/// The checked-in RSA test keys (Tests/CachetCryptoTests/Fixtures, made by scripts/v1-vectors.py), parsed once.
public enum FixtureKeys {
    /// The known-answer document's keys by name: `rsa2048` (PKCS#1 PEM) and `rsa4096` (PKCS#8 PEM).
    private static let pems: [String: String] = {
        struct Answers: Decodable { let keys: [String: String] }
        let data = try! Data(contentsOf: Repository.cryptoFixtures.appendingPathComponent("v1-known-answers.json"))
        return try! JSONDecoder().decode(Answers.self, from: data).keys
    }()

    public static let rsa2048 = key("rsa2048")
    public static let rsa4096 = key("rsa4096")

    /// The certificate of ``rsa2048``, to seal with.
    public static let sealingKey = try! SealingKey(pem: Data(contentsOf: Repository.cryptoFixtures.appendingPathComponent("rsa2048.crt")))

    /// ``rsa2048`` as a PEM file readable only by its owner, as the CLI and render mode insist.
    public static let rsa2048File: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-test-key-\(getpid()).pem").path
        let pem = try! rsa2048.pkcs1PEM()
        _ = FileManager.default.createFile(atPath: path, contents: pem.withUnsafeBytes { Data($0) }, attributes: [.posixPermissions: 0o600])
        return path
    }()

    private static func key(_ name: String) -> RSAPrivateKey {
        try! RSAPrivateKey(pem: try SecureBytes(copying: Array(pems[name]!.utf8)))
    }
}
