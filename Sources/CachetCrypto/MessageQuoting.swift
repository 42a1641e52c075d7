extension String {
    /// The text as an error message shows a name taken from input: in double quotes, with quotes, backslashes and
    /// control characters escaped, and cut to `limit` characters (ending in `…`). Names in messages come from
    /// untrusted files; a newline or a terminal escape in one must not reach the user's terminal or split a log line,
    /// and a 10 KB name must not make a 10 KB error.
    package func quotedForMessage(limit: Int = 80) -> String {
        "\"" + String(prefix(limit)).escapingControlCharacters(quotes: true) + (count > limit ? "…" : "") + "\""
    }

    /// The text with control characters (and, if asked, double quotes and backslashes) escaped as Swift would.
    package func escapingControlCharacters(quotes: Bool = false) -> String {
        var result = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\"" where quotes: result += "\\\""
            case "\\" where quotes: result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
