import CachetCrypto
import Foundation
import Testing
@testable import CachetManifests

enum Support {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let cryptoFixtures = repositoryRoot.appendingPathComponent("Tests/CachetCryptoTests/Fixtures")
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func documents(_ text: String, limits: ParseLimits = .default) throws -> [Document] {
        try ManifestReader.documents(in: Array(text.utf8), limits: limits)
    }

    static func objects(_ text: String) throws -> [ManifestObject] {
        try ManifestReader.objects(in: documents(text))
    }

    static func secret(_ text: String) throws -> SecretManifest {
        try SecretManifest(try #require(objects(text).first))
    }

    static func bytes(_ secure: SecureBytes) -> [UInt8] {
        secure.withUnsafeBytes { Array($0) }
    }

    static func text(_ secure: SecureBytes?) -> String? {
        secure.map { String(decoding: bytes($0), as: UTF8.self) }
    }

    /// The RSA-2048 test key of the crypto fixtures (PKCS#1), and its certificate.
    static let privateKey: RSAPrivateKey = {
        struct Answers: Decodable { let keys: [String: String] }
        let data = try! Data(contentsOf: cryptoFixtures.appendingPathComponent("v1-known-answers.json"))
        let pem = try! JSONDecoder().decode(Answers.self, from: data).keys["rsa2048"]!
        return try! RSAPrivateKey(pem: try SecureBytes(copying: Array(pem.utf8)))
    }()
    static let sealingKey = try! SealingKey(pem: Data(contentsOf: cryptoFixtures.appendingPathComponent("rsa2048.crt")))
    static let keyRing = KeyRing(keys: [privateKey])

    /// Expects a ManifestError whose rendering contains every fragment.
    static func expectError(
        _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            for fragment in fragments {
                #expect(text.contains(fragment), "\(text)", sourceLocation: sourceLocation)
            }
            #expect(!text.contains("\n"), "one line: \(text)", sourceLocation: sourceLocation)
        }
    }

    /// Runs a program and returns its stdout; throws if it fails.
    static func run(_ arguments: [String], stdin: Data? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let stdin {
            try input.fileHandleForWriting.write(contentsOf: stdin)
            try input.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(arguments) exited \(process.terminationStatus)"])
        }
        return data
    }

    static let kubectlAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl")
        || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/kubectl")
}
