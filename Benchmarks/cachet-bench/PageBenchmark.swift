import CachetController
import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTransport
import Foundation
import Logging

/// `cachet-bench page`: the sealing page's speed in a real headless chromium (Debian's, through chromedriver): how long
/// the page takes to load and be ready to seal (certificate fetched and imported), and values sealed a second by its
/// Web Crypto code (the page's own `sealValue`, RSA-4096 OAEP + AES-256-GCM), beside the same work in this process with
/// OpenSSL. Values are 64 bytes; the RSA public-key operation is the cost.
enum PageBenchmark {
    static func run(_ arguments: [String]) async throws {
        var values = 500
        var keyPath = "keys.example/tls.key", certificatePath = "keys.example/tls.crt"
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--values": values = iterator.next().flatMap(Int.init) ?? values
            case "--key": keyPath = iterator.next() ?? keyPath
            case "--cert": certificatePath = iterator.next() ?? certificatePath
            default:
                FileHandle.standardError.write(Data("usage: cachet-bench page [--values N] [--key PEM] [--cert PEM]\n".utf8))
                exit(64)
            }
        }
        guard let chromedriver = ["/usr/bin/chromedriver"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("page: chromium-driver is not installed (scripts/bootstrap installs it); skipped")
            return
        }
        let key = try RSAPrivateKey(pem: try SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let certificatePEM = try String(contentsOf: URL(fileURLWithPath: certificatePath), encoding: .utf8)

        let running = try await ControllerBenchmark.startController(key: key, certificatePEM: certificatePEM, workers: 2)

        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: chromedriver)
        driver.arguments = ["--port=9517"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        defer {
            _ = try? call("GET", "http://127.0.0.1:9517/shutdown")
            if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
        }
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? call("GET", "http://127.0.0.1:9517/status"))?["value"]?["ready"] == .bool(true)
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        let options = ManifestValue.object([("args", .array(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"].map { .string($0) }))])
        let session = try call("POST", "http://127.0.0.1:9517/session", .object([("capabilities", .object([("alwaysMatch", .object([
            ("browserName", .string("chrome")), ("goog:chromeOptions", options)]))]))]))["value"]?["sessionId"]?.stringValue ?? ""
        let base = "http://127.0.0.1:9517/session/\(session)"
        defer { _ = try? call("DELETE", base) }

        // Load to ready: navigation, the certificate fetched, parsed and imported (the Seal button enabled).
        let loadStart = ContinuousClock.now
        _ = try call("POST", base + "/url", .object([("url", .string(running.apiURL + "/"))]))
        var enabled = false
        while !enabled {
            enabled = try call("POST", base + "/execute/sync", .object([("script", .string("return !document.getElementById('seal').disabled")), ("args", .array([]))]))["value"] == .bool(true)
        }
        let load = (ContinuousClock.now - loadStart).seconds

        let script = """
            const done = arguments[arguments.length - 1];
            (async () => {
              const label = new TextEncoder().encode('bench/app');
              const value = new Uint8Array(64);
              await sealValue(label, value);
              const start = performance.now();
              for (let index = 0; index < \(values); index++) await sealValue(label, value);
              done(performance.now() - start);
            })().catch((error) => done('error: ' + error.message));
            """
        let answer = try call("POST", base + "/execute/async", .object([("script", .string(script)), ("args", .array([]))]))["value"]
        guard case .number(let text) = answer, let milliseconds = Double(text) else {
            print("page: the page's sealing failed: \(String(describing: answer))")
            exit(1)
        }

        // The same work with OpenSSL in this process, one core.
        let sealer = Sealer(sealingKey: try SealingKey(pem: Array(certificatePEM.utf8)))
        let secret = SecretManifest(metadata: ObjectMeta(name: "app", namespace: "bench"),
                                    items: ["v": try SecureBytes(copying: [UInt8](repeating: 0, count: 64))], type: nil, immutable: nil)
        let nativeStart = ContinuousClock.now
        for _ in 0..<values { _ = try sealer.seal(secret) }
        let native = (ContinuousClock.now - nativeStart).seconds

        await running.stop()
        print(String(format: "page: loaded and ready to seal in %.0f ms (page, script, style, certificate)", load * 1000))
        print(String(format: "page: %d values (64 bytes, RSA-%d) sealed in the browser in %.0f ms: %.0f values/s (%.2f ms each)",
                     values, key.bits, milliseconds, Double(values) / milliseconds * 1000, milliseconds / Double(values)))
        print(String(format: "cachet seal's code in this process (OpenSSL, one core): %.0f values/s; the browser is %.2f× that",
                     Double(values) / native, (Double(values) / milliseconds * 1000) / (Double(values) / native)))
    }

    private static func call(_ method: String, _ url: String, _ body: ManifestValue? = nil) throws -> ManifestValue {
        let response = try BlockingHTTP.send(BlockingHTTP.Request(method: method, url: url, headers: [("Content-Type", "application/json")],
                                                                  body: method == "GET" ? nil : (body ?? .object([])).jsonBytes),
                                             timeoutSeconds: 120)
        return try ManifestValue(json: response.body)
    }
}
