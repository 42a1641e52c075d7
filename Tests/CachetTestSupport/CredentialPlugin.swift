import Foundation

/// A kubeconfig exec credential plugin, as a shell script in a directory of its own: it counts its runs, keeps the
/// `KUBERNETES_EXEC_INFO` it was given and the `PLUGIN_MARK` variable, and answers with the token in `token` (first
/// line) — or, while `tokens` holds several lines, with the next of those on each run — and with the time in `expiry`
/// if that file exists; with `fail` present it writes a line to stderr and exits 3.
/// `accepted` is the file a dev cluster reads its accepted tokens from (`bearerTokenFile`).
public final class CredentialPlugin: Sendable {
    public let directory: TemporaryDirectory
    public var path: String { directory.path("bin/credential-plugin") }
    public var accepted: String { directory.path("accepted") }

    static let script = #"""
        #!/bin/sh
        d="$(dirname "$0")/.."
        echo run >> "$d/runs"
        printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/exec-info.json"
        printf '%s' "$PLUGIN_MARK" > "$d/mark"
        if [ -f "$d/fail" ]; then echo "credential-plugin: the identity provider said no" >&2; exit 3; fi
        if [ -f "$d/tokens" ]; then
          tok=$(head -n 1 "$d/tokens")
          if [ "$(wc -l < "$d/tokens")" -gt 1 ]; then sed -i 1d "$d/tokens"; fi
        else
          tok=$(head -n 1 "$d/token")
        fi
        exp=""
        if [ -f "$d/expiry" ]; then exp=",\"expirationTimestamp\":\"$(cat "$d/expiry")\""; fi
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"%s}}\n' "$tok" "$exp"
        """#

    /// A plugin answering `token`, which the cluster accepts.
    public init(token: String = "token-1") throws {
        directory = try TemporaryDirectory()
        try directory.write("bin/credential-plugin", Self.script, mode: 0o755)
        try setToken(token, accepted: [token])
    }

    /// The token the plugin hands out from now on, and the tokens the cluster accepts.
    public func setToken(_ token: String, accepted tokens: [String]) throws {
        try directory.write("token", token + "\n")
        try directory.write("accepted", tokens.joined(separator: "\n") + "\n")
    }

    public func setExpiry(_ date: Date?) throws {
        if let date {
            try directory.write("expiry", ISO8601DateFormatter().string(from: date))
        } else {
            try? FileManager.default.removeItem(atPath: directory.path("expiry"))
        }
    }

    /// Tokens to hand out run by run (the last one from then on).
    public func setSequence(_ tokens: [String]) throws {
        try directory.write("tokens", tokens.joined(separator: "\n") + "\n")
    }

    public func setFailing(_ failing: Bool) throws {
        if failing { try directory.write("fail", "") } else { try? FileManager.default.removeItem(atPath: directory.path("fail")) }
    }

    public var runs: Int {
        ((try? String(contentsOfFile: directory.path("runs"), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    public var execInfo: String { (try? String(contentsOfFile: directory.path("exec-info.json"), encoding: .utf8)) ?? "" }
    public var mark: String { (try? String(contentsOfFile: directory.path("mark"), encoding: .utf8)) ?? "" }

    /// A kubeconfig for `server` whose user runs this plugin (or `command`, to name a missing one), with two contexts:
    /// `plugin`, and `other` (current), whose cluster does not exist.
    /// `certificateAuthority`: the cluster's CA (PEM), for an https:// server.
    public func kubeconfig(server: String, certificateAuthority: [UInt8]? = nil, command: String? = nil, namespace: String = "default",
                           interactiveMode: String = "Never") -> String {
        let authority = certificateAuthority.map { ", certificate-authority-data: " + Data($0).base64EncodedString() } ?? ""
        return """
        apiVersion: v1
        kind: Config
        current-context: other
        clusters:
        - name: dev
          cluster: {server: "\(server)"\(authority)}
        - name: nowhere
          cluster: {server: "https://192.0.2.1:6443"}
        contexts:
        - name: plugin
          context: {cluster: dev, user: plugin-user, namespace: \(namespace)}
        - name: other
          context: {cluster: nowhere, user: plugin-user}
        users:
        - name: plugin-user
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: \(command ?? path)
              args: [get-token, --cluster, dev]
              env: [{name: PLUGIN_MARK, value: from-kubeconfig}]
              interactiveMode: \(interactiveMode)
              provideClusterInfo: true
              installHint: "install credential-plugin from your identity team's page"
        """
    }
}
