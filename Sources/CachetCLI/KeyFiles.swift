#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests
import CachetProgram
import CachetTransport

/// Key files on disk from the CLI's side: the sealing key to read, new key pairs to write.
enum KeyFiles {
    static let privateKeyFileName = "tls.key"
    static let certificateFileName = "tls.crt"
    /// No key or certificate file comes near this size; a larger file is a wrong path.
    static let sizeLimit = 1 << 20

    /// Reads the key to seal to: a PEM certificate or public key, `tls.crt` in a key directory, or an `https://` URL
    /// (verified against `certificateAuthority` when given, else the system's trust store).
    static func readSealingKey(at location: String, certificateAuthority: String? = nil) throws -> SealingKey {
        let (pem, source) = try readCertificate(at: location, certificateAuthority: certificateAuthority)
        return try sealingKey(pem: pem, source: source)
    }

    /// The PEM bytes `--cert` names (see ``readSealingKey(at:certificateAuthority:)``), unchecked, and the name of
    /// where they came from for messages.
    static func readCertificate(at location: String, certificateAuthority: String? = nil) throws -> (pem: [UInt8], source: String) {
        let lowered = location.lowercased()
        let pem: [UInt8]
        let source: String
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") {
            pem = try fetch(location, accept: "application/x-pem-file, */*", certificateAuthority: certificateAuthority)
            source = location
        } else {
            let path = lowered.hasPrefix("file://") ? String(location.dropFirst(7)) : location
            source = SecretFiles.isDirectory(path) ? SecretFiles.join(path, certificateFileName) : path
            pem = try SecretFiles.read(source, limit: sizeLimit).withUnsafeBytes { Array($0) }
            guard pem.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
                throw CommandFailure("\(source) is empty",
                                     hint: "was it written by a command that failed? fetch it again (cachet cert -w \(source))")
            }
        }
        return (pem, source)
    }

    /// The body of a 200 answer from `location`, an `https://` URL (or `http://` to this machine).
    static func fetch(_ location: String, accept: String, certificateAuthority: String?) throws -> [UInt8] {
        // Only https, or plain http to this machine (a port-forward): a certificate or recipient fetched over plain
        // HTTP across a network could be swapped in transit, and every value sealed to it would be readable by whoever
        // swapped it.
        guard location.lowercased().hasPrefix("https://") || ControllerClient.isLoopbackHTTP(location) else {
            throw CommandFailure("\(location): plain http:// is fetched only from 127.0.0.1, ::1 and localhost (it can be tampered with in transit)",
                                 hint: "use https://, or download the file and name it instead")
        }
        let authority = try certificateAuthority.map { try SecretFiles.read($0, limit: sizeLimit).withUnsafeBytes { Array($0) } }
        let response: BlockingHTTP.Response
        do {
            response = try BlockingHTTP.send(BlockingHTTP.Request(url: location, headers: [("Accept", accept)]),
                                             tls: BlockingHTTP.TLSSettings(certificateAuthorityPEM: authority), maxBodyBytes: sizeLimit)
        } catch let error as BlockingHTTP.Failure {
            throw CommandFailure("cannot fetch \(location): \(error.message)",
                                 hint: certificateAuthority == nil ? "pass --cert-ca (cert-ca: in .cachet.yaml) if the server's certificate comes from a private CA" : nil)
        }
        guard response.status == 200 else { throw CommandFailure("cannot fetch \(location): HTTP \(response.status)") }
        return response.body
    }

    /// The age recipients of `--recipient` flags (each named by its position when it does not parse; the failure
    /// exits `exitCode`), then those of `--recipients-file` files, in order.
    static func recipients(flags: [String], files: [String], exitCode: Int32 = 1) throws -> [AgeRecipient] {
        var list: [AgeRecipient] = []
        for (index, text) in flags.enumerated() {
            do {
                list.append(try AgeRecipient(text))
            } catch let error as CachetCryptoError {
                throw CommandFailure("--recipient #\(index + 1): \(error.message)", exitCode: exitCode)
            }
        }
        for file in files { list += try readRecipients(at: file) }
        return list
    }

    /// age recipients (`age1…`, one per line, `#` comments) from a file or an `https://` URL.
    static func readRecipients(at location: String, certificateAuthority: String? = nil) throws -> [AgeRecipient] {
        let lowered = location.lowercased()
        let text: String
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") {
            text = String(decoding: try fetch(location, accept: "text/plain, */*", certificateAuthority: certificateAuthority), as: UTF8.self)
        } else {
            text = try SecretFiles.read(location, limit: sizeLimit).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        }
        let recipients: [AgeRecipient]
        do {
            recipients = try AgeRecipient.list(in: text)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(location): \(error.message)")
        }
        guard !recipients.isEmpty else { throw CommandFailure("\(location) lists no age recipients") }
        return recipients
    }

    /// The key of a PEM certificate or public key; errors name `source`.
    static func sealingKey(pem: [UInt8], source: String) throws -> SealingKey {
        do {
            return try SealingKey(pem: pem)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(source): \(error.message)", hint: hint(for: error))
        }
    }

    private static func hint(for error: CachetCryptoError) -> String? {
        switch error.code {
        case .certificateNotValid: "fetch the cluster's current certificate, or renew the key pair"
        case .unsupportedKey where error.message.contains("private key"): "pass the certificate, e.g. --cert keys/tls.crt"
        default: nil
        }
    }

    /// Writes a new file that must not exist yet, atomically: a temporary file in the same directory is written and
    /// synced, then hard-linked into place. `link` fails if the name exists, so an existing key is never replaced,
    /// and a crash leaves either no file or a complete one.
    static func createExclusively(_ path: String, contents: UnsafeRawBufferPointer, mode: mode_t) throws {
        let temporary = try OutputFiles.writeTemporary(besides: path, contents: contents, mode: mode)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST {
                throw CommandFailure("\(path) already exists; cachet never overwrites a key file",
                                     hint: "choose another --out directory, or move the old key away first")
            }
            throw CommandFailure("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        OutputFiles.syncDirectory(of: path)
    }
}
