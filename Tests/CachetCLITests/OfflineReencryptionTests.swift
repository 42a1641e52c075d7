import CachetTestSupport
import Foundation
import Testing

/// `cachet reencrypt --key KEY PATH…`: a tree of SealedSecrets moved from an old key to what `.cachet.yaml` names now.
@Suite("cachet reencrypt --key (offline, over trees)")
struct OfflineReencryptionTests {
    let repository: TemporaryDirectory
    var root: URL { repository.url }

    init() throws {
        repository = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: repository.path("keys"), withIntermediateDirectories: true)
        for name in ["keys/new", "old", "other"] {
            let result = try CachetProcess.run(["keys", "generate", "--out", repository.path(name), "--rsa-bits", "2048"])
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
        }
        try repository.write(".cachet.yaml", "rules:\n  - path: \"**\"\n    cert: keys/new\n", mode: 0o644)
    }

    static let canary = "reencrypt-canary-9d1a"

    func cachet(_ arguments: [String], stdin: Data = Data()) throws -> ProcessResult {
        try CachetProcess.run(arguments, stdin: stdin, in: root)
    }

    /// Seals a two-value Secret to `key` into `file`.
    func seal(_ file: String, name: String, key: String, extra: [String] = []) throws {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: \(name), namespace: team}\nstringData: {a: \"\(Self.canary)-\(name)\", b: \"b\"}\n"
        let result = try cachet(["seal", "--cert", key, "-o", "yaml", "-w", file] + extra, stdin: Data(secret.utf8))
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
    }

    func bytes(_ file: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(file)) }

    @Test("old values re-sealed to the rule's key, current ones left byte for byte, a summary table; a second run changes nothing")
    func tree() throws {
        try FileManager.default.createDirectory(atPath: repository.path("apps/deep"), withIntermediateDirectories: true)
        for index in 0..<6 { try seal("apps/\(index % 2 == 0 ? "" : "deep/")s\(index).sealed.yaml", name: "s\(index)", key: "old") }
        try seal("apps/current.sealed.yaml", name: "current", key: "keys/new")
        let current = try bytes("apps/current.sealed.yaml")

        let result = try cachet(["reencrypt", "--key", "old", "apps"])
        let table = String(decoding: result.output, as: UTF8.self)
        #expect(result.status == 0, "\(table) \(result.error)")
        #expect(table.hasPrefix("files  re-sealed  unchanged  failed  values  seconds  values/s\n    7          6          1       0      12"), "\(table)")
        #expect(result.error.contains("re-sealed apps/deep/s1.sealed.yaml (2 values)"), "\(result.error)")
        #expect(try bytes("apps/current.sealed.yaml") == current)
        for index in 0..<6 {
            let file = "apps/\(index % 2 == 0 ? "" : "deep/")s\(index).sealed.yaml"
            let opened = try cachet(["unseal", "--key", "keys/new", "-f", file, "-o", "json"])
            #expect(opened.status == 0 && String(decoding: opened.output, as: UTF8.self).contains(Data("\(Self.canary)-s\(index)".utf8).base64EncodedString()), "\(file): \(opened.error)")
            #expect(try cachet(["unseal", "--key", "old", "-f", file]).status != 0, "\(file) still opens with the old key")
        }
        #expect(!table.contains(Self.canary) && !result.error.contains(Self.canary))

        let before = try (0..<6).map { try bytes("apps/\($0 % 2 == 0 ? "" : "deep/")s\($0).sealed.yaml") }
        let again = try cachet(["reencrypt", "--key", "old", "apps"])
        #expect(again.status == 0 && String(decoding: again.output, as: UTF8.self).contains("    7          0          7       0       0"))
        #expect(try (0..<6).map { try bytes("apps/\($0 % 2 == 0 ? "" : "deep/")s\($0).sealed.yaml") } == before)
    }

    /// A run that stops part-way (here: a file the given keys cannot open) leaves that file as it was and the others
    /// finished; run again with the missing key, it completes the job.
    @Test("a file the keys cannot open fails alone and stays as it was; the next run finishes the job")
    func resumable() throws {
        try seal("a.sealed.yaml", name: "a", key: "old")
        try seal("b.sealed.yaml", name: "b", key: "other")
        let stuck = try bytes("b.sealed.yaml")
        let first = try cachet(["reencrypt", "--key", "old", "."])
        #expect(first.status == 1)
        #expect(first.error.contains("b.sealed.yaml") && first.error.contains("cannot decrypt"), "\(first.error)")
        #expect(String(decoding: first.output, as: UTF8.self).contains("    2          1          0       1"), "\(String(decoding: first.output, as: UTF8.self))")
        #expect(try bytes("b.sealed.yaml") == stuck)
        let second = try cachet(["reencrypt", "--key", "old", "--key", "other", "."])
        #expect(second.status == 0 && String(decoding: second.output, as: UTF8.self).contains("    2          1          1       0"), "\(second.error)")
        #expect(try cachet(["unseal", "--key", "keys/new", "-f", "b.sealed.yaml"]).status == 0)
    }

    /// Enough values for several batches (they are read, opened and written in overlapping stages): every file
    /// finished, a failure in a late batch reported and its file left as it was, the counts whole.
    @Test("many files: batches overlap, a failure in a late batch fails alone, every other file is finished")
    func manyBatches() throws {
        try FileManager.default.createDirectory(atPath: repository.path("apps"), withIntermediateDirectories: true)
        for index in 0..<40 { try seal("apps/s\(index).sealed.yaml", name: "s\(index)", key: "old") }
        try seal("apps/zz-other.sealed.yaml", name: "zz-other", key: "other")
        let stuck = try bytes("apps/zz-other.sealed.yaml")
        let result = try cachet(["reencrypt", "--key", "old", "apps"])
        let table = String(decoding: result.output, as: UTF8.self)
        #expect(result.status == 1)
        #expect(table.contains("   41         40          0       1      80"), "\(table)")
        #expect(result.error.contains("apps/zz-other.sealed.yaml") && result.error.contains("cannot decrypt"), "\(result.error)")
        #expect(try bytes("apps/zz-other.sealed.yaml") == stuck)
        for index in 0..<40 {
            #expect(try cachet(["unseal", "--key", "keys/new", "-f", "apps/s\(index).sealed.yaml"]).status == 0, "s\(index)")
        }
    }

    @Test("--cert overrides the rules; the scope stays the one the values were sealed for")
    func explicitTarget() throws {
        try seal("ns.sealed.yaml", name: "ns", key: "old", extra: ["--scope", "namespace-wide"])
        let result = try cachet(["reencrypt", "--key", "old", "--cert", "other", "ns.sealed.yaml"])
        #expect(result.status == 0, "\(result.error)")
        let text = String(decoding: try bytes("ns.sealed.yaml"), as: UTF8.self)
        #expect(text.contains("sealedsecrets.bitnami.com/namespace-wide"))
        let raw = try cachet(["unseal", "--key", "other", "-f", "ns.sealed.yaml", "-o", "json"])
        #expect(raw.status == 0, "\(raw.error)")
    }

    @Test("usage: PATH without --key, --key without PATH, -f with --key: exit 64")
    func usage() throws {
        for arguments in [["reencrypt", "apps"], ["reencrypt", "--key", "old"], ["reencrypt", "--key", "old", "-f", "x", "."]] {
            let result = try cachet(arguments)
            #expect(result.status == 64, "\(arguments): \(result.error)")
        }
    }
}
