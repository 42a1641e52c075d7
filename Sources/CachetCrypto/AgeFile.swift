/// How an age file failed to open, in the terms of the C2SP test kit (CCTV's `expect:` values). Only ``header``
/// and ``armor`` carry a reason: they depend on public bytes alone. The others are what a key decides, and
/// EnvelopeV2 reports them all as the one `cannotOpen` error.
package enum AgeFailure: Error, Equatable {
    case header(String)
    case noMatch
    case hmac
    case payload
    case armor(String)
}

/// The age v1 binary format (C2SP age specification; docs/wire-format.md §5): header parsing and writing, X25519
/// stanzas, the header MAC and the STREAM payload.
package enum AgeFile {
    static let versionLine = Array("age-encryption.org/v1\n".utf8)
    static let fileKeyByteCount = 16
    static let nonceByteCount = 16
    static let chunkSize = 64 * 1024
    /// The most stanzas a header may hold. age sets no bound; Cachet does, so that a crafted value cannot make an
    /// opener do unbounded X25519 work (stanzas × identities): 256 recipients is far beyond any real use.
    package static let maximumStanzas = 256
    static let x25519Label = "age-encryption.org/v1/X25519"

    /// Whether `bytes` start as an age v1 file: the test that tells a v2 value from a v1 one (whose first two bytes
    /// are an RSA length of at most 2,048, never "ag").
    package static func isAgeFile(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= versionLine.count && bytes.prefix(versionLine.count).elementsEqual(versionLine)
    }

    package struct Stanza: Sendable {
        package let arguments: [String]
        package let body: [UInt8]
        package var type: String { arguments[0] }
    }

    package struct Header: Sendable {
        package let stanzas: [Stanza]
        let mac: [UInt8]
        /// The MAC covers the header's bytes up to and including `---`, as they appear in the file.
        let macInputEnd: Int
        /// Where the payload (its 16-byte nonce first) starts.
        let payloadStart: Int

        /// Indices of the X25519 stanzas.
        var x25519Stanzas: [Int] { stanzas.indices.filter { stanzas[$0].type == "X25519" } }
    }

    // MARK: Reading

    /// Parses the header strictly by the specification, and checks every X25519 stanza's shape (one 32-byte share
    /// in canonical base64, a 32-byte body) up front, so that which error a damaged value gives never depends on
    /// which key is tried first.
    package static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws -> Header {
        var position = 0
        func nextLine() throws -> UnsafeRawBufferPointer {
            guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else {
                throw AgeFailure.header("the header ends before its MAC line")
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[position..<end])
            position = end + 1
            return line
        }
        guard isAgeFile(bytes) else {
            throw AgeFailure.header(bytes.starts(with: "age-encryption.org/".utf8)
                ? "an age file of an unsupported version" : "not an age file (no age-encryption.org/v1 line)")
        }
        position = versionLine.count
        var stanzas: [Stanza] = []
        while true {
            let lineStart = position
            let line = try nextLine()
            if line.starts(with: "-> ".utf8) {
                guard stanzas.count < maximumStanzas else { throw AgeFailure.header("more than \(maximumStanzas) recipient stanzas") }
                stanzas.append(try readStanza(arguments: UnsafeRawBufferPointer(rebasing: line.dropFirst(3)), nextLine))
            } else if line.starts(with: "---".utf8) {
                // Exactly "--- " and 43 characters: the MAC's one canonical spelling.
                guard line.count == 4 + 43, line[3] == UInt8(ascii: " "),
                      let mac = Base64.decodeUnpadded(UnsafeRawBufferPointer(rebasing: line.dropFirst(4))), mac.count == 32
                else { throw AgeFailure.header("the MAC line is malformed") }
                guard !stanzas.isEmpty else { throw AgeFailure.header("the header has no recipient stanza") }
                guard bytes.count - position >= nonceByteCount else { throw AgeFailure.header("the payload nonce is missing or short") }
                let header = Header(stanzas: stanzas, mac: mac, macInputEnd: lineStart + 3, payloadStart: position)
                for index in header.x25519Stanzas { try checkX25519Shape(stanzas[index]) }
                return header
            } else {
                throw AgeFailure.header("a header line is neither a stanza nor the MAC line")
            }
        }
    }

    private static func readStanza(
        arguments line: UnsafeRawBufferPointer, _ nextLine: () throws -> UnsafeRawBufferPointer
    ) throws -> Stanza {
        var arguments: [String] = []
        for argument in line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false) {
            guard !argument.isEmpty, argument.allSatisfy({ $0 >= 33 && $0 <= 126 }) else {
                throw AgeFailure.header("a stanza argument is empty or holds a character outside printable ASCII")
            }
            arguments.append(String(decoding: argument, as: UTF8.self))
        }
        var body: [UInt8] = []
        while true {
            let line = try nextLine()
            guard line.count <= 64, let bytes = Base64.decodeUnpadded(line) else {
                throw AgeFailure.header("a stanza body line is longer than 64 columns or not canonical unpadded base64")
            }
            body += bytes
            if line.count < 64 { break }  // a short line (possibly empty) ends the body
        }
        return Stanza(arguments: arguments, body: body)
    }

    private static func checkX25519Shape(_ stanza: Stanza) throws {
        guard stanza.arguments.count == 2 else { throw AgeFailure.header("an X25519 stanza must have exactly one argument") }
        guard let share = Array(stanza.arguments[1].utf8).withUnsafeBytes({ Base64.decodeUnpadded($0) }),
              share.count == X25519.keyByteCount else {
            throw AgeFailure.header("an X25519 stanza's share is not 32 bytes in canonical base64")
        }
        // Checked before any decryption: a body of another length could otherwise serve as a partitioning oracle.
        guard stanza.body.count == fileKeyByteCount + ChaCha20Poly1305.tagByteCount else {
            throw AgeFailure.header("an X25519 stanza's body is not 32 bytes")
        }
    }

    /// Lends `body` wiped scratch space for a file key (16 bytes): it never reaches the heap, and is zeroed after.
    package static func withFileKeySpace<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) throws -> Result {
        try withWipedScratch(byteCount: fileKeyByteCount, body)
    }

    /// Unwraps the file key with `identity` into `fileKey` (16 bytes), trying `preferredStanza` first. Returns the
    /// stanza that opened, or nil when none opens with it; stops early (nil) when `allowOperation` refuses the next
    /// X25519 operation.
    package static func unwrapFileKey(
        _ header: Header, identity: AgeIdentity, into fileKey: UnsafeMutableRawBufferPointer, preferredStanza: Int? = nil,
        allowOperation: () -> Bool = { true }
    ) throws -> Int? {
        var order = header.x25519Stanzas
        if let preferred = preferredStanza, let at = order.firstIndex(of: preferred) {
            order.remove(at: at)
            order.insert(preferred, at: 0)
        }
        for index in order {
            guard allowOperation() else { return nil }
            let stanza = header.stanzas[index]
            // Checked to decode to 32 bytes by parseHeader; a failure here would be a bug, reported as damage.
            guard let share = Array(stanza.arguments[1].utf8).withUnsafeBytes({ Base64.decodeUnpadded($0) }) else {
                throw AgeFailure.header("an X25519 stanza's share is not canonical base64")
            }
            if try unwrap(stanza.body, share: share, identity: identity, into: fileKey) { return index }
        }
        return nil
    }

    /// One stanza: false if it is not for this identity; throws for an all-zero shared secret (age aborts the file).
    private static func unwrap(
        _ body: [UInt8], share: [UInt8], identity: AgeIdentity, into fileKey: UnsafeMutableRawBufferPointer
    ) throws -> Bool {
        precondition(fileKey.count == fileKeyByteCount)
        return try withWipedScratch(byteCount: 2 * X25519.keyByteCount) { scratch in
            let shared = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32])
            let wrapKey = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<64])
            guard identity.secret.withUnsafeBytes({ X25519.sharedSecret($0, share, into: shared) }) else {
                throw AgeFailure.header("an X25519 stanza's share is a low-order point")
            }
            (share + identity.recipient.publicKey).withUnsafeBytes { salt in
                HKDFSHA256.derive(ikm: UnsafeRawBufferPointer(shared), salt: salt, info: x25519Label, into: wrapKey)
            }
            return body.withUnsafeBytes { body in
                ChaCha20Poly1305.open(body, key: UnsafeRawBufferPointer(wrapKey), nonce: zeroNonce, into: fileKey)
            }
        }
    }

    static let zeroNonce = [UInt8](repeating: 0, count: ChaCha20Poly1305.nonceByteCount)

    /// Verifies the header MAC with `fileKey`, then decrypts the payload chunk by chunk, handing each verified
    /// chunk to `release` (in scratch memory wiped afterwards). Throws `.hmac` or `.payload`; what was released
    /// before a payload failure is what the specification calls released plaintext (a caller that must release
    /// all or nothing collects it and discards it on failure).
    package static func decryptPayload(
        _ bytes: UnsafeRawBufferPointer, header: Header, fileKey: UnsafeRawBufferPointer,
        release: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let macOK = try withWipedScratch(byteCount: 64) { scratch in
            let macKey = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32])
            let computed = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<64])
            HKDFSHA256.derive(ikm: fileKey, salt: UnsafeRawBufferPointer(start: nil, count: 0), info: "header", into: macKey)
            HMACSHA256.authenticate(
                key: UnsafeRawBufferPointer(macKey), [UnsafeRawBufferPointer(rebasing: bytes[0..<header.macInputEnd])], into: computed)
            return header.mac.withUnsafeBytes { HMACSHA256.equal(UnsafeRawBufferPointer(computed), $0) }
        }
        guard macOK else { throw AgeFailure.hmac }

        let nonce = UnsafeRawBufferPointer(rebasing: bytes[header.payloadStart..<header.payloadStart + nonceByteCount])
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(header.payloadStart + nonceByteCount)...])
        // Room for one chunk's plaintext, no more than the payload can hold (values are mostly far below 64 KiB).
        try withWipedScratch(byteCount: 32 + min(chunkSize, payload.count)) { scratch in
            let payloadKey = UnsafeRawBufferPointer(rebasing: scratch[0..<32])
            HKDFSHA256.derive(ikm: fileKey, salt: nonce, info: "payload", into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32]))
            let plaintext = UnsafeMutableRawBufferPointer(rebasing: scratch[32...])
            let sealedChunk = chunkSize + ChaCha20Poly1305.tagByteCount
            var offset = 0
            var counter: UInt64 = 0
            while true {
                let remaining = payload.count - offset
                // No final chunk before the end: truncated.
                guard remaining > 0 else { throw AgeFailure.payload }
                let length = min(remaining, sealedChunk)
                // A short chunk cannot hold a tag; an empty final chunk is allowed only as the whole payload.
                guard length >= ChaCha20Poly1305.tagByteCount, length > ChaCha20Poly1305.tagByteCount || counter == 0 else {
                    throw AgeFailure.payload
                }
                let chunk = UnsafeRawBufferPointer(rebasing: payload[offset..<offset + length])
                let output = UnsafeMutableRawBufferPointer(rebasing: plaintext[0..<length - ChaCha20Poly1305.tagByteCount])
                // The final flag is not in the ciphertext: a full-size chunk may be either, so try both (only one can
                // verify). A short chunk can only be final.
                var isFinal = length < sealedChunk || remaining == sealedChunk
                var opened = ChaCha20Poly1305.open(chunk, key: payloadKey, nonce: chunkNonce(counter, final: isFinal), into: output)
                if !opened, length == sealedChunk {
                    isFinal.toggle()
                    opened = ChaCha20Poly1305.open(chunk, key: payloadKey, nonce: chunkNonce(counter, final: isFinal), into: output)
                }
                guard opened else { throw AgeFailure.payload }
                try release(UnsafeRawBufferPointer(output))
                offset += length
                counter += 1
                if isFinal {
                    guard offset == payload.count else { throw AgeFailure.payload }  // bytes after the final chunk
                    return
                }
            }
        }
    }

    /// Decrypts a whole age file (binary, or armored) with the first of `identities` that unwraps its file key, into
    /// secret memory: all or nothing (no plaintext is returned unless every chunk verified). Throws ``AgeFailure``:
    /// `.armor`/`.header` for a file that is not well formed, `.noMatch` when no identity opens it, `.hmac`/`.payload`
    /// for a damaged one. For files a person keeps (key backups), not for sealed values (``EnvelopeV2`` opens those).
    package static func decrypt(_ file: UnsafeRawBufferPointer, identities: [AgeIdentity]) throws -> SecureBytes {
        if AgeArmor.isArmored(file) {
            var binary = try AgeArmor.decode(file)
            defer { binary.withUnsafeMutableBytes { wipe($0) } }
            return try binary.withUnsafeBytes { try decrypt($0, identities: identities) }
        }
        let header = try parseHeader(file)
        return try withFileKeySpace { fileKey in
            var unwrapped = false
            for identity in identities where !unwrapped {
                unwrapped = try unwrapFileKey(header, identity: identity, into: fileKey) != nil
            }
            guard unwrapped else { throw AgeFailure.noMatch }
            guard let length = plaintextLength(file, header: header) else { throw AgeFailure.payload }
            let plaintext = try SecureBytes(count: length)
            var offset = 0
            try decryptPayload(file, header: header, fileKey: UnsafeRawBufferPointer(fileKey)) { chunk in
                guard offset + chunk.count <= length else { throw AgeFailure.payload }
                plaintext.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[offset..<offset + chunk.count]).copyMemory(from: chunk) }
                offset += chunk.count
            }
            guard offset == length else { throw AgeFailure.payload }
            return plaintext
        }
    }

    /// The plaintext a payload holds if it is well formed: its size less one tag per chunk (nil for a size no
    /// well-formed payload has). Lets an opener allocate its output once.
    package static func plaintextLength(_ bytes: UnsafeRawBufferPointer, header: Header) -> Int? {
        let payload = bytes.count - header.payloadStart - nonceByteCount
        let sealedChunk = chunkSize + ChaCha20Poly1305.tagByteCount
        let chunks = max(1, (payload + sealedChunk - 1) / sealedChunk)
        let length = payload - chunks * ChaCha20Poly1305.tagByteCount
        return length >= 0 ? length : nil
    }

    /// The STREAM nonce: an 11-byte big-endian counter, then 1 on the final chunk and 0 otherwise.
    static func chunkNonce(_ counter: UInt64, final: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { nonce[10 - index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        nonce[11] = final ? 1 : 0
        return nonce
    }

    // MARK: Writing

    /// Encrypts `plaintext` to `recipients`: one X25519 stanza each, in order. Throws for a recipient whose key is a
    /// low-order point (every share would give the all-zero secret, which openers refuse).
    package static func encrypt(_ plaintext: UnsafeRawBufferPointer, to recipients: [AgeRecipient]) throws -> [UInt8] {
        try withWipedScratch(byteCount: fileKeyByteCount + 3 * 32) { scratch in
            let fileKey = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<16])
            let ephemeral = UnsafeMutableRawBufferPointer(rebasing: scratch[16..<48])
            let shared = UnsafeMutableRawBufferPointer(rebasing: scratch[48..<80])
            let derived = UnsafeMutableRawBufferPointer(rebasing: scratch[80..<112])
            SystemRandom.fill(fileKey)

            var file = versionLine
            for recipient in recipients {
                SystemRandom.fill(ephemeral)
                let share = X25519.publicKey(of: UnsafeRawBufferPointer(ephemeral))
                guard X25519.sharedSecret(UnsafeRawBufferPointer(ephemeral), recipient.publicKey, into: shared) else {
                    throw CachetCryptoError(.invalidKey, "the age recipient \(recipient) is not a usable X25519 public key (low order)")
                }
                (share + recipient.publicKey).withUnsafeBytes { salt in
                    HKDFSHA256.derive(ikm: UnsafeRawBufferPointer(shared), salt: salt, info: x25519Label, into: derived)
                }
                var body: [UInt8] = []
                ChaCha20Poly1305.seal(UnsafeRawBufferPointer(fileKey), key: UnsafeRawBufferPointer(derived), nonce: zeroNonce, appendingTo: &body)
                // A 32-byte body is 43 characters: one short line, so no wrapping is ever needed.
                file += Array("-> X25519 \(Base64.encodeUnpadded(share))\n\(Base64.encodeUnpadded(body))\n".utf8)
            }
            file += Array("---".utf8)
            var mac = [UInt8](repeating: 0, count: 32)
            HKDFSHA256.derive(ikm: UnsafeRawBufferPointer(fileKey), salt: UnsafeRawBufferPointer(start: nil, count: 0), info: "header", into: derived)
            mac.withUnsafeMutableBytes { output in
                file.withUnsafeBytes { HMACSHA256.authenticate(key: UnsafeRawBufferPointer(derived), [$0], into: output) }
            }
            file += Array(" \(Base64.encodeUnpadded(mac))\n".utf8)

            let nonce = SystemRandom.bytes(count: nonceByteCount)
            file += nonce
            nonce.withUnsafeBytes { nonce in
                HKDFSHA256.derive(ikm: UnsafeRawBufferPointer(fileKey), salt: nonce, info: "payload", into: derived)
            }
            var offset = 0
            var counter: UInt64 = 0
            repeat {
                let end = min(plaintext.count, offset + chunkSize)
                ChaCha20Poly1305.seal(
                    UnsafeRawBufferPointer(rebasing: plaintext[offset..<end]), key: UnsafeRawBufferPointer(derived),
                    nonce: chunkNonce(counter, final: end == plaintext.count), appendingTo: &file)
                offset = end
                counter += 1
            } while offset < plaintext.count
            return file
        }
    }
}
