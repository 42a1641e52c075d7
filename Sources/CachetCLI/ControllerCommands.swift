#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
import CachetTransport

/// `cachet cert`: the controller's newest certificate (kubeseal's `--fetch-cert`).
struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Print the controller's current sealing certificate (to seal offline with --cert).")

    @OptionGroup var controller: ControllerOptions

    @Option(name: [.customShort("w"), .customLong("output")], help: "Write the certificate to this file instead of stdout.")
    var output: String?

    func run() throws {
        let pem = try ControllerCalls.fetchCertificate(controller.values.client)
        if let output {
            try OutputFiles.replace(output, contents: pem, mode: 0o644)
        } else {
            try pem.withUnsafeBytes { try StandardStreams.write($0, to: 1) }
        }
    }
}

/// `cachet recipients`: the age recipient the controller seals v2 to, its newest key's (format v2's `cachet cert`).
struct RecipientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipients",
        abstract: "Print the controller's age recipient (its newest key's), to seal format v2 offline with --recipients-file.")

    @OptionGroup var controller: ControllerOptions

    @Option(name: [.customShort("w"), .customLong("output")], help: "Write the recipients to this file instead of stdout.")
    var output: String?

    func run() throws {
        let text = try ControllerCalls.fetchRecipients(controller.values.client).map { "\($0)\n" }.joined()
        if let output {
            try OutputFiles.replace(output, contents: Array(text.utf8), mode: 0o644)
        } else {
            try StandardStreams.writeOutput(text)
        }
    }
}

/// `cachet validate`: ask the controller whether it can decrypt SealedSecrets (kubeseal's `--validate`).
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check with the controller that it can decrypt each SealedSecret of a file.",
        discussion: """
            Sends each SealedSecret to the controller's /v1/verify; exits 1 if any cannot be decrypted (wrong key, \
            wrong scope, altered values). The controller answers only yes or no: it never says why.
            """)

    @OptionGroup var controller: ControllerOptions

    @Option(name: [.customShort("f"), .customLong("file")], parsing: .singleValue,
            help: "Read SealedSecrets from this file instead of stdin. Repeatable.")
    var files: [String] = []

    func run() throws {
        let client = controller.values.client
        var failures: [String] = []
        for file in files.isEmpty ? [nil] : files.map(Optional.some) {
            if let failure = try validate(file, client: client) { failures.append(failure) }
        }
        guard failures.isEmpty else { throw CommandFailure(failures.joined(separator: "; ")) }
    }

    /// Checks one input; a message if some of it cannot be decrypted.
    private func validate(_ file: String?, client: ControllerClient) throws -> String? {
        let inputName = file ?? "<stdin>"
        let objects = try ControllerCalls.readSealedSecrets(file).objects
        var failed = 0
        for (object, _) in objects {
            let response = try ControllerCalls.post(client, "/v1/verify", object)
            switch response.status {
            case 200: continue
            case 409:
                failed += 1
                StandardError.write("cachet: error: \(inputName): document \(object.document) (\(object.label)): "
                                         + "the controller cannot decrypt it (wrong key, wrong scope, or altered values)")
            default:
                throw ControllerCalls.unexpected(response, from: "/v1/verify", client: client)
            }
        }
        guard failed == 0 else { return "\(failed) of \(objects.count) SealedSecrets in \(inputName) cannot be decrypted" }
        StandardError.write("cachet: \(inputName): the controller can decrypt all \(objects.count) SealedSecret\(objects.count == 1 ? "" : "s")")
        return nil
    }
}

