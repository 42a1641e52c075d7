import Testing
@testable import CachetManifests

/// The table of YAML 1.1 coercions (../shared/reference/controller-and-hardening.md §3.3) as data.
struct ScalarTypesTests {
    @Test("plain scalars that a YAML 1.1 reader types as something other than text", arguments: [
        ("yes", "bool"), ("on", "bool"), ("y", "bool"), ("No", "bool"), ("OFF", "bool"), ("true", "bool"),
        ("0755", "int"), ("0x1F", "int"), ("1_000", "int"), ("12:30:45", "int"), ("0b101", "int"), ("-42", "int"),
        ("1e3", "float"), ("012345678", "float"), ("1.5", "float"), (".inf", "float"), ("-.Inf", "float"), (".NaN", "float"),
        ("~", "null"), ("", "null"), ("null", "null"), ("2001-12-14", "timestamp"), ("2001-12-14T21:59:43.10-05:00", "timestamp"),
        ("<<", "merge"),
        // go-yaml v2 drops `_` and reads Go's base prefixes in either case (kubectl stores these as numbers)
        ("0X1F", "int"), ("0O17", "int"), ("0o17", "int"), ("0B101", "int"), ("+_1", "int"), ("-_0x_1F", "int"),
        ("1_0.5", "float"), ("2001-1-2 3:4:5", "timestamp"),
    ])
    func coerced(text: String, type: String) {
        #expect(YAMLScalarTypes.resolvePlain(text).rawValue == type)
    }

    @Test("plain scalars that stay text", arguments: [
        "hello", "hunter2", "1.2.3", "10.0.0.1", "v1", "0.1a", "yesterday", "True1", "AgBy3i4OJSWK+PiTySYZZA==", "-", ".",
        "..dockerconfigjson", "12:30:45:abc", "1__a", "0x", "0b2", "0o8", "1:60", "1:7:", "2001-12-14x", "+", "-_",
    ])
    func text(text: String) {
        #expect(YAMLScalarTypes.resolvePlain(text) == .string)
    }

    @Test("quoted, block and tagged scalars")
    func styles() {
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("yes".utf8), style: .doubleQuoted, tag: nil)) == .string)
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("yes".utf8), style: .literal, tag: nil)) == .string)
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("yes".utf8), style: .plain, tag: "tag:yaml.org,2002:str")) == .string)
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("12".utf8), style: .plain, tag: "tag:yaml.org,2002:int")) == .tagged)
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("yes".utf8), style: .jsonString, tag: nil)) == .string)
        #expect(YAMLScalarTypes.resolve(.init(bytes: Array("true".utf8), style: .jsonLiteral, tag: nil)) == .bool)
    }

    /// The families that made the old regular expressions backtrack exponentially (`1:1:…:1x` hung `seal`), at up to
    /// 10,000 groups: each must resolve, and the recognisers may examine each byte only a bounded number of times.
    @Test("scalar typing is linear in the input", arguments: [1, 10, 100, 1_000, 10_000])
    func linear(groups: Int) {
        let families = [
            String(repeating: "1:", count: groups) + "1x",
            String(repeating: "1:", count: groups) + "1",
            String(repeating: "1_", count: groups) + "x",
            String(repeating: "0", count: groups) + ".5e",
            "1" + String(repeating: ":59", count: groups) + ".",
            "2001-12-14 " + String(repeating: " ", count: groups) + "x",
        ]
        for text in families {
            var steps = 0
            _ = YAMLScalarTypes.resolvePlain(text, steps: &steps)
            #expect(steps <= 4 * text.utf8.count + 64, "\(steps) steps for \(text.utf8.count) bytes")
        }
        #expect(YAMLScalarTypes.resolvePlain(families[0]) == .string)
        #expect(YAMLScalarTypes.resolvePlain(families[1]) == .int)
        #expect(YAMLScalarTypes.resolvePlain(families[4]) == .float)
    }

    /// What `cachet validate` and `reencrypt` send: every YAML number becomes valid JSON with kubectl's value.
    @Test("YAML numbers become valid JSON numbers", arguments: [
        ("0x1F", "31"), ("0X1F", "31"), ("0755", "493"), ("1_000", "1000"), ("0b101", "5"), ("0O17", "15"), ("+_1", "1"),
        ("-0x10", "-16"), ("+1.5", "1.5"), (".5", "0.5"), ("-.5e3", "-0.5e3"), ("1.", "1"), ("007.5", "7.5"), ("0999", "999"),
        ("1e3", "1e3"), ("12", "12"),
    ])
    func jsonNumbers(yaml: String, json: String) throws {
        let document = try #require(try ManifestReader.documents(in: Array("v: \(yaml)".utf8)).first)
        let value = try ManifestValue(node: document.root)
        #expect(value["v"] == .number(json))
        let written = value.jsonBytes
        let reread = try ManifestValue(json: written)
        #expect(reread["v"] == .number(json), "\(String(decoding: written, as: UTF8.self)) is not read back as JSON")
    }

    @Test("YAML numbers JSON cannot spell stay text", arguments: [".inf", "-.Inf", ".NaN", "12:30:45", "0xFFFFFFFFFFFFFFFFF"])
    func unspellable(yaml: String) throws {
        let document = try #require(try ManifestReader.documents(in: Array("v: \(yaml)".utf8)).first)
        let value = try ManifestValue(node: document.root)
        #expect(value["v"] == .string(yaml))
        _ = try ManifestValue(json: value.jsonBytes)
    }
}
