import Synchronization

/// The controller's metrics, with Bitnami's names (`sealed_secrets_controller_…`) so that existing dashboards and
/// the `SealedSecretsUnsealErrorHigh` alert keep working, rendered in the Prometheus text format (0.0.4).
///
/// Labels carry names and namespaces only — never a value, a key or an error text.
package final class ControllerMetrics: Sendable {
    /// Why an object could not be brought in line: Bitnami's `reason` label of `unseal_errors_total`.
    package enum UnsealErrorReason: String, Sendable, CaseIterable {
        /// The SealedSecret could not be read.
        case fetch
        /// Its status could not be written.
        case status
        /// A value could not be opened (no key, a wrong scope, a damaged value).
        case unseal
        /// The Secret could not be read, created or updated.
        case update
        /// A Secret of that name exists and is not the controller's to write.
        case unmanaged
    }

    static let prefix = "sealed_secrets_controller_"

    private struct State {
        var unsealRequests = 0
        var unsealErrors: [[String]: Int] = [:]          // [reason, namespace]
        /// [namespace, name] → the `app.kubernetes.io/instance` label and -1/0/1: one entry per object, replaced in
        /// constant time (a cold start sets thousands).
        var conditions: [[String]: (instance: String, value: Int)] = [:]
        var httpRequests: [[String]: Int] = [:]          // [path, code, method]
        var httpDurations: [[String]: Histogram] = [:]   // [path, method]
        var apiOperations: [String: Int] = [:]            // path → RSA operations
        /// With leader election: the Lease's name, and whether this replica holds it.
        var leader: (lease: String, leading: Bool)?
    }

    struct Histogram {
        static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        var counts = [Int](repeating: 0, count: buckets.count)
        var sum = 0.0
        var count = 0

        mutating func observe(_ value: Double) {
            for (index, bound) in Self.buckets.enumerated() where value <= bound { counts[index] += 1 }
            sum += value
            count += 1
        }
    }

    private let state = Mutex(State())
    let revision: String

    package init(revision: String = "0.1.0-dev") {
        self.revision = revision
    }

    package func unsealRequest() {
        state.withLock { $0.unsealRequests += 1 }
    }

    package func unsealError(reason: UnsealErrorReason, namespace: String) {
        state.withLock { $0.unsealErrors[[reason.rawValue, namespace], default: 0] += 1 }
    }

    /// The Synced condition of a SealedSecret: -1 false, 0 unknown, 1 true.
    package func condition(namespace: String, name: String, instance: String, synced: Bool?) {
        state.withLock { $0.conditions[[namespace, name]] = (instance, synced.map { $0 ? 1 : -1 } ?? 0) }
    }

    package func forget(namespace: String, name: String) {
        state.withLock { $0.conditions[[namespace, name]] = nil }
    }

    package func httpRequest(path: String, method: String, code: Int, seconds: Double) {
        state.withLock { state in
            state.httpRequests[[path, String(code), method], default: 0] += 1
            state.httpDurations[[path, method], default: Histogram()].observe(seconds)
        }
    }

    package func leadership(lease: String, leading: Bool) {
        state.withLock { $0.leader = (lease, leading) }
    }

    /// RSA private-key operations `/v1/verify` or `/v1/rotate` caused (Cachet's own metric; Bitnami has none).
    package func apiOperations(path: String, count: Int) {
        state.withLock { $0.apiOperations[path, default: 0] += count }
    }

    /// The exposition text.
    package func render() -> String {
        let snapshot = state.withLock { $0 }
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines.append("# HELP \(Self.prefix)\(name) \(help)")
            lines.append("# TYPE \(Self.prefix)\(name) \(type)")
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            let text = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
            lines.append("\(Self.prefix)\(name)\(text) \(value)")
        }
        family("build_info", "gauge", "Build information.")
        sample("build_info", [("revision", revision)], "1")
        family("unseal_requests_total", "counter", "Total number of sealed secret unseal requests.")
        sample("unseal_requests_total", [], String(snapshot.unsealRequests))
        family("unseal_errors_total", "counter", "Total number of sealed secret unseal errors by reason.")
        for (key, value) in snapshot.unsealErrors.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            sample("unseal_errors_total", [("reason", key[0]), ("namespace", key[1])], String(value))
        }
        family("condition_info", "gauge", "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true).")
        for (key, condition) in snapshot.conditions.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            sample("condition_info", [("namespace", key[0]), ("name", key[1]), ("condition", "Synced"),
                                      ("ss_app_kubernetes_io_instance", condition.instance)], String(condition.value))
        }
        family("http_requests_total", "counter", "Total number of HTTP requests by path, code and method.")
        for (key, value) in snapshot.httpRequests.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            sample("http_requests_total", [("path", key[0]), ("code", key[1]), ("method", key[2])], String(value))
        }
        family("http_request_duration_seconds", "histogram", "HTTP request duration in seconds by path and method.")
        for (key, histogram) in snapshot.httpDurations.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let labels = [("path", key[0]), ("method", key[1])]
            for (bound, count) in zip(Histogram.buckets, histogram.counts) {
                sample("http_request_duration_seconds_bucket", labels + [("le", Self.number(bound))], String(count))
            }
            sample("http_request_duration_seconds_bucket", labels + [("le", "+Inf")], String(histogram.count))
            sample("http_request_duration_seconds_sum", labels, Self.number(histogram.sum))
            sample("http_request_duration_seconds_count", labels, String(histogram.count))
        }
        lines.append("# HELP cachet_http_rsa_operations_total RSA private-key operations caused by HTTP requests, by path.")
        lines.append("# TYPE cachet_http_rsa_operations_total counter")
        for (path, count) in snapshot.apiOperations.sorted(by: { $0.key < $1.key }) {
            lines.append("cachet_http_rsa_operations_total{path=\"\(Self.escape(path))\"} \(count)")
        }
        if let leader = snapshot.leader {
            // client-go's name and meaning, so dashboards made for other controllers read it too.
            lines.append("# HELP leader_election_master_status Whether this replica holds the leader election Lease (1) or not (0).")
            lines.append("# TYPE leader_election_master_status gauge")
            lines.append("leader_election_master_status{name=\"\(Self.escape(leader.lease))\"} \(leader.leading ? 1 : 0)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

import FoundationEssentials
