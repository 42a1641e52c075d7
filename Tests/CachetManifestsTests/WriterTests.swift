import Foundation
import Testing
@testable import CachetManifests

struct WriterTests {
    static let tricky = ["true", "yes", "on", "0755", "1e3", "~", "", "null", "2001-12-14", "12:30:45", "<<", "1.5",
                         "plain text", "key: value", "- dash", "# hash", "multi\nline\n", "tab\there", "quote\"d", "é🎉",
                         "1.2.3", "AgBy3i4OJSWK+PiTySYZZA=="]

    static var value: ManifestValue {
        .object(tricky.enumerated().map { ("k\($0.offset)", .string($0.element)) }
            + [("n", .number("42")), ("b", .bool(false)), ("z", .null), ("list", .array([.string("x"), .object([])])),
               ("empty", .object([]))])
    }

    @Test("YAML output reads back as the same strings with our reader")
    func yamlRoundTrip() throws {
        let bytes = try ManifestFormat.yaml.write([Self.value, Self.value])
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("---\n"))
        let documents = try ManifestReader.documents(in: bytes)
        #expect(documents.count == 2)
        let object = ManifestObject(document: 1, itemIndex: nil, node: documents[0].root)
        #expect(try FieldReader(object: object).value(documents[0].root, path: "") == Self.value)
    }

    @Test("YAML output reads back as the same strings in PyYAML, a YAML 1.1 reader")
    func yamlInPyYAML() throws {
        let bytes = try ManifestFormat.yaml.write([Self.value])
        let script = "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"
        let output = try Support.run(["python3", "-c", script], stdin: Data(bytes))
        let decoded = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        for (index, text) in Self.tricky.enumerated() {
            #expect(decoded["k\(index)"] as? String == text, "k\(index) \(text.debugDescription)")
        }
    }

    @Test("JSON output is valid JSON to Foundation's parser and ours")
    func json() throws {
        let bytes = try ManifestFormat.json.write([Self.value])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        for (index, text) in Self.tricky.enumerated() { #expect(decoded["k\(index)"] as? String == text) }
        let document = try #require(try ManifestReader.documents(in: bytes).first)
        let object = ManifestObject(document: 1, itemIndex: nil, node: document.root)
        #expect(try FieldReader(object: object).value(document.root, path: "") == Self.value)
    }

    @Test("a SealedSecret is written in kubeseal's shape (golden file)", arguments: ManifestFormat.allCases)
    func golden(format: ManifestFormat) throws {
        var sealer = Sealer(sealingKey: Support.sealingKey)
        sealer.keepAnnotationPrefixes = ["argocd.argoproj.io/"]
        var sealed = try sealer.seal(Support.secret(SealerTests.secretYAML)).sealedSecret
        // Ciphertext is random; the shape is what is compared.
        sealed.encryptedData = sealed.encryptedData.mapValues { _ in "SEALED" }
        sealed.metadata.annotations[Annotations.sealedBy] = "0123456789abcdef"
        let output = String(decoding: try format.write([sealed.manifestValue]), as: UTF8.self)
        let goldenURL = Support.fixtures.appendingPathComponent("sealed-secret.golden.\(format.rawValue)")
        let golden = try? String(contentsOf: goldenURL, encoding: .utf8)
        if output != golden {
            // Leave the actual output beside the golden file, to inspect and (if right) move into place.
            try output.write(to: goldenURL.appendingPathExtension("actual"), atomically: true, encoding: .utf8)
        }
        #expect(output == golden, "see \(goldenURL.path).actual")
    }
}
