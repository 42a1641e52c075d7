import CachetCrypto
import Foundation
import Testing
@testable import CachetManifests

/// `--merge-into`: only the merged items' bytes change.
struct SealedSecretEditorTests {
    static let blockYAML = """
        # Sealed by CI; do not edit by hand.
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata:
          name: app   # the app's credentials
          namespace: team-a
          annotations:
            cachet.dev/sealed-by: "0000000000000001"
        spec:
          encryptedData:
            b-item: OLDB
            d-item: "OLDD"   # quoted
          template:
            metadata:
              name: app

        """

    func merge(_ file: String, _ items: [String: String], sealedBy: String? = nil) throws -> String {
        let editor = try SealedSecretEditor(file: Array(file.utf8))
        let result = try editor.settingItems(items, sealedBy: sealedBy.flatMap(KeyID.init).map { [$0] } ?? [])
        return String(decoding: result, as: UTF8.self)
    }

    /// The lines of `after` that are not in `before` (a poor man's diff, enough for these small files).
    func changedLines(_ before: String, _ after: String) -> [String] {
        let old = Set(before.split(separator: "\n", omittingEmptySubsequences: false))
        return after.split(separator: "\n", omittingEmptySubsequences: false).filter { !old.contains($0) }.map(String.init)
    }

    @Test("replace and insert in a block mapping: sorted position, same indentation, comments kept")
    func block() throws {
        let merged = try merge(Self.blockYAML, ["d-item": "NEWD", "a-item": "NEWA", "c-item": "NEWC", "e-item": "NEWE"],
                               sealedBy: "00000000000000ff")
        #expect(changedLines(Self.blockYAML, merged) == [
            "    cachet.dev/sealed-by: \"00000000000000ff,0000000000000001\"",
            "    a-item: NEWA", "    c-item: NEWC", "    d-item: \"NEWD\"   # quoted", "    e-item: NEWE",
        ])
        #expect(Set(Self.blockYAML.split(separator: "\n")).subtracting(merged.split(separator: "\n"))
                == ["    d-item: \"OLDD\"   # quoted", "    cachet.dev/sealed-by: \"0000000000000001\""])
        let reread = try SealedSecretEditor(file: Array(merged.utf8)).sealedSecret
        #expect(reread.encryptedData == ["a-item": "NEWA", "b-item": "OLDB", "c-item": "NEWC", "d-item": "NEWD", "e-item": "NEWE"])
    }

    @Test("replacing every value (a re-encryption) leaves only the new key in sealed-by")
    func replacingEverything() throws {
        let merged = try merge(Self.blockYAML, ["b-item": "NEWB", "d-item": "NEWD"], sealedBy: "00000000000000ff")
        #expect(changedLines(Self.blockYAML, merged) == [
            "    cachet.dev/sealed-by: \"00000000000000ff\"", "    b-item: NEWB", "    d-item: \"NEWD\"   # quoted",
        ])
        let sameKey = try merge(Self.blockYAML, ["b-item": "NEWB"], sealedBy: "0000000000000001")
        #expect(changedLines(Self.blockYAML, sameKey) == ["    b-item: NEWB"])
    }

    @Test("JSON files get JSON entries")
    func json() throws {
        let file = """
            {
              "kind": "SealedSecret",
              "apiVersion": "bitnami.com/v1alpha1",
              "metadata": {"name": "app", "namespace": "team-a"},
              "spec": {
                "encryptedData": {
                  "b": "OLDB"
                }
              }
            }

            """
        let merged = try merge(file, ["a": "NEWA", "b": "NEWB", "c": "NEWC"])
        #expect(merged.contains("\"a\": \"NEWA\",\n      \"b\": \"NEWB\",\n      \"c\": \"NEWC\"\n"))
        _ = try JSONSerialization.jsonObject(with: Data(merged.utf8))
    }

    @Test("empty and flow mappings", arguments: [
        ("  encryptedData: {}\n", ["a": "X"]),
        ("  encryptedData:\n", ["a": "X", "b": "Y"]),
        ("  encryptedData: {b: OLD, d: OLD}\n", ["a": "X", "c": "Y"]),
    ])
    func emptyAndFlow(line: String, items: [String: String]) throws {
        let file = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: app, namespace: team-a}\nspec:\n" + line
        let merged = try merge(file, items)
        let reread = try SealedSecretEditor(file: Array(merged.utf8)).sealedSecret
        for (key, value) in items { #expect(reread.encryptedData[key] == value, "\(merged)") }
        #expect(merged.hasPrefix("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: app, namespace: team-a}\nspec:\n"))
    }

    @Test("keys that YAML would type are quoted")
    func quotedKeys() throws {
        let merged = try merge(Self.blockYAML, ["true": "VALX", "123": "VALY"])
        #expect(merged.contains("\"123\": VALY") && merged.contains("\"true\": VALX"), "\(merged)")
        #expect(try SealedSecretEditor(file: Array(merged.utf8)).sealedSecret.encryptedData["true"] == "VALX")
    }

    @Test("a file that is not one SealedSecret is refused")
    func refused() {
        Support.expectError(["exactly one SealedSecret"]) { _ = try SealedSecretEditor(file: Array((Self.blockYAML + "---\na: b\n").utf8)) }
        Support.expectError(["expected a SealedSecret"]) { _ = try SealedSecretEditor(file: Array("apiVersion: v1\nkind: Secret\n".utf8)) }
    }
}
