import CachetCrypto
import CachetTestSupport
import Foundation
import Testing
@testable import CachetManifests

/// Helpers of the manifest tests alone; paths, keys and the process runner are CachetTestSupport's.
enum Support {
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
    static let privateKey = FixtureKeys.rsa2048
    static let sealingKey = FixtureKeys.sealingKey
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

    /// Runs a program found on PATH and returns its stdout; throws if it fails.
    static func run(_ arguments: [String], stdin: Data = Data()) throws -> Data {
        let result = try TestProcess.run(program: arguments[0], Array(arguments.dropFirst()), stdin: stdin)
        guard result.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(arguments) exited \(result.status): \(result.error)"])
        }
        return result.output
    }
}
