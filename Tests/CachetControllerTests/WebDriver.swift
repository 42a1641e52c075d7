import CachetManifests
import CachetTestSupport
import CachetTransport
import Foundation

/// A real headless browser (Debian's chromium), driven through chromedriver's W3C WebDriver protocol with the CLI's
/// own HTTP client: no WebDriver library needed. Every call blocks; tests call it off the cooperative pool.
final class WebDriver: @unchecked Sendable {
    static let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { chromedriver != nil && chromium != nil }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let driver: Process
    private let base: String
    private let session: String

    /// Starts chromedriver on a free port and a headless browser session that records its network log.
    init(downloads: URL? = nil) throws {
        guard let chromedriver = Self.chromedriver, let chromium = Self.chromium else {
            throw Failure(description: "chromium and chromium-driver are not installed (scripts/bootstrap installs them)")
        }
        guard let port = LoopbackSockets.freePort() else { throw Failure(description: "no free port") }
        driver = Process()
        driver.executableURL = URL(fileURLWithPath: chromedriver)
        driver.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        base = "http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(20)
        while (try? Self.call("GET", base + "/status"))?["value"]?["ready"] != .bool(true) {
            guard Date() < deadline else {
                Self.stop(driver, base: base)
                throw Failure(description: "chromedriver did not start")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        var preferences: [(String, ManifestValue)] = []
        if let downloads { preferences.append(("download.default_directory", .string(downloads.path))) }
        let options = ManifestValue.object([
            ("binary", .string(chromium)),
            // Root in CI: chromium's sandbox needs user namespaces it may not have.
            ("args", .array(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1300",
                             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"].map { .string($0) })),
            ("prefs", .object(preferences)),
        ])
        let capabilities = ManifestValue.object([("capabilities", .object([("alwaysMatch", .object([
            ("browserName", .string("chrome")), ("goog:chromeOptions", options),
            ("goog:loggingPrefs", .object([("performance", .string("ALL")), ("browser", .string("ALL"))])),
        ]))]))])
        do {
            let created = try Self.call("POST", base + "/session", body: capabilities)
            guard let id = created["value"]?["sessionId"]?.stringValue else { throw Failure(description: "no session: \(created)") }
            session = id
        } catch {
            Self.stop(driver, base: base)
            throw error
        }
    }

    func quit() {
        _ = try? Self.call("DELETE", "\(base)/session/\(session)")
        Self.stop(driver, base: base)
    }

    /// chromedriver's own shutdown, then SIGKILL: it inherits the test process's blocked signals, so SIGTERM is not
    /// enough.
    private static func stop(_ driver: Process, base: String) {
        _ = try? BlockingHTTP.send(BlockingHTTP.Request(method: "GET", url: base + "/shutdown", headers: [], body: nil), timeoutSeconds: 5)
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
        driver.waitUntilExit()
    }

    // MARK: Commands

    func open(_ url: String) throws {
        _ = try command("POST", "url", ["url": .string(url)])
    }

    /// The first element matching a CSS selector.
    func element(_ selector: String) throws -> String {
        // The W3C WebDriver element identifier.
        let found = try command("POST", "element", ["using": .string("css selector"), "value": .string(selector)])
        guard let id = found["element-6066-11e4-a52e-4f735466cecf"]?.stringValue else { throw Failure(description: "no element \(selector)") }
        return id
    }

    func elements(_ selector: String) throws -> [String] {
        let found = try command("POST", "elements", ["using": .string("css selector"), "value": .string(selector)])
        return (found.arrayValue ?? []).compactMap { $0["element-6066-11e4-a52e-4f735466cecf"]?.stringValue }
    }

    /// Types `text` into an element (for a file input: the path of the file to choose).
    func type(_ text: String, into element: String) throws {
        _ = try command("POST", "element/\(element)/value", ["text": .string(text)])
    }

    func clear(_ element: String) throws {
        _ = try command("POST", "element/\(element)/clear", [:])
    }

    func click(_ element: String) throws {
        _ = try command("POST", "element/\(element)/click", [:])
    }

    func text(of element: String) throws -> String {
        try command("GET", "element/\(element)/text").stringValue ?? ""
    }

    func property(_ name: String, of element: String) throws -> ManifestValue {
        try command("GET", "element/\(element)/property/\(name)")
    }

    /// Runs `script` (a function body; `arguments[0]`… are `arguments`) in the page and returns its value.
    func execute(_ script: String, _ arguments: [ManifestValue] = []) throws -> ManifestValue {
        try command("POST", "execute/sync", ["script": .string(script), "args": .array(arguments)])
    }

    /// Runs `script` as an async function body: it ends by calling `arguments[arguments.length - 1]` with its value.
    func executeAsync(_ script: String, _ arguments: [ManifestValue] = []) throws -> ManifestValue {
        try command("POST", "execute/async", ["script": .string(script), "args": .array(arguments)])
    }

    /// The console's errors since the last call (a Content-Security-Policy violation is one).
    func consoleErrors() throws -> [String] {
        let entries = try command("POST", "se/log", ["type": .string("browser")]).arrayValue ?? []
        return entries.filter { $0["level"]?.stringValue == "SEVERE" }.compactMap { $0["message"]?.stringValue }
    }

    /// A PNG of the window.
    func screenshot() throws -> Data {
        guard let text = try command("GET", "screenshot").stringValue, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        return data
    }

    /// Every URL the browser requested since the last call (chromium's performance log: `Network.requestWillBeSent`).
    func requestedURLs() throws -> [String] {
        let entries = try command("POST", "se/log", ["type": .string("performance")]).arrayValue ?? []
        return entries.compactMap { entry -> String? in
            guard let text = entry["message"]?.stringValue, let message = try? ManifestValue(json: Array(text.utf8)),
                  message["message"]?["method"]?.stringValue == "Network.requestWillBeSent" else { return nil }
            return message["message"]?["params"]?["request"]?["url"]?.stringValue
        }
    }

    /// Waits until `condition` holds (the page works asynchronously), for up to `seconds`.
    func wait(_ what: String, seconds: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw Failure(description: "timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func command(_ method: String, _ path: String, _ body: [String: ManifestValue]? = nil) throws -> ManifestValue {
        let answer = try Self.call(method, "\(base)/session/\(session)/\(path)",
                                   body: body.map { .object($0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) })
        return answer["value"] ?? .null
    }

    private static func call(_ method: String, _ url: String, body: ManifestValue? = nil) throws -> ManifestValue {
        let response = try BlockingHTTP.send(BlockingHTTP.Request(method: method, url: url, headers: [("Content-Type", "application/json")],
                                                                  body: method == "GET" ? nil : (body ?? .object([])).jsonBytes),
                                             timeoutSeconds: 60)
        let value = try ManifestValue(json: response.body)
        guard response.status == 200 else {
            throw Failure(description: "WebDriver \(method) \(url): HTTP \(response.status): \(value["value"]?["message"]?.stringValue ?? "")")
        }
        return value
    }
}
