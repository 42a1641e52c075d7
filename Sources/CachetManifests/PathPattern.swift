#if canImport(Glibc)
import Glibc
#endif

/// A path pattern of `.cachet.yaml`, read as gitignore reads one: `**` is any number of directories, `*` and `?`
/// match within one path segment, `[…]` is a character class; a pattern without a `/` (other than a trailing one)
/// matches a file or directory of that name at any depth; a pattern that matches a directory covers everything in it.
/// Paths are relative, with `/` between segments.
///
/// Each segment is matched by glibc's `fnmatch`; only `**` is handled here, with a table over (pattern segment,
/// path segment) pairs, so a pattern from a hostile `.cachet.yaml` costs at most patterns × segments fnmatch calls.
package struct PathPattern: Sendable, CustomStringConvertible {
    package let description: String
    private let segments: [Substring]

    package init(_ text: String) throws(ManifestError) {
        description = text
        var body = Substring(text)
        guard !body.isEmpty else { throw ManifestError("an empty path pattern matches nothing") }
        if body.hasPrefix("/") { body = body.dropFirst() }  // anchored: every pattern is relative to .cachet.yaml
        else if !body.dropLast(body.hasSuffix("/") ? 1 : 0).contains("/") { body = "**/" + body }
        while body.hasSuffix("/") { body = body.dropLast() }
        let segments = body.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: \.isEmpty) else { throw ManifestError("the path pattern \"\(text)\" has an empty segment (//)") }
        guard !segments.contains(where: { $0 == "." || $0 == ".." }) else {
            throw ManifestError("the path pattern \"\(text)\" has a . or .. segment; write it relative to .cachet.yaml")
        }
        if let bad = segments.first(where: { $0.contains("**") && $0 != "**" }) {
            throw ManifestError("the path pattern \"\(text)\": ** must be a whole segment (\(bad) is not)")
        }
        guard segments.count <= 64, text.utf8.count <= 4096 else { throw ManifestError("the path pattern \"\(text.prefix(60))…\" is too long") }
        self.segments = segments
    }

    /// Whether `path` (relative, `/`-separated) or one of the directories leading to it matches.
    package func matches(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard !parts.isEmpty, parts.count <= 4096 else { return false }
        // reachable[i][j]: pattern segments[..<i] match path parts[..<j].
        let width = parts.count + 1
        var reachable = [Bool](repeating: false, count: (segments.count + 1) * width)
        reachable[0] = true
        for i in 0..<segments.count {
            let segment = segments[i]
            for j in 0...parts.count where reachable[i * width + j] {
                if segment == "**" {
                    for k in j...parts.count { reachable[(i + 1) * width + k] = true }
                    break  // every later j is covered by this one
                }
                if j < parts.count, Self.segmentMatches(segment, parts[j]) { reachable[(i + 1) * width + j + 1] = true }
            }
        }
        // The whole path, or a directory that holds it.
        return (1...parts.count).contains { reachable[segments.count * width + $0] }
    }

    private static func segmentMatches(_ pattern: Substring, _ name: Substring) -> Bool {
        if !pattern.contains(where: { "*?[\\".contains($0) }) { return pattern == name }
        return fnmatch(String(pattern), String(name), 0) == 0
    }
}
