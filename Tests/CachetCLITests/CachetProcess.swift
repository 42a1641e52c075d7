import CachetTestSupport
import Foundation

/// Runs the built `cachet` executable, as a user would.
enum CachetProcess {
    static let executable = Repository.executable("cachet")

    /// `environment`, when given, is all the process gets.
    static func run(_ arguments: [String], stdin: Data = Data(), in directory: URL? = nil,
                    environment: [String: String]? = nil, executable: URL = executable) throws -> ProcessResult {
        try TestProcess.run(executable, arguments, stdin: stdin, environment: environment.map { .exactly($0) } ?? .inherited,
                            directory: directory)
    }
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
