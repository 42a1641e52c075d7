import Foundation
import Testing
@testable import CachetManifests

struct YAMLReaderTests {
    @Test("multi-document streams: markers, empty documents, comments, and each document's bytes")
    func multiDocument() throws {
        let text = """
            # leading comment
            ---
            a: 1
            ---
            ---
            # only a comment
            ---
            b: [x, y]
            ...
            ---
            c: {d: e}

            """
        let documents = try Support.documents(text)
        #expect(documents.map(\.index) == [1, 2, 3])
        let bytes = Array(text.utf8)
        let slices = documents.map { String(decoding: bytes[$0.range], as: UTF8.self) }
        #expect(slices[0].hasPrefix("---") && slices[0].contains("a: 1"))
        #expect(slices[1].contains("b: [x, y]") && slices[1].hasSuffix("..."))
        #expect(slices[2].contains("c: {d: e}"))
        #expect(documents[2].root["c"]?["d"]?.scalar?.text == "e")
    }

    @Test("positions are bytes and characters: non-ASCII text before a node")
    func unicodePositions() throws {
        let text = "a: \"héllo wörld 🎉\"\nb: x\n"
        let document = try #require(try Support.documents(text).first)
        let b = try #require(document.root.entries?.last)
        #expect(b.value.start.line == 2 && b.value.start.column == 4)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[b.value.range], as: UTF8.self) == "x")
        let a = try #require(document.root["a"])
        #expect(String(decoding: bytes[a.range], as: UTF8.self) == "\"héllo wörld 🎉\"")
    }

    /// libyaml drops a byte-order mark before counting characters; positions must still be byte offsets of the input.
    @Test("positions after a UTF-8 byte-order mark, ASCII or not; UTF-16 is refused", arguments: ["x", "é"])
    func byteOrderMark(word: String) throws {
        let text = "\u{FEFF}a: \(word)\nb: y\n"
        let document = try #require(try Support.documents(text).first)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[document.root.range], as: UTF8.self).hasPrefix("a: \(word)"))
        #expect(String(decoding: bytes[try #require(document.root["b"]).range], as: UTF8.self) == "y")
        #expect(throws: ManifestError.self) { try ManifestReader.documents(in: [0xFF, 0xFE, 0x61, 0x00, 0x3A, 0x00]) }
    }

    @Test("duplicate keys are refused, naming the key, its path and both lines")
    func duplicateKeys() {
        Support.expectError(["<input>:4:3", "metadata", "duplicate key \"name\" (first at line 3)"]) {
            _ = try Support.documents("kind: Secret\nmetadata:\n  name: a\n  name: b\n")
        }
    }

    @Test("duplicates are found in large mappings too, in YAML and JSON")
    func duplicateKeysInLargeMappings() {
        let keys = (0..<40).map { "key\($0)" } + ["key7"]
        Support.expectError(["<input>:42:1", "duplicate key \"key7\" (first at line 9)"]) {
            _ = try Support.documents("a: 1\n" + keys.map { "\($0): v" }.joined(separator: "\n"))
        }
        Support.expectError(["duplicate key \"key7\" (first at line 9)"]) {
            _ = try Support.documents("{\"a\": 1,\n" + keys.map { "\"\($0)\": 1" }.joined(separator: ",\n") + "}")
        }
        #expect(throws: Never.self) { try Support.documents((0..<40).map { "key\($0): v" }.joined(separator: "\n")) }
    }

    @Test("deep nesting stops at the depth limit, fast, for flow and block style")
    func depth() throws {
        let clock = ContinuousClock()
        for text in [String(repeating: "[", count: 100_000), "a: " + String(repeating: "{", count: 1 << 20),
                     (0..<1000).map { String(repeating: "  ", count: $0) + "- " }.joined(separator: "\n")] {
            let start = clock.now
            Support.expectError(["nested deeper than 64 levels"]) { _ = try Support.documents(text) }
            #expect(clock.now - start < .seconds(5), "stopped early rather than parsing everything")
        }
    }

    @Test("aliases are kept, never expanded: a billion-laughs document parses as a handful of nodes")
    func aliasBomb() throws {
        var lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            lines.append("l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        let document = try #require(try Support.documents(lines.joined(separator: "\n")).first)
        guard case .alias("l8") = document.root["l9"]?.elements?.first?.kind else {
            Issue.record("expected an unexpanded alias")
            return
        }
    }

    @Test("a scalar over the limit is refused")
    func scalarLimit() {
        let text = "a: " + String(repeating: "x", count: 10 << 20)
        Support.expectError(["exceeds the limit"]) { _ = try Support.documents(text) }
    }

    @Test("input over the size limit is refused before parsing")
    func sizeLimit() {
        var limits = ParseLimits.default
        limits.maxBytes = 100
        Support.expectError(["the limit is 100"]) { _ = try Support.documents(String(repeating: "a: b\n", count: 50), limits: limits) }
    }

    @Test("truncated or broken YAML gives line and column", arguments: [
        ("a: [1, 2", "did not find expected"), ("a: \"open", "found unexpected end of stream"),
        ("a: b\n c: d\n", "mapping values are not allowed"), ("a:\n\t- b", "found character that cannot start any token"),
    ])
    func syntaxErrors(text: String, problem: String) {
        Support.expectError(["invalid YAML", problem, "<input>:"]) { _ = try Support.documents(text) }
    }

    @Test("mapping keys must be scalars")
    func complexKeys() {
        Support.expectError(["mapping keys must be strings"]) { _ = try Support.documents("? [a, b]\n: c\n") }
    }

    @Test("a List's items are objects of their own")
    func list() throws {
        let objects = try Support.objects("""
            apiVersion: v1
            kind: List
            items:
            - {apiVersion: v1, kind: Secret, metadata: {name: a}}
            - {apiVersion: v1, kind: Secret, metadata: {name: b}}
            """)
        #expect(objects.map(\.itemIndex) == [0, 1])
        #expect(objects.map(\.label) == ["Secret a", "Secret b"])
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: ManifestError.self) { try ManifestReader.documents(in: [0x61, 0x3A, 0x20, 0xC3, 0x28]) }
    }
}
