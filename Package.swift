// swift-tools-version:6.0
import PackageDescription

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
    ],
    targets: [
        // System libraries: the only modules that import C. Each says where its library comes from.
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

        // The crypto core: bytes in, bytes out. No YAML, Kubernetes, files or network.
        .target(
            name: "CachetCrypto",
            dependencies: ["COpenSSL", "CSodium"]
        ),

        // Documents (YAML on libyaml, JSON), the Secret and SealedSecret models, sealing and unsealing manifests,
        // key rings loaded from files and Secret backups.
        .target(
            name: "CachetManifests",
            dependencies: ["CachetCrypto", "CYAML"]
        ),

        // Where the Kubernetes API is and how to talk to it (kubeconfig, in-cluster config), its errors and resource
        // types: shared by the client below and by the CLI, with no networking of its own.
        .target(
            name: "CachetKubeConfig",
            dependencies: ["CachetManifests", "CachetCrypto"]
        ),

        // Blocking HTTP/1.1 over TCP or TLS (OpenSSL's libssl): the CLI's few requests (a certificate URL, the
        // controller through the API server's service proxy) without SwiftNIO's start-up cost.
        .target(
            name: "CachetTransport",
            dependencies: ["COpenSSL", "CachetCrypto", "CachetKubeConfig"]
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

        // A strict stand-in for kube-apiserver (none can be installed here): tests, and the one-machine demo.
        .target(
            name: "CachetDevCluster",
            dependencies: [
                "CachetManifests",
                "CachetCrypto",
                "CachetKube",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The decrypting side: render mode now; the in-cluster reconciler, keys, HTTP API and metrics later.
        .target(
            name: "CachetController",
            dependencies: [
                "CachetCrypto",
                "CachetManifests",
                "CachetKube",
                "CachetDevCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "cachet-controller",
            dependencies: ["CachetController"]
        ),

        // The commands behind `cachet`, one per file.
        .target(
            name: "CachetCLI",
            dependencies: [
                "CachetCrypto",
                "CachetManifests",
                "CachetTransport",
                "CachetKubeConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "cachet",
            dependencies: ["CachetCLI"]
        ),

        // `swift run -c release cachet-bench`: the crypto core's speed against bare OpenSSL.
        .executableTarget(
            name: "cachet-bench",
            dependencies: [
                "CachetCrypto", "CachetManifests", "CachetController", "CachetDevCluster", "CachetKube", "CachetTransport",
                .product(name: "Logging", package: "swift-log"),
                "CYAML",  // the bare libyaml baseline
            ],
            path: "Benchmarks/cachet-bench"
        ),
        // Fuzz targets for every parser untrusted bytes reach: libFuzzer's under scripts/fuzz, a corpus replayer otherwise.
        .executableTarget(
            name: "cachet-fuzz",
            dependencies: ["CachetCrypto", "CachetManifests", "CachetTransport"],
            path: "Fuzz/cachet-fuzz"
        ),
        // The baseline for `cachet seal`'s start-up time: an argument-parser CLI that does nothing.
        .executableTarget(
            name: "trivial-cli",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/trivial-cli"
        ),


        // What several test targets need (loopback sockets for hand-played servers and clients).
        .target(
            name: "CachetTestSupport",
            path: "Tests/CachetTestSupport"
        ),
        .testTarget(
            name: "CachetCryptoTests",
            dependencies: ["CachetCrypto"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "CachetManifestsTests",
            dependencies: ["CachetManifests", "CachetCrypto"],
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
            dependencies: ["CachetCLI", "CachetManifests", "CachetCrypto", "CachetDevCluster", "CachetTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
