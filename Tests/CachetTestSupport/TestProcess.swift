import Foundation

/// What a finished process left: its exit status, everything it wrote to stdout, and its stderr as text.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let output: Data
    public let error: String

    public var outputText: String { String(decoding: output, as: UTF8.self) }
}

/// Runs programs to their end, as a user would: the one process runner of every test target.
public enum TestProcess {
    /// The child's environment.
    public enum Environment: Sendable {
        /// The test process's own, with these added or replaced.
        case inherited(adding: [String: String])
        /// Exactly these variables and no others.
        case exactly([String: String])

        public static let inherited = Environment.inherited(adding: [:])
    }

    /// Runs `executable` with `arguments`, feeding it `stdin`, and returns when it has exited. stdin is written and
    /// stderr read on threads of their own, so that a large input or a chatty stderr cannot deadlock against a full
    /// stdout pipe.
    public static func run(
        _ executable: URL, _ arguments: [String], stdin: Data = Data(), environment: Environment = .inherited,
        directory: URL? = nil
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        switch environment {
        case .inherited(let adding): process.environment = ProcessInfo.processInfo.environment.merging(adding) { $1 }
        case .exactly(let variables): process.environment = variables
        }
        if let directory { process.currentDirectoryURL = directory }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        Thread {
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }.start()
        let errorText = Collected()
        Thread {
            errorText.finish(error.fileHandleForReading.readDataToEndOfFile())
        }.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, output: outputData,
                             error: String(decoding: errorText.wait(), as: UTF8.self))
    }

    /// ``run(_:_:stdin:environment:directory:)`` on a thread of its own, for async tests: waiting for a process on the
    /// cooperative pool (two threads on a two-core machine) can starve the in-process servers the process talks to.
    public static func runOffPool(
        _ executable: URL, _ arguments: [String], stdin: Data = Data(), environment: Environment = .inherited,
        directory: URL? = nil
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    try run(executable, arguments, stdin: stdin, environment: environment, directory: directory)
                })
            }.start()
        }
    }

    /// Runs a program found on PATH (`python3`, `openssl`), as `env` finds it.
    public static func run(
        program: String, _ arguments: [String], stdin: Data = Data(), environment: Environment = .inherited,
        directory: URL? = nil
    ) throws -> ProcessResult {
        try run(URL(fileURLWithPath: "/usr/bin/env"), [program] + arguments, stdin: stdin, environment: environment,
                directory: directory)
    }

    /// Bytes one thread collects and another waits for.
    private final class Collected: @unchecked Sendable {  // `data` is written once, before `done` is signalled
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        func finish(_ data: Data) {
            self.data = data
            done.signal()
        }

        func wait() -> Data {
            done.wait()
            return data
        }
    }
}
