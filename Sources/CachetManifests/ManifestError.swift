import CachetCrypto

/// A problem in a manifest, located precisely and described without quoting any value.
///
/// Rendered compiler-style, so editors can jump to it: `secret.yaml:7:9: document 2: stringData.flag: …`.
/// Messages name keys and paths (item names are public in a SealedSecret) but never the text of a value.
package struct ManifestError: Error, Sendable, CustomStringConvertible {
    /// The file, or `<stdin>`; set by whoever knows it.
    package var file: String?
    /// 1-based document index in the stream.
    package var document: Int?
    /// Where in the document, when known.
    package var mark: SourceMark?
    /// The key path, such as `stringData.password`.
    package var path: String?
    package let message: String

    package init(_ message: String, at mark: SourceMark? = nil, path: String? = nil, document: Int? = nil) {
        self.message = message
        self.mark = mark
        self.path = path
        self.document = document
    }

    package var description: String {
        var location = file ?? "<input>"
        // Line 0 is no line: a tree built from an API object has no source (``Node/init(_:)``).
        if let mark, mark.line > 0 { location += ":\(mark.line):\(mark.column)" }
        var parts = [location]
        if let document { parts.append("document \(document)") }
        // A path through deeply nested input is all "[0][0]…"; its beginning says enough.
        if let path { parts.append(path.count > 60 ? String(path.prefix(60)) + "…" : path) }
        // File names, keys and names in the message come from the input: a newline or a terminal escape in one must
        // not split the line, forge another, or reach the terminal; and a huge one must not make a huge line.
        let line = (parts + [message]).joined(separator: ": ")
        return (line.count > 1000 ? String(line.prefix(1000)) + "…" : line).escapingControlCharacters()
    }

    /// The same error, with the file filled in.
    package func inFile(_ file: String) -> ManifestError {
        var copy = self
        copy.file = file
        return copy
    }

    func inDocument(_ index: Int) -> ManifestError {
        var copy = self
        if copy.document == nil { copy.document = index }
        return copy
    }
}

/// Runs `body`, naming `file` in any ``ManifestError`` it throws (the models know lines, not file names).
package func inFile<Result>(_ file: String, _ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as ManifestError {
        throw error.inFile(file)
    }
}

/// Bounds on what the readers accept, enforced while parsing (never after building a huge tree).
package struct ParseLimits: Sendable {
    /// Total input size.
    package var maxBytes: Int
    /// Nesting of lists and mappings. Kubernetes objects need about 10; libyaml 0.2.5 has no limit of its own and
    /// is quadratic on deep flow nesting, so this is checked on every event.
    package var maxDepth: Int
    /// One scalar. A Secret is at most 1 MiB, so no value in a manifest needs more than its base64.
    package var maxScalarBytes: Int
    /// Documents in one stream.
    package var maxDocuments: Int
    /// Keep duplicate keys instead of refusing them. For streams whose other documents are passed through untouched
    /// (render mode): a duplicate in someone's Deployment is not ours to judge. The Secret and SealedSecret models
    /// refuse duplicates themselves, whatever the reader did.
    package var allowDuplicateKeys: Bool

    package init(
        maxBytes: Int = 64 << 20, maxDepth: Int = 64, maxScalarBytes: Int = 2 << 20, maxDocuments: Int = 100_000,
        allowDuplicateKeys: Bool = false
    ) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxScalarBytes = maxScalarBytes
        self.maxDocuments = maxDocuments
        self.allowDuplicateKeys = allowDuplicateKeys
    }

    package static let `default` = ParseLimits()
}