/// `cachet reencrypt`: re-seal to the controller's newest key, after a key renewal (kubeseal's `--re-encrypt`).
struct ReencryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reencrypt",
        abstract: "Re-encrypt SealedSecrets to the controller's newest key.",
        discussion: """
            Sends each SealedSecret to the controller's /v1/rotate and writes the result: with -f and no -w the file is \
            rewritten in place (atomically), as kubeseal does. A file holding one SealedSecret keeps its bytes except \
            the values (comments, order and quoting stay); a file of several is written out as -o says. The scope \
            stays the one the values were sealed for.
            """)

    @OptionGroup var controller: ControllerOptions

    @Option(name: [.customShort("f"), .customLong("file")], parsing: .singleValue,
            help: "Read SealedSecrets from this file instead of stdin. Repeatable: each file is rewritten in place.")
    var files: [String] = []

    @Option(name: .customLong("key"), parsing: .singleValue,
            help: "Offline: a private key file or key directory (or a Secret backup) that opens the values. Repeatable; needs PATH arguments.")
    var keys: [String] = []

    @Argument(help: "Offline (with --key): files or directories whose SealedSecrets are re-sealed to what their .cachet.yaml rule seals to now.")
    var paths: [String] = []

    @Option(name: .customLong("cert"), help: "Offline: seal to this certificate (format v1) instead of the rules' targets.")
    var cert: String?

    @Option(name: .customLong("recipients-file"), parsing: .singleValue,
            help: "Offline: seal format v2 to the recipients in this file instead of the rules' targets. Repeatable.")
    var recipientsFiles: [String] = []

    @Option(name: [.customShort("w"), .customLong("output")], help: "Write the result here (default: back to -f, or stdout).")
    var output: String?

    @Option(name: [.customShort("o"), .customLong("format")], help: "Output format for several SealedSecrets: json or yaml (default: as the input).")
    var format: ManifestFormatOption?

    func validate() throws {
        if files.count > 1, output != nil { throw ValidationError("-w names one output; with several -f each file is rewritten in place") }
        if !keys.isEmpty || !paths.isEmpty || cert != nil || !recipientsFiles.isEmpty {
            guard !keys.isEmpty, !paths.isEmpty else {
                throw ValidationError("offline re-encryption takes --key KEY and PATH arguments (cachet reencrypt --key keys/ overlays/); without them the controller re-encrypts -f files")
            }
            guard files.isEmpty, output == nil, format == nil else { throw ValidationError("-f, -w and -o are for re-encryption through the controller, not with --key") }
            guard cert == nil || recipientsFiles.isEmpty else { throw ValidationError("--cert seals format v1, --recipients-file format v2: one or the other") }
        }
    }

    func run() throws {
        if !keys.isEmpty { return try runOffline() }
        let client = controller.values.client
        // Every file is re-encrypted before any is written, so a failure part-way leaves them all as they were. The
        // objects of all files go to the controller together, many to a request.
        let inputs = try (files.isEmpty ? [nil] : files.map(Optional.some)).map { file in (file, try ControllerCalls.readSealedSecrets(file)) }
        var rotated = try ControllerCalls.rotate(inputs.flatMap { file, input in
            input.objects.map { (label: "\(file ?? "<stdin>"): document \($0.0.document) (\($0.0.label))", object: $0.0) }
        }, client: client)[...]
        let results = try inputs.map { file, input in
            let mine = Array(rotated.prefix(input.objects.count))
            rotated = rotated.dropFirst(input.objects.count)
            return (file, try output(of: file, input: input.bytes, rotated: mine))
        }
        for (file, bytes) in results {
            if let destination = output ?? file {
                try OutputFiles.replace(destination, contents: bytes, mode: 0o644, keepExistingMode: destination == file)
            } else {
                try bytes.withUnsafeBytes { try StandardStreams.write($0, to: 1) }
            }
        }
    }

    /// `--key … PATH…`: opened here with the private keys, sealed again to the rules' targets (or --cert,
    /// --recipients-file); a summary table at the end.
    private func runOffline() throws {
        for path in paths where !SecretFiles.exists(path) { throw CommandFailure.usage("\(path): no such file or directory") }
        let keyRing = try KeyRing.load(paths: keys)
        var explicit: SealingTarget?
        if let cert { explicit = .certificate(try KeyFiles.readSealingKey(at: cert)) }
        if !recipientsFiles.isEmpty { explicit = .recipients(try recipientsFiles.flatMap { try KeyFiles.readRecipients(at: $0) }) }
        let jobs = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var run = OfflineReencryption(keyRing: keyRing, explicitTarget: explicit, jobs: jobs)
        let progress = OfflineReencryption.Progress()
        let summary = run.run(paths, progress: progress)
        progress.finish()
        for failure in run.failures { StandardError.write("cachet: error: \(failure)") }
        let rate = summary.seconds > 0 ? Int(Double(summary.values) / summary.seconds) : 0
        try StandardStreams.writeOutput("""
            files  re-sealed  unchanged  failed  values  seconds  values/s
            \(pad(summary.files, 5))  \(pad(summary.resealed, 9))  \(pad(summary.unchanged, 9))  \(pad(summary.failed, 6))  \(pad(summary.values, 6))  \(pad(summary.seconds, 7))  \(pad(rate, 8))

            """)
        if summary.failed > 0 { throw CommandFailure.alreadyReported(exitCode: 1) }
    }

    private func pad(_ number: Int, _ width: Int) -> String {
        let text = String(number)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Two decimals.
    private func pad(_ number: Double, _ width: Int) -> String {
        let hundredths = Int((number * 100).rounded())
        let text = "\(hundredths / 100)." + (hundredths % 100 < 10 ? "0" : "") + "\(hundredths % 100)"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// One input's bytes to write back, given its objects re-encrypted.
    private func output(of file: String?, input: [UInt8], rotated: [SealedSecretManifest]) throws -> [UInt8] {
        if rotated.count == 1, let editor = try? SealedSecretEditor(file: input) {
            // One object: change only the values (and the sealed-by hint), so the diff shows just them.
            return try inFile(file ?? "<stdin>") { try editor.settingItems(rotated[0].encryptedData, sealedBy: rotated[0].sealedBy) }
        }
        let isJSON = input.withUnsafeBytes { ManifestReader.isJSON($0) }
        let chosen: ManifestFormat = format.map { $0 == .yaml ? .yaml : .json } ?? (isJSON ? .json : .yaml)
        return try chosen.write(rotated.map(\.manifestValue))
    }
}

/// What the three commands share.
enum ControllerCalls {
    /// How long to wait for a controller that is still generating its first key (RSA-4096 takes a few seconds).
    static let firstKeyWait = 30

    /// The certificate PEM, checked to be a certificate (a proxy's error page must not end up in a file). A
    /// controller that has just started answers 503 until its first key exists: that is waited for, briefly.
    static func fetchCertificate(_ client: ControllerClient) throws -> [UInt8] {
        let response = try getWaitingForFirstKey(client, "/v1/cert.pem", accept: "application/x-pem-file, */*")
        guard response.status == 200 else { throw unexpected(response, from: "/v1/cert.pem", client: client) }
        do {
            _ = try Certificate(pem: response.body)
        } catch {
            throw CommandFailure("\(client.target) answered /v1/cert.pem with something that is not a certificate")
        }
        return response.body
    }

    /// The controller's age recipients (`/v1/recipients.txt`: its newest key's). Refuses a controller that cannot open
    /// format v2, so that `cachet seal --v2` never writes values the cluster cannot read.
    static func fetchRecipients(_ client: ControllerClient) throws -> [AgeRecipient] {
        let response = try getWaitingForFirstKey(client, "/v1/recipients.txt", accept: "text/plain, */*")
        if response.status == 404 {
            throw CommandFailure("\(client.target) serves no age recipients: it is Bitnami's controller or an older cachet-controller, which cannot open format v2",
                                 hint: "seal format v1 (without --v2), or upgrade the controller")
        }
        guard response.status == 200 else { throw unexpected(response, from: "/v1/recipients.txt", client: client) }
        let text = String(decoding: response.body, as: UTF8.self)
        guard text.utf8.split(separator: UInt8(ascii: "\n")).contains(where: { !$0.isEmpty && $0.first != UInt8(ascii: "#") }) else {
            throw CommandFailure("\(client.target) holds no age identity on its newest key (keys made before format v2, or imported without one, have none), so there is nothing to seal v2 values to",
                                 hint: "it gets one with its next key renewal (kill -USR1 renews now); until then seal format v1")
        }
        do {
            return try AgeRecipient.list(in: text)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(client.target) answered /v1/recipients.txt with something that is not a recipients list: \(error.message)")
        }
    }

    /// GET `path`; a controller that has just started answers 503 until its first key exists: that is waited for,
    /// briefly.
    private static func getWaitingForFirstKey(_ client: ControllerClient, _ path: String, accept: String) throws -> BlockingHTTP.Response {
        var response = try client.send("GET", path, accept: accept)
        var waited = 0
        while response.status == 503, waited < firstKeyWait {
            if waited == 0 {
                StandardError.write("cachet: \(client.target) has no sealing key yet; waiting up to \(firstKeyWait) s for it")
            }
            sleep(1)
            waited += 1
            response = try client.send("GET", path, accept: accept)
        }
        return response
    }

    /// Every SealedSecret of the input, checked locally first (so errors name the file, document and line), and the
    /// input's bytes (read once: stdin cannot be read twice).
    static func readSealedSecrets(_ file: String?) throws -> (bytes: [UInt8], objects: [(ManifestObject, SealedSecretManifest)]) {
        let inputName = file ?? "<stdin>"
        let input = try SecretFiles.read(file ?? "-").withUnsafeBytes { Array($0) }
        let objects = try inFile(inputName) { try ManifestReader.objects(in: ManifestReader.documents(in: input)) }
        guard !objects.isEmpty else { throw CommandFailure("no SealedSecret found in \(inputName)") }
        return (input, try objects.map { object in (object, try inFile(inputName) { try SealedSecretManifest(object) }) })
    }

    /// POSTs one object as JSON; waits and retries while the controller's rate limit says so (it allows about two
    /// requests a second per client, so a long file takes a while rather than failing).
    static func post(_ client: ControllerClient, _ path: String, _ object: ManifestObject) throws -> BlockingHTTP.Response {
        try post(client, path, body: try ManifestValue(node: object.node).jsonBytes)
    }

    static func post(_ client: ControllerClient, _ path: String, body: [UInt8]) throws -> BlockingHTTP.Response {
        for _ in 0..<60 {
            let response = try client.send("POST", path, body: body, accept: "application/json, */*")
            guard response.status == 429 else { return response }
            let wait = response.header("Retry-After").flatMap(Int.init).map { min(max($0, 1), 10) } ?? 1
            sleep(UInt32(wait))
        }
        throw CommandFailure("the controller kept refusing \(path) with HTTP 429 (too many requests); try again later")
    }

    /// Items per `/v1/rotate` request: a quarter of the controller's default per-request cap (256 items, 512
    /// operations), so that keys tried on the way still fit, and well within a client's burst of 256 operations.
    static let rotateBatchItems = 64

    /// Every object re-encrypted by the controller, in order. Many objects go in one request (a `List`; cachet's
    /// controller answers a `List` of results): at about two requests a second per client, one object per request
    /// took 51 s for 100. A controller that does not answer a `List` (Bitnami's) gets one object per request. Objects
    /// the controller had no budget left for are sent again; one it cannot decrypt fails the whole run, naming it.
    static func rotate(_ objects: [(label: String, object: ManifestObject)], client: ControllerClient) throws -> [SealedSecretManifest] {
        var results = [SealedSecretManifest?](repeating: nil, count: objects.count)
        var pending = Array(objects.indices)[...]
        var listsWork = true
        var aloneNext = false
        let progress = RotateProgress(total: objects.count)
        defer { progress.finish() }
        while !pending.isEmpty {
            var batch: [Int] = []
            var items = 0
            for index in pending {
                let cost = max(1, (try? SealedSecretManifest(objects[index].object))?.encryptedData.count ?? 1)
                guard batch.isEmpty || (listsWork && items + cost <= rotateBatchItems) else { break }
                batch.append(index)
                items += cost
            }
            pending = pending.dropFirst(batch.count)
            var retry: [Int] = []
            let sendAlone = aloneNext
            aloneNext = false
            if listsWork, !sendAlone, batch.count > 1, let answers = try rotateList(batch.map { objects[$0].object }, client: client) {
                for (index, answer) in zip(batch, answers) {
                    switch answer {
                    case .rotated(let manifest): results[index] = manifest
                    case .retry: retry.append(index)
                    case .cannotDecrypt: throw cannotDecrypt(objects[index].label)
                    }
                }
                // Nothing done at all: wait for the budget to refill rather than asking again at once, and send the
                // first object alone next (cachet-controller always tries a List's first object; a controller that did
                // not would otherwise be asked the same thing for ever).
                if retry.count == batch.count {
                    sleep(1)
                    aloneNext = true
                }
            } else {
                if batch.count > 1 {
                    if !sendAlone { listsWork = false }
                    retry = Array(batch.dropFirst())
                }
                let index = batch[0]
                let response = try post(client, "/v1/rotate", objects[index].object)
                switch response.status {
                case 200:
                    guard let objects = try? ManifestReader.objects(in: ManifestReader.documents(in: response.body)), objects.count == 1,
                          let result = try? SealedSecretManifest(objects[0])
                    else { throw CommandFailure("the controller's answer for \(objects[index].label) is not a SealedSecret") }
                    results[index] = result
                case 409:
                    throw cannotDecrypt(objects[index].label)
                default:
                    throw unexpected(response, from: "/v1/rotate", client: client)
                }
            }
            pending = (retry + pending)[...]
            progress.update(done: results.count(where: { $0 != nil }))
        }
        return results.map { $0! }
    }

    enum RotateAnswer { case rotated(SealedSecretManifest), retry, cannotDecrypt }

    /// One `/v1/rotate` of a `List`; nil when the controller does not answer with a `List` of as many results (it does
    /// not take Lists: Bitnami's reads one as an empty SealedSecret).
    private static func rotateList(_ objects: [ManifestObject], client: ControllerClient) throws -> [RotateAnswer]? {
        var values: [ManifestValue] = []
        for object in objects { values.append(try ManifestValue(node: object.node)) }
        let list = ManifestValue.object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(values))])
        let response = try post(client, "/v1/rotate", body: list.jsonBytes)
        guard response.status == 200, let answer = try? ManifestValue(json: response.body), answer["kind"]?.stringValue == "List",
              let items = answer["items"]?.arrayValue, items.count == objects.count
        else {
            if response.status == 413 || response.status >= 500 || response.status == 200 || response.status == 400 { return nil }
            throw unexpected(response, from: "/v1/rotate", client: client)
        }
        return try items.map { item in
            if item["kind"]?.stringValue == "Status" {
                switch item["code"] {
                case .number("409"): return .cannotDecrypt
                case .number("429"): return .retry
                default: throw CommandFailure("the controller's answer to /v1/rotate holds a Status it should not: \(item["message"]?.stringValue?.prefix(200) ?? "")")
                }
            }
            guard let object = try? ManifestReader.objects(in: ManifestReader.documents(in: item.jsonBytes)).first,
                  let manifest = try? SealedSecretManifest(object)
            else { throw CommandFailure("the controller's answer to /v1/rotate holds an item that is not a SealedSecret") }
            return .rotated(manifest)
        }
    }

    private static func cannotDecrypt(_ label: String) -> CommandFailure {
        CommandFailure("\(label): the controller cannot decrypt it, so it cannot re-encrypt it; nothing was written")
    }

    /// Objects re-encrypted so far, on stderr when there is more than one request's worth: a bar that rewrites itself
    /// on a terminal, a line per request otherwise.
    final class RotateProgress {
        let total: Int
        let terminal = isatty(2) == 1
        let started = ContinuousClock.now
        var shown = false

        init(total: Int) { self.total = total }

        func update(done: Int) {
            guard total > rotateBatchItems || shown else { return }
            shown = true
            let seconds = max((ContinuousClock.now - started).seconds, 0.001)
            let line = "cachet: re-encrypted \(done) of \(total) SealedSecrets, \(Int(Double(done) / seconds)) a second"
            if terminal {
                var text = "\r\u{1B}[2K" + line
                text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
            } else {
                StandardError.write(line)
            }
        }

        func finish() {
            if terminal, shown { _ = Glibc.write(2, "\n", 1) }
        }
    }

    static func unexpected(_ response: BlockingHTTP.Response, from path: String, client: ControllerClient) -> CommandFailure {
        // The controller's bodies are short plain text; anything else is shown only by its status.
        let text = String(decoding: response.body.prefix(200), as: UTF8.self)
        let plain = response.header("Content-Type")?.hasPrefix("text/plain") == true && !text.contains("\u{1B}")
        let detail = plain ? ": " + (text.split(separator: "\n").first.map(String.init) ?? "") : ""
        return CommandFailure("\(client.target) answered \(path) with HTTP \(response.status)\(detail)",
                              hint: response.status == 404 ? "is that Service the sealed-secrets controller? see --controller-name" : nil)
    }
}
