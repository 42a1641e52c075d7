#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests
import CachetProgram
import Dispatch
import FoundationEssentials
import Synchronization

/// `cachet reencrypt --key KEY… PATH…`: every SealedSecret under the paths opened with the given private keys and
/// sealed again, for the same scope, to what its `.cachet.yaml` rule (or the command line) seals to now.
///
/// Files already sealed to exactly those keys are left byte for byte; each changed file is replaced atomically once
/// all of its values are sealed again, so an interrupted run leaves every file either as it was or finished, and
/// running it again completes the job. Values are opened on every core (the RSA private operations are the whole
/// cost) in batches, while the next batch is read and the last one written, so progress shows and an interruption
/// loses at most the three batches in flight.
struct OfflineReencryption {
    let keyRing: KeyRing
    /// From the command line: replaces every rule's target.
    let explicitTarget: SealingTarget?
    let jobs: Int

    struct Summary {
        var files = 0, resealed = 0, unchanged = 0, failed = 0, values = 0
        var seconds = 0.0
    }

    /// One file with SealedSecrets in it.
    private struct Job {
        let file: String
        let bytes: [UInt8]
        let objects: [SealedSecretManifest]
        let target: SealingTarget
    }

    private var rules: [String: RepositoryRules?] = [:]
    private var targets: [String: SealingTarget] = [:]
    private(set) var failures: [String] = []

    init(keyRing: KeyRing, explicitTarget: SealingTarget?, jobs: Int) {
        self.keyRing = keyRing
        self.explicitTarget = explicitTarget
        self.jobs = jobs
    }

    mutating func run(_ paths: [String], progress: Progress) -> Summary {
        let started = ContinuousClock.now
        var summary = Summary()
        // Three stages overlap: this thread reads and parses files into batches; one batch at a time is opened on every
        // core; the files of an opened batch are sealed again and written (each with its fsync) on a third. At most
        // three batches are between being read and being written, so the opened values held at once are bounded
        // whatever the tree's size or however much faster opening is than writing.
        let opening = DispatchQueue(label: "cachet.reencrypt.open"), writing = DispatchQueue(label: "cachet.reencrypt.write")
        let inFlight = DispatchSemaphore(value: 3)
        let stages = DispatchGroup()
        var written: [Box<Written>] = []
        var batch: [Job] = []
        var batchValues = 0
        // The first batches are small, so that every core starts opening after a few files rather than a full batch;
        // later ones hold enough values that the tail of each (cores idle while the last values finish) is negligible.
        var batchLimit = 8 * jobs
        let keyRing = keyRing, jobs = jobs
        func flush() {
            inFlight.wait()
            let jobsOfBatch = Box(batch), result = Box(Written())
            written.append(result)
            opening.async(group: stages) {
                let opened = Box(Unsealer(keyRing: keyRing).unsealAll(jobsOfBatch.value.flatMap { $0.objects.map(Self.asSealed) }, jobs: jobs))
                writing.async(group: stages) {
                    result.value = Self.write(jobsOfBatch.value, opened.value, progress: progress)
                    inFlight.signal()
                }
            }
            batch = []
            batchValues = 0
            batchLimit = min(2 * batchLimit, 64 * jobs)
        }
        let files = paths.flatMap { RepositoryCheck.files(under: $0) }.filter { !RepositoryCheck.isKustomization($0) }
        for file in files {
            guard let job = prepare(file, summary: &summary) else { continue }
            batch.append(job)
            batchValues += job.objects.reduce(0) { $0 + $1.encryptedData.count }
            if batchValues >= batchLimit { flush() }
        }
        if !batch.isEmpty { flush() }
        stages.wait()
        for result in written {
            summary.resealed += result.value.resealed
            summary.values += result.value.values
            for (file, message) in result.value.failures { fail(file, message, summary: &summary) }
        }
        summary.seconds = (ContinuousClock.now - started).seconds
        return summary
    }

    /// What writing a batch came to.
    struct Written {
        var resealed = 0, values = 0
        var failures: [(file: String, message: String)] = []
    }

    /// Reads `file`; nil when it holds no SealedSecret, or needs nothing (then counted), or failed (then reported).
    private mutating func prepare(_ file: String, summary: inout Summary) -> Job? {
        guard let bytes = try? SecretFiles.read(file, limit: SecretFiles.defaultLimit).withUnsafeBytes({ Array($0) }),
              let documents = try? ManifestReader.documents(in: bytes), let objects = try? ManifestReader.objects(in: documents)
        else { return nil }
        let sealedObjects = objects.filter { $0.node["kind"]?.scalar?.text == "SealedSecret" }
        guard !sealedObjects.isEmpty else { return nil }
        summary.files += 1
        do {
            let sealed = try sealedObjects.map { object in try inFile(file) { try SealedSecretManifest(object) } }
            let target = try target(for: file)
            let wanted = Set(target.keyIDs)
            if sealed.allSatisfy({ Set($0.sealedBy) == wanted }) {
                summary.unchanged += 1
                return nil
            }
            return Job(file: file, bytes: bytes, objects: sealed, target: target)
        } catch {
            fail(file, error, summary: &summary)
            return nil
        }
    }

