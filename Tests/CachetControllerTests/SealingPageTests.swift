import CachetCrypto
import CachetManifests
import CachetTestSupport
import Foundation
import Synchronization
import Testing
@testable import CachetController

/// The sealing page (`GET /`): served with a strict policy, and proven in a real headless browser (chromium through
/// chromedriver) to seal values that `cachet unseal --key` and the controller open, for every scope, for a binary file
/// and unicode text, while the browser asks the server for nothing but the certificate.
@Suite struct SealingPageTests {
    @Test("GET / serves the page with a strict Content-Security-Policy, no cookies, only GET; --web-ui=false turns it off")
    func served() async throws {
        try await ControllerHarness.with { harness in
            for (path, type) in [("/", "text/html"), ("/sealing.js", "text/javascript"), ("/sealing.css", "text/css")] {
                let response = try await harness.request(harness.apiURL + path)
                #expect(response.status == 200, "\(path)")
                #expect(response.header("Content-Type")?.hasPrefix(type) == true, "\(path)")
                let policy = response.header("Content-Security-Policy") ?? ""
                #expect(policy == "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; worker-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'", "\(path): \(policy)")
                #expect(response.header("X-Content-Type-Options") == "nosniff")
                #expect(response.header("Cache-Control") == "no-store")
                #expect(response.header("Referrer-Policy") == "no-referrer")
                #expect(response.header("X-Frame-Options") == "DENY")
                #expect(response.header("Cross-Origin-Opener-Policy") == "same-origin")
                #expect(response.header("Cross-Origin-Resource-Policy") == "same-origin")
                #expect(response.header("Set-Cookie") == nil)
            }
            let page = String(decoding: try await harness.request(harness.apiURL + "/").body, as: UTF8.self)
            // No inline script or style and nothing from elsewhere: every src and href is relative to this server.
            #expect(!page.contains("<script>") && !page.contains("style=") && !page.contains("http://") && !page.contains("https://"))
            #expect(page.contains("never sent anywhere"))
            let posted = try await harness.request(harness.apiURL + "/", method: "POST", body: Array("x".utf8))
            #expect(posted.status == 405)
            #expect(try await harness.request(harness.apiURL + "/other.js").status == 404)
        }
        try await ControllerHarness.with(configure: { $0.webUI = false }) { harness in
            for path in ["/", "/index.html", "/sealing.js", "/sealing.css"] {
                let response = try await harness.request(harness.apiURL + path)
                #expect(response.status == 404, "\(path)")
            }
            let certificate = try await harness.request(harness.apiURL + "/v1/cert.pem")
            #expect(certificate.status == 200)
        }
    }

