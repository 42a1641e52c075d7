/// How a scalar is typed: YAML 1.1's implicit types, as go-yaml v2 (and so kubectl) resolves plain scalars.
///
/// Secrets hold text. A plain `yes` in `stringData` is read by kubectl as the boolean true and stored as `"true"`;
/// `0755` becomes `"493"`; `2001-12-14` becomes a timestamp. Sealing the raw text would seal something other than
/// what `kubectl apply` of the same Secret stores, so such scalars are refused where text is expected ("quote it").
/// This is the union of the YAML 1.1 type repository and go-yaml v2's resolver, deliberately wide: refusing a value
/// that only one reader would coerce costs a pair of quotes; accepting it could seal the wrong bytes.
public enum YAMLScalarTypes {
    public enum ResolvedType: String, Sendable {
        case string, null, bool, int, float, timestamp, merge
        /// An explicit tag other than `!!str`.
        case tagged
    }

    public static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    public static let trues: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falses: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]

    // Regex values are immutable once built; nonisolated(unsafe) only because the type is not marked Sendable.
    nonisolated(unsafe) static let int = #/[-+]?(0b[01_]+|0o[0-7_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)/#
    nonisolated(unsafe) static let float = #/[-+]?([0-9]+|[0-9][0-9_]*\.[0-9_]*([eE][-+]?[0-9]+)?|\.[0-9_]+([eE][-+]?[0-9]+)?|[0-9][0-9_]*([eE][-+]?[0-9]+)|[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|\.(inf|Inf|INF)|\.(nan|NaN|NAN))/#
    nonisolated(unsafe) static let timestamp = #/[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?/#

    /// The type a plain scalar's text resolves to. (`1.2.3` and `10.0.0.1` stay text: no reader types them; a digit
    /// string that is not a valid integer, such as `012345678`, is a float to go-yaml, which tries ParseFloat next.)
    public static func resolvePlain(_ text: String) -> ResolvedType {
        if nulls.contains(text) { return .null }
        if trues.contains(text) || falses.contains(text) { return .bool }
        if text == "<<" { return .merge }
        guard let first = text.utf8.first,
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) || first == UInt8(ascii: "-")
                || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
        else { return .string }
        if text.wholeMatch(of: int) != nil { return .int }
        if text.wholeMatch(of: float) != nil { return .float }
        if text.wholeMatch(of: timestamp) != nil { return .timestamp }
        return .string
    }

    /// The type a parsed scalar has.
    public static func resolve(_ scalar: Node.Scalar) -> ResolvedType {
        if let tag = scalar.tag, tag != "!" {
            return tag == "tag:yaml.org,2002:str" ? .string : .tagged
        }
        switch scalar.style {
        case .plain: return resolvePlain(scalar.text)
        case .jsonLiteral:
            let text = scalar.text
            return text == "null" ? .null : (text == "true" || text == "false") ? .bool : .float
        default: return .string
        }
    }

    /// True when writing `text` as a plain YAML scalar would make a reader see something other than this string.
    static func needsQuotes(_ text: String) -> Bool {
        resolvePlain(text) != .string
    }
}