    private mutating func fail(_ file: String, _ error: any Error, summary: inout Summary) {
        fail(file, (error as? any ReportableError)?.diagnostic.errors.joined(separator: "; ") ?? "\(error)", summary: &summary)
    }

    private mutating func fail(_ file: String, _ message: String, summary: inout Summary) {
        summary.failed += 1
        failures.append(message.hasPrefix(file) ? message : "\(file): \(message)")
    }

    private mutating func target(for file: String) throws -> SealingTarget {
        if let explicitTarget { return explicitTarget }
        let directory = RepositoryRules.directory(of: RepositoryRules.absolute(file))
        if rules[directory] == nil { rules[directory] = .some(try RepositoryRules.find(from: directory)) }
        guard let found = rules[directory] ?? nil, let (rule, _) = found.rule(for: file) else {
            throw CommandFailure("no .cachet.yaml rule matches it, and no --cert or --recipients-file says what to seal to")
        }
        let key = "\(found.file)#\(rule.number)"
        if let target = targets[key] { return target }
        let target = try FollowedRule(rule: rule, file: found.file).target()
        targets[key] = target
        return target
    }

    /// The object as its values were sealed: at the `cachet.dev/sealed-for` place when it has one (sealed for an
    /// overlay), else its own.
    static func asSealed(_ sealed: SealedSecretManifest) -> SealedSecretManifest {
        guard let hint = sealed.sealedForHint else { return sealed }
        var copy = sealed
        copy.metadata.namespace = hint.namespace
        if let name = hint.name { copy.metadata.name = name }
        return copy
    }

    /// Seals each file's opened values again and writes the file (atomically): on the writing thread.
    private static func write(_ batch: [Job], _ opened: [Result<SecretManifest, any Error>], progress: Progress) -> Written {
        var written = Written()
        var index = 0
        for job in batch {
            let results = opened[index..<index + job.objects.count]
            index += job.objects.count
            do {
                var resealed: [SealedSecretManifest] = []
                for (object, result) in zip(job.objects, results) {
                    let secret = try result.get()
                    let scope = try Self.scope(of: Self.asSealed(object))
                    var copy = object
                    copy.encryptedData = [:]
                    for (item, value) in secret.items {
                        copy.encryptedData[item] = try job.target.sealedValue(value, scope: scope, item: item)
                    }
                    copy.metadata.annotations[Annotations.sealedBy] = job.target.keyIDs.map(\.hex).joined(separator: ",")
                    resealed.append(copy)
                }
                try OutputFiles.replace(job.file, contents: try contents(job, resealed), mode: 0o644, keepExistingMode: true)
                let values = resealed.reduce(0) { $0 + $1.encryptedData.count }
                written.resealed += 1
                written.values += values
                progress.wrote(job.file, values: values)
            } catch {
                written.failures.append((job.file, (error as? any ReportableError)?.diagnostic.errors.joined(separator: "; ") ?? "\(error)"))
            }
        }
        return written
    }

    static func scope(of sealed: SealedSecretManifest) throws -> SealingScope {
        switch (sealed.scopeKind, sealed.metadata.namespace, sealed.metadata.name) {
        case (.clusterWide, _, _): return .clusterWide
        case (.namespaceWide, let namespace?, _): return .namespaceWide(namespace: namespace)
        case (.strict, let namespace?, let name?): return .strict(namespace: namespace, name: name)
        default: throw CommandFailure("the SealedSecret has no namespace (or name) for its scope")
        }
    }

    /// One object: only the values and the sealed-by hint change (the diff shows just them). Several: written out
    /// again in the file's format.
    private static func contents(_ job: Job, _ resealed: [SealedSecretManifest]) throws -> [UInt8] {
        if resealed.count == 1, let editor = try? SealedSecretEditor(file: job.bytes) {
            return try inFile(job.file) { try editor.settingItems(resealed[0].encryptedData, sealedBy: job.target.keyIDs) }
        }
        let isJSON = job.bytes.withUnsafeBytes { ManifestReader.isJSON($0) }
        return try (isJSON ? ManifestFormat.json : .yaml).write(resealed.map(\.manifestValue))
    }

    /// Progress on stderr: one line rewritten in place on a terminal (files, values, rate), else a line per file.
    final class Progress: Sendable {
        let terminal = isatty(2) == 1
        private let counts = Mutex<(files: Int, values: Int)>((0, 0))
        private let started = ContinuousClock.now

        func wrote(_ file: String, values: Int) {
            let (files, total) = counts.withLock { counts in
                counts.files += 1
                counts.values += values
                return counts
            }
            if terminal {
                let seconds = max((ContinuousClock.now - started).seconds, 0.001)
                var line = "\r\u{1B}[2Kcachet: re-sealed \(files) file(s), \(total) values, \(Int(Double(total) / seconds)) values/s"
                line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
            } else {
                StandardError.write("cachet: re-sealed \(file) (\(values) value\(values == 1 ? "" : "s"))")
            }
        }

        func finish() {
            if terminal { _ = Glibc.write(2, "\n", 1) }
        }
    }
}