    /// Runs `body` with a browser, on a thread of its own (every WebDriver call blocks).
    static func withBrowser(_ body: @escaping @Sendable (WebDriver) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread {
                continuation.resume(with: Result {
                    let browser = try WebDriver()
                    defer { browser.quit() }
                    try body(browser)
                })
            }.start()
        }
    }

    /// Fills the form and seals; returns the output, or throws with the error the page shows.
    static func seal(in browser: WebDriver, namespace: String, name: String, scope: String, items: [(key: String, text: String?, file: URL?)],
                     raw: Bool = false) throws -> (output: String, error: String) {
        try browser.wait("the certificate") { try browser.property("disabled", of: browser.element("#seal")) == .bool(false) }
        try browser.type(namespace, into: browser.element("#namespace"))
        try browser.type(name, into: browser.element("#name"))
        try browser.click(browser.element("#scope option[value=\"\(scope)\"]"))
        for (index, item) in items.enumerated() {
            if index > 0 { try browser.click(browser.element("#add-item")) }
            let row = "#items .item:nth-child(\(index + 1))"
            try browser.type(item.key, into: browser.element("\(row) .item-key"))
            if let text = item.text { try browser.type(text, into: browser.element("\(row) .item-text")) }
            if let file = item.file { try browser.type(file.path, into: browser.element("\(row) .item-file")) }
        }
        if raw { try browser.click(browser.element("#kind-raw")) }
        try browser.click(browser.element("#seal"))
        var output = "", error = ""
        try browser.wait("the sealed output or an error") {
            output = try browser.property("value", of: browser.element("#output")).stringValue ?? ""
            error = try browser.property("hidden", of: browser.element("#error")) == .bool(false) ? browser.text(of: browser.element("#error")) : ""
            return !output.isEmpty || !error.isEmpty
        }
        return (output, error)
    }

    @Test("sealed in the browser, opened by cachet unseal and by the controller: three scopes, a binary file, unicode text; only the certificate is fetched",
          .enabled(if: WebDriver.available, "chromium and chromium-driver are not installed (scripts/bootstrap installs them)"),
          .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func sealsInTheBrowser() async throws {
        try await ControllerHarness.with { harness in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-web-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let kubeconfig = directory.appendingPathComponent("kubeconfig")
            try harness.cluster.kubeconfig().write(to: kubeconfig, atomically: true, encoding: .utf8)
            // Every byte value, and text beyond ASCII (combining marks, CJK, a symbol); typed as a person would.
            let binary = Data((0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) })
            let file = directory.appendingPathComponent("token.bin")
            try binary.write(to: file)
            let unicode = "grüße, 世界 ✓ — naïve\ncafé"
            let base = harness.apiURL + "/"

            var outputs: [(scope: String, name: String, yaml: String)] = []
            let raw = Mutex<[String]>([])
            let console = Mutex<[String]>([])
            let certificates = Mutex<[(String, String, String)]>([])
            let collected = Mutex<[(String, String, String)]>([])
            let requests = Mutex<[String]>([])
            try await Self.withBrowser { browser in
                for scope in ["strict", "namespace-wide", "cluster-wide"] {
                    try browser.open(base)
                    let name = "web-\(scope)"
                    let sealed = try Self.seal(in: browser, namespace: "team-a", name: name, scope: scope,
                                               items: [("greeting", unicode, nil), ("token.bin", nil, file)])
                    guard sealed.error.isEmpty else { throw WebDriver.Failure(description: "the page said: \(sealed.error)") }
                    collected.withLock { $0.append((scope, name, sealed.output)) }
                }
                try browser.open(base)
                let single = try Self.seal(in: browser, namespace: "team-a", name: "web-raw", scope: "strict", items: [("v", unicode, nil)], raw: true)
                try browser.open(base)
                let anywhere = try Self.seal(in: browser, namespace: "", name: "", scope: "cluster-wide", items: [("v", "anywhere", nil)], raw: true)
                raw.withLock { $0 = [single.output, anywhere.output] }
                // Names a YAML reader would take for a number or a date, an item called __proto__, a type.
                try browser.open(base)
                try browser.type("example.com/custom", into: browser.element("#type"))
                let tricky = try Self.seal(in: browser, namespace: "team-a", name: "2001-12-14", scope: "strict",
                                           items: [("0b10", "binary-looking", nil), ("__proto__", "prototype", nil), ("yes", "boolean-looking", nil)])
                collected.withLock { $0.append(("tricky", "2001-12-14", tricky.output + tricky.error)) }
                requests.withLock { $0 = (try? browser.requestedURLs()) ?? [] }
                // No Content-Security-Policy violation (or any other error) on the console: the page ran as served.
                console.withLock { $0 = (try? browser.consoleErrors()) ?? ["the console log could not be read"] }

                // The certificate checks, on the CLI's fixtures: expired, not yet valid, too small, not RSA.
                for (file, expected) in [("expired.crt", "the cluster's certificate expired on"), ("not-yet-valid.crt", "is not valid before"),
                                         ("rsa1024.crt", "the certificate's key is RSA-1024; sealing needs 2,048 to 16,384 bits"),
                                         ("ec-p256.crt", "the certificate's key is not RSA")] {
                    let pem = try String(contentsOf: Repository.cryptoFixtures.appendingPathComponent(file), encoding: .utf8)
                    let answer = try browser.executeAsync(
                        "sealingKeyFrom(arguments[0]).then(() => arguments[1]('accepted'), (error) => arguments[1](error.message))", [.string(pem)])
                    certificates.withLock { $0.append((file, expected, answer.stringValue ?? "")) }
                }
            }
            for (file, expected, answer) in certificates.withLock({ $0 }) {
                #expect(answer.contains(expected), "\(file): \(answer)")
            }
            #expect(console.withLock { $0 }.isEmpty, "\(console.withLock { $0 })")
            outputs = collected.withLock { $0.map { (scope: $0.0, name: $0.1, yaml: $0.2) } }
            try #require(outputs.count == 4)
            let tricky = outputs.removeLast()
            let trickyFile = directory.appendingPathComponent("tricky.yaml")
            try tricky.yaml.write(to: trickyFile, atomically: true, encoding: .utf8)
            let trickyOpened = try await CLIControllerTests.run(["unseal", "--key", FixtureKeys.rsa2048File, "-f", trickyFile.path, "-o", "json"])
            #expect(trickyOpened.status == 0, "\(trickyOpened.error)\n\(tricky.yaml)")
            let trickySecret = try ManifestValue(json: Array(trickyOpened.output))
            #expect(trickySecret["metadata"]?["name"]?.stringValue == "2001-12-14" && trickySecret["type"]?.stringValue == "example.com/custom")
            for (key, value) in [("0b10", "binary-looking"), ("__proto__", "prototype"), ("yes", "boolean-looking")] {
                #expect(trickySecret["data"]?[key]?.stringValue.flatMap { Data(base64Encoded: $0) } == Data(value.utf8), "\(key)")
            }

            for (scope, name, yaml) in outputs {
                let sealedFile = directory.appendingPathComponent("\(name).yaml")
                try yaml.write(to: sealedFile, atomically: true, encoding: .utf8)
                let keyID = FixtureKeys.sealingKey.keyID.hex
                #expect(yaml.contains("cachet.dev/sealed-by: \(keyID)\n") || yaml.contains("cachet.dev/sealed-by: \"\(keyID)\"\n"), "\(yaml)")
                let opened = try await CLIControllerTests.run(["unseal", "--key", FixtureKeys.rsa2048File, "-f", sealedFile.path, "-o", "json"])
                #expect(opened.status == 0, "\(scope): \(opened.error)")
                let secret = try ManifestValue(json: Array(opened.output))
                #expect(secret["data"]?["greeting"]?.stringValue.flatMap { Data(base64Encoded: $0) } == Data(unicode.utf8), "\(scope)")
                #expect(secret["data"]?["token.bin"]?.stringValue.flatMap { Data(base64Encoded: $0) } == binary, "\(scope)")

                let applied = try await TestProcess.runOffPool(Repository.kubectl!, ["apply", "-f", sealedFile.path],
                                                               environment: .exactly(["KUBECONFIG": kubeconfig.path, "HOME": directory.path, "PATH": "/usr/bin:/bin"]))
                #expect(applied.status == 0, "\(scope): \(applied.error)")
                try await eventually("the Secret \(name)") {
                    let data = (await harness.secret(name))?["data"]
                    return data?["greeting"]?.stringValue.flatMap { Data(base64Encoded: $0) } == Data(unicode.utf8)
                        && data?["token.bin"]?.stringValue.flatMap { Data(base64Encoded: $0) } == binary
                }
            }

            let values = raw.withLock { $0 }
            #expect(values.count == 2 && values.allSatisfy { $0.hasPrefix("AQ") && !$0.contains("\n") }, "\(values)")
            let rawOpened = try await CLIControllerTests.run(["unseal", "--raw", "--key", FixtureKeys.rsa2048File, "-n", "team-a", "--name", "web-raw"], stdin: values.first ?? "")
            #expect(rawOpened.status == 0 && rawOpened.output == Data(unicode.utf8), "\(rawOpened.error)")
            let anywhereOpened = try await CLIControllerTests.run(["unseal", "--raw", "--key", FixtureKeys.rsa2048File, "--scope", "cluster-wide"], stdin: values.last ?? "")
            #expect(anywhereOpened.status == 0 && anywhereOpened.outputText == "anywhere", "\(anywhereOpened.error)")

            // The browser's own record: the page, its script and style, and the certificate; nothing else, ever.
            let urls = requests.withLock { $0 }
            let paths = Set(urls.map { $0.hasPrefix(harness.apiURL) ? String($0.dropFirst(harness.apiURL.count)) : $0 })
            #expect(paths == ["/", "/sealing.js", "/sealing.css", "/v1/cert.pem"], "\(urls)")
        }
    }

    /// Without port-forward: through the API server's service proxy, as a `kubectl proxy` user reaches it. The page's
    /// addresses are relative, so the script, the style and the certificate come through the same proxy path.
    @Test("through the API server's service proxy: the page with its headers, only proxied requests, a value that opens",
          .enabled(if: WebDriver.available, "chromium and chromium-driver are not installed (scripts/bootstrap installs them)"))
    func throughTheServiceProxy() async throws {
        try await CLIControllerTests.with { harness, directory, _ in
            let base = harness.cluster.url + "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/"
            let page = try await harness.request(base)
            #expect(page.status == 200)
            #expect(page.header("Content-Security-Policy")?.contains("connect-src 'self'") == true, "\(page.headers)")

            let sealed = Mutex<(output: String, error: String)?>(nil)
            let requests = Mutex<[String]>([])
            try await Self.withBrowser { browser in
                try browser.open(base)
                let result = try Self.seal(in: browser, namespace: "team-a", name: "via-proxy", scope: "strict", items: [("v", "through the proxy", nil)])
                sealed.withLock { $0 = result }
                requests.withLock { $0 = (try? browser.requestedURLs()) ?? [] }
            }
            let result = try #require(sealed.withLock { $0 })
            #expect(result.error.isEmpty, "\(result.error)")
            let file = directory.appendingPathComponent("via-proxy.yaml")
            try result.output.write(to: file, atomically: true, encoding: .utf8)
            let opened = try await CLIControllerTests.run(["unseal", "--key", FixtureKeys.rsa2048File, "-f", file.path, "-o", "json"])
            #expect(opened.status == 0, "\(opened.error)\n\(result.output)")
            let secret = try ManifestValue(json: Array(opened.output))
            #expect(secret["data"]?["v"]?.stringValue.flatMap { Data(base64Encoded: $0) } == Data("through the proxy".utf8))
            let urls = requests.withLock { $0 }
            #expect(Set(urls.map { $0.hasPrefix(base) ? String($0.dropFirst(base.count)) : $0 }) == ["", "sealing.js", "sealing.css", "v1/cert.pem"], "\(urls)")
        }
    }

    @Test("a wrong namespace, an empty name and a bad item key show the CLI's own message in the page, and nothing is sealed",
          .enabled(if: WebDriver.available, "chromium and chromium-driver are not installed (scripts/bootstrap installs them)"))
    func refusesBadNames() async throws {
        // The CLI's messages for the same mistakes, word for word.
        func cliMessage(_ arguments: [String]) async throws -> String {
            let result = try await CLIControllerTests.run(["seal", "--raw", "--cert", Repository.cryptoFixtures.appendingPathComponent("rsa2048.crt").path] + arguments, stdin: "v")
            #expect(result.status != 0)
            return String(result.error.split(separator: "\n")[0].dropFirst("cachet: error: ".count))
        }
        let wrongNamespace = try await cliMessage(["-n", "Team_A", "--name", "app"])
        let emptyName = try await cliMessage(["-n", "team-a", "--name", ""])
        #expect(wrongNamespace.hasPrefix("namespace \"Team_A\" is not a valid Kubernetes namespace"))
        #expect(emptyName.hasPrefix("name \"\" is not a valid Kubernetes object name"))
        let badKey = "item name \"a/b\" is not valid: use letters, digits, '-', '_' and '.' (at most 253, not starting with '..')"
        try await ControllerHarness.with { harness in
            let shown = Mutex<[String]>([])
            let screenshot = Mutex<Data>(Data())
            try await Self.withBrowser { browser in
                for (namespace, name, key) in [("Team_A", "app", "k"), ("team-a", "", "k"), ("team-a", "app", "a/b")] {
                    try browser.open(harness.apiURL + "/")
                    let result = try Self.seal(in: browser, namespace: namespace, name: name, scope: "strict", items: [(key, "value", nil)])
                    shown.withLock { $0.append(result.error) }
                    #expect(result.output.isEmpty)
                }
                // The page as a person first sees it, filled in and sealed: the screenshot in docs/.
                try browser.open(harness.apiURL + "/")
                _ = try Self.seal(in: browser, namespace: "team-a", name: "app", scope: "strict", items: [("password", "correct horse battery staple", nil)])
                let image = try browser.screenshot()
                screenshot.withLock { $0 = image }
            }
            #expect(shown.withLock { $0 } == [wrongNamespace, emptyName, badKey])
            let image = screenshot.withLock { $0 }
            #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
            // Checked in once; taken again with CACHET_UPDATE_SCREENSHOT=1.
            if ProcessInfo.processInfo.environment["CACHET_UPDATE_SCREENSHOT"] == "1" {
                try image.write(to: Repository.root.appendingPathComponent("docs/sealing-page.png"))
            }
        }
    }
}
