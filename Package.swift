// swift-tools-version:6.2
import PackageDescription

// Layers point one way, top to bottom in this file: C modules, Kubernetes syntax, the crypto core, manifests, the
// Kubernetes client's vocabulary and transports, then the CLI and the controller, then thin executables. The
// products are the two binaries and the crypto core; everything else is `package` (not API), and the development API
// server is linked only by tests, benchmarks and the demo scripts. README.md ("Code layout") draws the graph.
let package = Package(
    name: "cachet",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cachet", targets: ["cachet"]),
        .executable(name: "cachet-controller", targets: ["cachet-controller"]),
        .library(name: "CachetCrypto", targets: ["CachetCrypto"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // Runs kubeconfig exec credential plugins. Its default trait would link Foundation for `Data` outputs we do
        // not use.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // System libraries: the only modules that import C, and only `internal import`ed (no product re-exports them).
        // Each says where its library comes from.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // Tests only: the C2SP age test kit (../shared/testdata/cctv-age) stores its large vectors zlib-compressed.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // Kubernetes' syntax rules (names, namespaces, item keys, labels, label selectors): one home, no dependencies,
        // so that every module below the API client can check what the API server would accept.
        .target(name: "CachetKubeSyntax"),

        // The crypto core: bytes in, bytes out. No YAML, files or network; of Kubernetes, only the name rules a
        // scope must obey (a `/` in a namespace would make a v1 scope label ambiguous). The one library product: its
        // `public` symbols are the API a third party embedding it needs, each documented.
        .target(
            name: "CachetCrypto",
            dependencies: ["COpenSSL", "CSodium", "CachetKubeSyntax"]
        ),

        // Documents (YAML on libyaml, JSON), the Secret and SealedSecret models, sealing and unsealing manifests,
        // key rings loaded from files and Secret backups.
        .target(
            name: "CachetManifests",
            dependencies: ["CachetCrypto", "CachetKubeSyntax", "CYAML"]
        ),

        // Where the Kubernetes API is and how to talk to it (kubeconfig, in-cluster config), its errors and resource
        // types: shared by the client below and by the CLI, with no networking of its own.
        .target(
            name: "CachetKubeConfig",
            dependencies: ["CachetManifests", "CachetCrypto", 
                           .product(name: "Subprocess", package: "swift-subprocess"), .product(name: "SystemPackage", package: "swift-system")]
        ),

        // Blocking HTTP/1.1 over TCP or TLS (OpenSSL's libssl): the CLI's few requests (a certificate URL, the
        // controller through the API server's service proxy) without SwiftNIO's start-up cost.
        .target(
            name: "CachetTransport",
            dependencies: ["COpenSSL", "CachetCrypto"]
        ),

        // A minimal Kubernetes API client: typed CRUD, watch, status, proxy (async-http-client). Knows nothing of
        // sealing.
        .target(
            name: "CachetKube",
            dependencies: [
                "CachetKubeConfig",
                "CachetManifests",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // How every executable runs its command and reports failures (`x: error:` / `x: hint:`, exit 64 for usage).
        .target(
            name: "CachetProgram",
            dependencies: [
                "CachetCrypto", "CachetManifests", "CachetKubeConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // A strict stand-in for kube-apiserver (none can be installed here), and the `cachet-dev-cluster` command:
        // tests, benchmarks and the demo scripts only. The product binaries never link it.
        .target(
            name: "CachetDevCluster",
            dependencies: [
                "CachetManifests",
                "CachetCrypto",
                "CachetKubeConfig",
                "CachetKubeSyntax",
                "CachetProgram",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The decrypting side: the in-cluster reconciler, key manager, HTTP API and metrics (`run`), and render mode.
        .target(
            name: "CachetController",
            dependencies: [
                "CachetCrypto",
                "CachetManifests",
                "CachetKube",
                "CachetKubeSyntax",
                "CachetProgram",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            // The sealing page (`GET /`): compiled into the binary, so the controller serves it with no files to ship.
            resources: [.embedInCode("WebUI/index.html"), .embedInCode("WebUI/sealing.js"), .embedInCode("WebUI/sealing.css")]
        ),
        // The three executables are thin: `main.swift` calls their library's entry point and nothing else.
        .executableTarget(
            name: "cachet-controller",
            dependencies: ["CachetController"]
        ),
        .executableTarget(
            name: "cachet-dev-cluster",
            dependencies: ["CachetDevCluster"]
        ),

        // The commands behind `cachet`, one per file.
        .target(
            name: "CachetCLI",
            dependencies: [
                "CachetCrypto",
                "CachetManifests",
                "CachetTransport",
                "CachetKubeConfig",
                "CachetProgram",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `cachet check` runs kubectl and git.
                .product(name: "Subprocess", package: "swift-subprocess"), .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "cachet",
            dependencies: ["CachetCLI"]
        ),

        // `swift run -c release cachet-bench`: every capability's speed, against bare OpenSSL and bare libyaml.
        .executableTarget(
            name: "cachet-bench",
            dependencies: [
                "CachetCrypto", "CachetManifests", "CachetController", "CachetDevCluster", "CachetKube", "CachetKubeConfig", "CachetTransport",
                .product(name: "Logging", package: "swift-log"),
                "COpenSSL",  // the bare RSA-OAEP baseline
                "CYAML",  // the bare libyaml baseline
            ],
            path: "Benchmarks/cachet-bench"
        ),
        // Fuzz targets for every parser untrusted bytes reach: libFuzzer's under scripts/fuzz, a corpus replayer otherwise.
        .executableTarget(
            name: "cachet-fuzz",
            dependencies: ["CachetCrypto", "CachetKubeConfig", "CachetKubeSyntax", "CachetManifests", "CachetTransport"],
            path: "Fuzz/cachet-fuzz"
        ),
        // A reference point reported beside `cachet seal`'s start-up time (no target): an argument-parser CLI that
        // does nothing.
        .executableTarget(
            name: "trivial-cli",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/trivial-cli"
        ),


        // What every test target shares: where things are (the checkout, fixtures, shared vectors, built executables,
        // kubectl), the fixture keys, temporary files, the one process runner, loopback sockets, scoped clean-ups.
        .target(
            name: "CachetTestSupport",
            dependencies: ["CachetCrypto"],
            path: "Tests/CachetTestSupport"
        ),
        .testTarget(
            name: "CachetKubeSyntaxTests",
            dependencies: ["CachetKubeSyntax"]
        ),
        .testTarget(
            name: "CachetCryptoTests",
            dependencies: ["CachetCrypto", "CachetTestSupport", "CZlib"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "CachetManifestsTests",
            dependencies: ["CachetManifests", "CachetCrypto", "CachetTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "CachetKubeTests",
            dependencies: ["CachetKube", "CachetDevCluster", "CachetManifests", "CachetCrypto", "CachetTransport", "CachetTestSupport"]
        ),
        .testTarget(
            name: "CachetControllerTests",
            dependencies: [
                "CachetController", "CachetManifests", "CachetCrypto", "CachetDevCluster", "CachetKube", "CachetTransport", "CachetTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CachetCLITests",
            // They run the built `cachet` (and `cachet-fuzz`), as a user would: no library of the CLI is linked.
            dependencies: ["CachetDevCluster", "CachetTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Warnings are errors in the project's own code, tests and tools included (the dependencies' warnings are theirs): a
// warning left standing hides the next one, and one of them was a real bug (a `where` binding only the last pattern).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}
