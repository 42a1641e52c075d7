/// Kubernetes' syntax rules for what Cachet reads from users and writes to the API: object names, namespaces, Secret
/// item keys, label keys and values. One home, so that the CLI, the controller and the development API server cannot
/// disagree about what the API server accepts (a name the CLI seals but the API refuses is a SealedSecret that never
/// applies; a namespace with a `/` would make a v1 scope label ambiguous).
package enum KubeSyntax {
    /// An RFC 1123 label, as a namespace must be: 1–63 of `a-z 0-9 -`, alphanumeric at both ends.
    package static func isDNSLabel(_ text: some StringProtocol) -> Bool {
        isDNSLabel(Array(text.utf8)[...], maxLength: 63)
    }

    /// An RFC 1123 subdomain, as most object names must be: dot-separated labels, at most 253 in all. Kubernetes
    /// bounds only the whole name, not its parts, so neither does this.
    package static func isDNSSubdomain(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count <= 253
            && bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { isDNSLabel($0, maxLength: 253) }
    }

    /// A Secret (or ConfigMap) item key (`IsConfigMapKey`): 1–253 of `-._a-zA-Z0-9`, not `.`, not starting with `..`.
    /// A key becomes a file name when the Secret is mounted, so `..` and `/` must never pass.
    package static func isItemKey(_ key: some StringProtocol) -> Bool {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= 253, bytes != [UInt8(ascii: ".")],
              !bytes.starts(with: [UInt8(ascii: "."), UInt8(ascii: ".")])
        else { return false }
        return bytes.allSatisfy { isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// A `generateName` prefix the API server completes with 5 random characters into a valid name: 1–245 of
    /// `a-z 0-9 -`, alphanumeric first (Bitnami's rule for `--key-prefix`).
    package static func isGenerateNamePrefix(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 245, isLowerAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// A label key: a qualified name with an optional DNS-subdomain prefix (`example.com/tier`).
    package static func isLabelKey(_ key: String) -> Bool {
        labelProblem(key: key, value: "") == nil
    }

    /// A label value: empty, or up to 63 of `A-Z a-z 0-9 - _ .`, alphanumeric at both ends.
    package static func isLabelValue(_ value: String) -> Bool {
        value.isEmpty || isQualifiedNamePart(value)
    }

    /// Why `key=value` is not a label the API server would take, or nil: a key is a qualified name with an optional
    /// DNS-subdomain prefix (`example.com/tier`), a value empty or a name.
    package static func labelProblem(key: String, value: String) -> String? {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            let prefix = parts[0]
            guard !prefix.isEmpty, isDNSSubdomain(prefix) else {
                return "the label key prefix \"\(prefix)\" is not a lowercase DNS subdomain"
            }
        }
        let nameRule = "up to 63 of A-Z, a-z, 0-9, -, _ and ., alphanumeric at both ends"
        guard isQualifiedNamePart(parts.last!) else { return "the label key \"\(key)\" is not a valid name (\(nameRule))" }
        guard value.isEmpty || isQualifiedNamePart(value) else { return "the label value for \"\(key)\" is not valid (\(nameRule))" }
        return nil
    }

    /// Why `text` is not a label selector the API server would take, or nil: lets the controller refuse a bad
    /// `--label-selector` at start-up instead of failing every watch request.
    package static func labelSelectorProblem(_ text: String) -> String? {
        do {
            _ = try LabelSelector(text)
            return nil
        } catch {
            return error.message
        }
    }

    /// The name part of a qualified name (and a label value): 1–63 of `A-Z a-z 0-9 - _ .`, alphanumeric at both ends.
    static func isQualifiedNamePart(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63,
              isASCIIAlphanumeric(first), isASCIIAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isDNSLabel(_ bytes: ArraySlice<UInt8>, maxLength: Int) -> Bool {
        guard let first = bytes.first, let last = bytes.last, bytes.count <= maxLength,
              isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
