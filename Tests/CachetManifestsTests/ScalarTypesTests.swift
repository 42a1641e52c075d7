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
    ])
    func coerced(text: String, type: String) {
        #expect(YAMLScalarTypes.resolvePlain(text).rawValue == type)
    }

    @Test("plain scalars that stay text", arguments: [
        "hello", "hunter2", "1.2.3", "10.0.0.1", "v1", "0.1a", "yesterday", "True1", "AgBy3i4OJSWK+PiTySYZZA==", "-", ".",
        "..dockerconfigjson", "12:30:45:abc", "1__a",
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
}
