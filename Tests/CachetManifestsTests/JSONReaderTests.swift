import Foundation
import Testing
@testable import CachetManifests

struct JSONReaderTests {
    @Test("concatenated objects, as kubectl and kubeseal write them")
    func concatenated() throws {
        let text = "{\"a\": 1}\n{\"b\": [true, null, -1.5e3]}{\"c\": \"d\"}"
        let documents = try Support.documents(text)
        #expect(documents.count == 3)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[documents[1].range], as: UTF8.self) == "{\"b\": [true, null, -1.5e3]}")
        #expect(documents[1].root["b"]?.elements?.map { $0.scalar?.text } == ["true", "null", "-1.5e3"])
    }

    @Test("escapes and surrogate pairs decode to UTF-8")
    func escapes() throws {
        let document = try #require(try Support.documents(#"{"k": "a\"b\\c\/d\n\t\u00e9\ud83c\udf89"}"#).first)
        #expect(document.root["k"]?.scalar?.text == "a\"b\\c/d\n\té🎉")
    }

    @Test("invalid JSON is refused with a position", arguments: [
        (#"{"a": 1,}"#, "expected a string key"), (#"{"a": 01}"#, "not a JSON value"), (#"{"a": 'x'}"#, "not a JSON value"),
        (#"{"a": "x"#, "truncated"), (#"{"a": [1, 2"#, "truncated"), (#"{"a": "\ud800"}"#, "unpaired surrogate"),
        (#"{"a": "\q"}"#, "invalid escape"), ("{\"a\": \"\u{01}\"}", "control character"), (#"{"a" 1}"#, "expected ':'"),
        (#"{"a": 1, "a": 2}"#, "duplicate key \"a\""),
    ])
    func invalid(text: String, problem: String) {
        Support.expectError([problem, "<input>:1:"]) { _ = try Support.documents(text) }
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        #expect(throws: ManifestError.self) { try ManifestReader.documents(in: Array("{\"a\": \"".utf8) + [0xC0, 0x80] + Array("\"}".utf8)) }
    }

    @Test("depth is limited without recursion")
    func depth() {
        Support.expectError(["nested deeper than 64 levels"]) {
            _ = try Support.documents("{\"a\": " + String(repeating: "[", count: 1 << 20))
        }
    }

    @Test("numbers follow JSON's grammar", arguments: [
        ("0", true), ("-0", true), ("1.5", true), ("1e9", true), ("-1.5E-3", true), ("01", false), ("1.", false),
        (".5", false), ("+1", false), ("1e", false), ("0x10", false), ("", false),
    ])
    func numbers(text: String, valid: Bool) {
        #expect(JSONReader.isJSONNumber(Array(text.utf8)) == valid)
    }
}
