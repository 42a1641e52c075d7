import Foundation

/// A fresh temporary directory, removed with everything in it when the last reference goes.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside it (which need not exist).
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` to `name` (making the folders it names), with `mode`; returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path]) }
        return file.path
    }
}

/// A temporary file (mode 0600 unless told), removed when the last reference goes.
public final class TemporaryFile: Sendable {
    public let path: String
    private let directory: TemporaryDirectory

    public init(_ contents: String, name: String = "file", mode: Int = 0o600) throws {
        directory = try TemporaryDirectory()
        path = try directory.write(name, contents, mode: mode)
    }
}
