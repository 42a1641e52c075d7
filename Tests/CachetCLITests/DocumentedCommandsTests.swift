import Foundation
import Testing

/// Commands that failed as documented, or misbehaved in ways a new user hits first (issue 10, items 11–16).
struct DocumentedCommandsTests {
    let keys: GeneratedKeys
    init() throws { keys = try GeneratedKeys() }

    /// `cachet < s.json > sealed.json` wrote the help text into the file and reported success.
    @Test("no subcommand is a usage mistake: exit 64, nothing on stdout", arguments: [[String](), ["keys"]])
    func noSubcommand(arguments: [String]) throws {
        let result = try CachetProcess.run(arguments, stdin: Data("{}".utf8))
        #expect(result.status == 64 && result.output.isEmpty)
        #expect(result.error.hasPrefix("cachet: error: name a command"), "\(result.error)")
    }

    @Test("an unknown flag is named as such, before any missing one; -f twice is refused")
    func flags() throws {
        let unknown = try CachetProcess.run(["unseal", "--bogus"])
        #expect(unknown.status == 64 && unknown.error.contains("Unknown option '--bogus'"), "\(unknown.error)")
        let twice = try CachetProcess.run(["seal", "--cert", keys.certificate, "-f", "a.yaml", "-f", "b.yaml"])
        #expect(twice.status == 64 && twice.error.contains("-f given 2 times"), "\(twice.error)")
        let help = try CachetProcess.run(["unseal", "--help"])
        #expect(help.outputText.contains("With --raw: the scope") && help.outputText.contains("With --raw: the name"), "\(help.outputText)")
    }

    /// The docs' `kubectl create secret … --dry-run=client -o yaml | cachet seal` failed: kubectl writes no namespace.
    @Test("a Secret without a namespace is sealed for the kubeconfig context's, else default, and stderr says which",
          .enabled(if: KubectlPath.found != nil, "kubectl is not installed"))
    func namespaceFallback() throws {
        let created = Process()
        created.executableURL = URL(fileURLWithPath: KubectlPath.found!)
        created.arguments = ["create", "secret", "generic", "app", "--from-literal=k=v", "--dry-run=client", "-o", "yaml"]
        let pipe = Pipe()
        created.standardOutput = pipe
        created.environment = ["KUBECONFIG": keys.directory.path("none")]
        try created.run()
        let secret = pipe.fileHandleForReading.readDataToEndOfFile()
        created.waitUntilExit()
        #expect(!String(decoding: secret, as: UTF8.self).contains("namespace"))

        let kubeconfig = keys.directory.path("kubeconfig")
        try Data("""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]
            users: [{name: u, user: {exec: {command: not-installed, apiVersion: client.authentication.k8s.io/v1}}}]
            contexts: [{name: dev, context: {cluster: c, user: u, namespace: team-x}}, {name: bare, context: {cluster: c, user: u}}]
            current-context: dev
            """.utf8).write(to: URL(fileURLWithPath: kubeconfig))
        for (arguments, environment, namespace, origin) in [
            ([String](), ["KUBECONFIG": kubeconfig], "team-x", "the kubeconfig context \"dev\""),
            (["--context", "bare"], ["KUBECONFIG": kubeconfig], "default", "names none"),
            ([], ["KUBECONFIG": keys.directory.path("absent"), "HOME": keys.directory.url.path], "default", "no kubeconfig"),
        ] {
            let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate, "-o", "yaml"] + arguments, stdin: secret, environment: environment)
            #expect(sealed.status == 0, "\(sealed.error)")
            #expect(sealed.outputText.contains("  namespace: \(namespace)\n"), "\(sealed.outputText)")
            #expect(sealed.error.contains("sealed for namespace \"\(namespace)\"") && sealed.error.contains(origin), "\(sealed.error)")
            let opened = try CachetProcess.run(["unseal", "--key", keys.keyDirectory, "-o", "yaml"], stdin: sealed.output)
            #expect(opened.status == 0 && opened.outputText.contains("namespace: \(namespace)"), "\(opened.error)")
        }
        // --raw too, as kubeseal's.
        let raw = try CachetProcess.run(["seal", "--raw", "--cert", keys.certificate, "--name", "app"], stdin: Data("v".utf8),
                                        environment: ["KUBECONFIG": kubeconfig])
        #expect(raw.status == 0 && raw.error.contains("sealing for namespace \"team-x\""), "\(raw.error)")
        let opened = try CachetProcess.run(["unseal", "--raw", "--key", keys.keyDirectory, "-n", "team-x", "--name", "app"], stdin: raw.output)
        #expect(opened.status == 0 && opened.outputText == "v")
    }

    /// `cachet cert > cluster.crt` that failed left an empty file, and `seal` then said "no PEM block found".
    @Test("an empty certificate file is named as empty")
    func emptyCertificate() throws {
        try Data().write(to: URL(fileURLWithPath: keys.directory.path("cluster.crt")))
        let sealed = try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", keys.directory.path("cluster.crt")],
                                           stdin: Data("v".utf8))
        #expect(sealed.status == 1 && sealed.error.contains("cluster.crt is empty") && sealed.error.contains("cachet cert -w"), "\(sealed.error)")
    }

    /// `unseal --key` takes a Secret backup; `keys list` refused the same file.
    @Test("keys list reads a Secret backup, as unseal --key does")
    func listBackup() throws {
        let certificate = try Data(contentsOf: URL(fileURLWithPath: keys.certificate)).base64EncodedString()
        let key = try Data(contentsOf: URL(fileURLWithPath: keys.privateKey)).base64EncodedString()
        let backup = keys.directory.path("backup.yaml")
        try Data("""
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Secret
              type: kubernetes.io/tls
              metadata: {name: sealed-secrets-keyabcde, namespace: kube-system}
              data: {tls.crt: \(certificate), tls.key: \(key)}
            """.utf8).write(to: URL(fileURLWithPath: backup))
        chmod(backup, 0o600)
        let list = try CachetProcess.run(["keys", "list", backup])
        #expect(list.status == 0, "\(list.error)")
        let lines = list.outputText.split(separator: "\n")
        #expect(lines.count == 3 && lines[1].contains("certificate") && lines[2].contains("private key"), "\(list.outputText)")
        #expect(lines[1].contains("kube-system/sealed-secrets-keyabcde"))
        let unsealable = try CachetProcess.run(["unseal", "--raw", "--key", backup, "--scope", "cluster-wide"],
                                               stdin: try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", keys.certificate],
                                                                            stdin: Data("v".utf8)).output)
        #expect(unsealable.status == 0 && unsealable.outputText == "v")
        chmod(backup, 0o644)
        let exposed = try CachetProcess.run(["keys", "list", backup])
        #expect(exposed.status == 1 && exposed.error.contains("readable or writable by others"), "\(exposed.error)")
    }
}
