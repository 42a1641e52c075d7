import CYAML
import CachetManifests
import Foundation

/// Read throughput of the manifest readers on a multi-document stream of ordinary Kubernetes objects.
enum YAMLBenchmark {
    static func run(_ arguments: [String]) throws {
        var megabytes = 10
        if let index = arguments.firstIndex(of: "--megabytes"), index + 1 < arguments.count {
            megabytes = Int(arguments[index + 1]) ?? megabytes
        }
        let yaml = stream(bytes: megabytes << 20)
        let json = jsonStream(bytes: megabytes << 20)
        print("stream: \(yaml.count) bytes of YAML in \(documentCount(yaml)) documents; \(json.count) bytes of JSON")
        let readers: [(String, [UInt8], ([UInt8]) throws -> Int)] = [
            ("bare libyaml (events only)", yaml, { try libyamlEvents(in: $0) }),
            ("YAML (libyaml events → trees)", yaml, { try ManifestReader.documents(in: $0).count }),
            ("JSON (concatenated objects)", json, { try ManifestReader.documents(in: $0).count }),
        ]
        for (name, input, read) in readers {
            var times: [Double] = []
            var count = 0
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                count = try read(input)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let best = times.min()!, median = times.sorted()[times.count / 2]
            print(name.padding(toLength: 32, withPad: " ", startingAt: 0)
                + String(format: "%7.1f MB/s median, %7.1f MB/s best (%d %@, %.3f s median)",
                         Double(input.count) / 1e6 / median, Double(input.count) / 1e6 / best, count,
                         name.hasPrefix("bare") ? "events" : "documents", median))
        }
    }

    /// The floor under the YAML reader: libyaml producing and freeing the same stream's events, nothing built.
    static func libyamlEvents(in input: [UInt8]) throws -> Int {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw BenchmarkFailure("libyaml could not be initialised") }
        defer { yaml_parser_delete(&parser) }
        return try input.withUnsafeBufferPointer { bytes in
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            var event = yaml_event_t()
            var count = 0
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw BenchmarkFailure("libyaml: invalid YAML") }
                let type = event.type
                yaml_event_delete(&event)
                count += 1
                if type == YAML_STREAM_END_EVENT { return count }
            }
        }
    }

    static func documentCount(_ input: [UInt8]) -> Int {
        (try? ManifestReader.documents(in: input).count) ?? 0
    }

    /// Deployments, ConfigMaps and Secrets, with comments and both flow and block style, repeated to `bytes`.
    static func stream(bytes: Int) -> [UInt8] {
        var text = ""
        var index = 0
        while text.utf8.count < bytes {
            text += """
                ---
                # deployment \(index)
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web-\(index)
                  namespace: team-\(index % 7)
                  labels: {app: web, tier: "frontend", index: "\(index)"}
                spec:
                  replicas: 3
                  selector:
                    matchLabels:
                      app: web
                  template:
                    metadata:
                      labels:
                        app: web
                    spec:
                      containers:
                      - name: web
                        image: "registry.example.com/web:1.2.\(index)"
                        args: ["--port", "8080", "--verbose"]
                        env:
                        - name: MODE
                          value: production
                        resources:
                          limits: {cpu: 500m, memory: 256Mi}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: config-\(index)
                data:
                  settings.yaml: |
                    log: info
                    retries: 3
                    endpoint: https://api.example.com/v1/items
                ---
                apiVersion: v1
                kind: Secret
                metadata:
                  name: secret-\(index)
                  namespace: team-\(index % 7)
                type: Opaque
                data:
                  password: aHVudGVyMi1wYXNzd29yZC0xMjM0NTY3ODkw
                  token: ZXlKaGJHY2lPaUpJVXpJMU5pSXNJblI1Y0NJNklrcFhWQ0o5LmV5Sm9aV3hzYnlJNkluZHZjbXhrSW4w

                """
            index += 1
        }
        return Array(text.utf8)
    }

    static func jsonStream(bytes: Int) -> [UInt8] {
        var text = ""
        var index = 0
        while text.utf8.count < bytes {
            text += """
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret-\(index)", "namespace": "team-\(index % 7)",
                 "labels": {"app": "web", "index": "\(index)"}}, "type": "Opaque",
                 "data": {"password": "aHVudGVyMi1wYXNzd29yZC0xMjM0NTY3ODkw", "token": "ZXlKaGJHY2lPaUpJVXpJMU5pSXNJblI1Y0NJNklrcFhWQ0o5"},
                 "spec": {"replicas": 3, "ports": [80, 443, 8080], "enabled": true, "ratio": 0.25, "note": null}}

                """
            index += 1
        }
        return Array(text.utf8)
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
