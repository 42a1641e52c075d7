import Foundation

/// Runs the built `cachet` executable, as a user would.
struct CachetProcess {
    struct Result {
        let status: Int32
        let output: Data
        let error: String
        var outputText: String { String(decoding: output, as: UTF8.self) }
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let cryptoFixtures = repositoryRoot.appendingPathComponent("Tests/CachetCryptoTests/Fixtures")

    /// `cachet` sits beside the test bundle in the build folder.
    static let executable: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cachet")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return repositoryRoot.appendingPathComponent(".build/debug/cachet")
    }()

    static func run(_ arguments: [String], stdin: Data = Data(), in directory: URL? = nil,
                    environment: [String: String]? = nil, executable: URL = executable) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Feed stdin from another thread so a large input cannot deadlock against a full output pipe.
        let writer = Thread {
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let errorReader = ErrorReader(error.fileHandleForReading)
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: outputData, error: errorReader.finish())
    }

    /// Reads stderr concurrently with stdout.
    private final class ErrorReader: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        init(_ handle: FileHandle) {
            Thread {
                self.data = handle.readDataToEndOfFile()
                self.done.signal()
            }.start()
        }
        func finish() -> String {
            done.wait()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// A fresh temporary directory, removed when the test ends.
final class TemporaryDirectory: Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A 2048-bit key pair made by `cachet keys generate` in its own temporary directory.
struct GeneratedKeys {
    let directory: TemporaryDirectory
    var keyDirectory: String { directory.path("keys") }
    var certificate: String { directory.path("keys/tls.crt") }
    var privateKey: String { directory.path("keys/tls.key") }

    init() throws {
        directory = try TemporaryDirectory()
        let result = try CachetProcess.run(["keys", "generate", "--out", directory.path("keys"), "--rsa-bits", "2048"])
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
    }
}
