import Foundation

/// Where things are, for every test target: the checkout, its fixtures, the shared vectors beside it, the built
/// executables and the peers on the machine.
public enum Repository {
    /// The root of the checkout (this file is Tests/CachetTestSupport/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The crypto fixtures (RSA test keys, their certificates, the known-answer vectors).
    public static let cryptoFixtures = root.appendingPathComponent("Tests/CachetCryptoTests/Fixtures")

    /// `../shared/testdata` beside the checkout (CI puts it there), or `CACHET_TESTDATA`; nil when absent, and the
    /// tests that need it say so and skip.
    public static let sharedTestdata: URL? = {
        let candidate = ProcessInfo.processInfo.environment["CACHET_TESTDATA"].map { URL(fileURLWithPath: $0) }
            ?? root.deletingLastPathComponent().appendingPathComponent("shared/testdata")
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }()

    /// A product of this package (`cachet`, `cachet-controller`, `cachet-dev-cluster`, `cachet-fuzz`): beside the test
    /// bundle in the build folder, else in `.build/debug`.
    public static func executable(_ name: String) -> URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return root.appendingPathComponent(".build/debug/" + name)
    }

    /// The real kubectl (with kustomize built in), if the machine has one; scripts/bootstrap installs it.
    public static let kubectl: URL? = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }.map { URL(fileURLWithPath: $0) }
}
