import FoundationEssentials

internal import CachetKubeSyntax

/// Format v2 (docs/wire-format.md §5): an age v1 file with one X25519 stanza per recipient, whose plaintext is a
/// binding line naming the scope and item, then the value. Opens with `age -d` too: break-glass needs no Cachet.
public enum EnvelopeV2 {
    /// The most recipients one value may be sealed to (openers refuse more stanzas; see ``AgeFile``).
    public static var maximumRecipients: Int { AgeFile.maximumStanzas }

    /// Whether `envelope` (decoded bytes) is a v2 value. v1 and v2 are told apart by their bytes alone.
    public static func isV2(_ envelope: some ContiguousBytes) -> Bool {
        envelope.withUnsafeBytes { AgeFile.isAgeFile($0) }
    }

    /// The binding line for `item` under `scope` (§5.3), with its LF: `cachet.dev/v2 strict team-a app password`.
    ///
    /// One reading only: no field can hold a space or LF (namespaces, names and item keys are checked here), and
    /// the scope word fixes how many fields follow.
    public static func bindingLine(scope: SealingScope, item: String) throws -> [UInt8] {
        try scope.validate()
        try validateItem(item)
        let fields: String
        switch scope {
        case .strict(let namespace, let name): fields = "strict \(namespace) \(name)"
        case .namespaceWide(let namespace): fields = "namespace-wide \(namespace)"
        case .clusterWide: fields = "cluster-wide"
        }
        return Array("cachet.dev/v2 \(fields) \(item)\n".utf8)
    }

    /// Throws unless `item` is a valid Secret key (`[-._a-zA-Z0-9]+`, at most 253, not `.` or `..…`).
    public static func validateItem(_ item: String) throws {
        guard KubeSyntax.isItemKey(item) else {
            throw CachetCryptoError(
                .invalidScope, "item key \(item.quotedForMessage()) is not a valid Secret key (letters, digits, '-', '_' and '.')")
        }
    }

    /// Seals `value` as item `item` of an object in `scope`, to every recipient (duplicates once, order kept).
    public static func seal(
        _ value: some ContiguousBytes, to recipients: [AgeRecipient], scope: SealingScope, item: String
    ) throws -> [UInt8] {
        var distinct: [AgeRecipient] = []
        for recipient in recipients where !distinct.contains(recipient) { distinct.append(recipient) }
        guard !distinct.isEmpty else { throw CachetCryptoError(.invalidKey, "no age recipient to seal to") }
        guard distinct.count <= maximumRecipients else {
            throw CachetCryptoError(.invalidKey, "\(distinct.count) age recipients; a value may have at most \(maximumRecipients)")
        }
        let binding = try bindingLine(scope: scope, item: item)
        let plaintext = try value.withUnsafeBytes { value in
            let plaintext = try SecureBytes(count: binding.count + value.count)
            plaintext.withUnsafeMutableBytes { output in
                binding.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: output[0..<binding.count]).copyMemory(from: $0) }
                if value.count > 0 { UnsafeMutableRawBufferPointer(rebasing: output[binding.count...]).copyMemory(from: value) }
            }
            return plaintext
        }
        return try plaintext.withUnsafeBytes { try AgeFile.encrypt($0, to: distinct) }
    }

    /// Seals and returns the text written into `encryptedData`: one line of padded base64.
    public static func sealedValue(
        _ value: some ContiguousBytes, to recipients: [AgeRecipient], scope: SealingScope, item: String
    ) throws -> String {
        Base64.encode(try seal(value, to: recipients, scope: scope, item: item))
    }

    /// Opens a v2 envelope with any of `identities`, for `item` of an object in `scope`.
    ///
    /// Structural damage (public bytes: not age, a malformed header) throws ``CachetCryptoError/Code/malformedValue``
    /// with the reason. Everything a key decides — no stanza for these identities, a bad MAC, a damaged payload, a
    /// binding line that is missing, malformed or for another scope, name or item — throws the one `cannotOpen`.
    public static func open(
        _ envelope: some ContiguousBytes, with identities: [AgeIdentity], scope: SealingScope, item: String
    ) throws -> SecureBytes {
        try envelope.withUnsafeBytes { try open($0, with: identities, scope: scope, item: item).plaintext }
    }

    /// Opens a sealed value given as base64 text.
    public static func open(
        sealedValue: some StringProtocol, with identities: [AgeIdentity], scope: SealingScope, item: String
    ) throws -> SecureBytes {
        try open(Base64.decode(sealedValue), with: identities, scope: scope, item: item)
    }

    /// The opener key rings use: tries identities in order, each one's `preferredStanza` first (where that identity
    /// opened the previous value), asking `allowOperation` before each X25519 operation. Returns which identity and
    /// stanza opened it.
    package static func open(
        _ envelope: UnsafeRawBufferPointer, with identities: [AgeIdentity], scope: SealingScope, item: String,
        preferredStanza: (AgeIdentity) -> Int? = { _ in nil }, allowOperation: () -> Bool = { true }
    ) throws -> (plaintext: SecureBytes, identity: Int, stanza: Int) {
        let binding = try bindingLine(scope: scope, item: item)
        let header: AgeFile.Header
        do {
            header = try AgeFile.parseHeader(envelope)
        } catch AgeFailure.header(let reason) {
            throw CachetCryptoError(.malformedValue, "not a v2 sealed value: \(reason)")
        }
        for (index, identity) in identities.enumerated() {
            let opened = try AgeFile.withFileKeySpace { fileKey throws -> (SecureBytes, Int)? in
                let stanza: Int?
                do {
                    stanza = try AgeFile.unwrapFileKey(
                        header, identity: identity, into: fileKey, preferredStanza: preferredStanza(identity),
                        allowOperation: allowOperation)
                } catch is AgeFailure {
                    // A low-order share (age aborts the file). Whether it is reached depends on which identity is
                    // tried and whether an earlier stanza opened, so a distinct error would tell a prober whether a
                    // copied stanza is this cluster's: it is the one wrong-key error instead.
                    throw CachetCryptoError.cannotOpen
                }
                guard let stanza else { return nil }
                // The file key belonged to this identity, so no other identity can give another plaintext: from here
                // every failure is final, and reads exactly as a wrong key does.
                return (try decrypt(envelope, header: header, fileKey: UnsafeRawBufferPointer(fileKey), binding: binding), stanza)
            }
            if let (value, stanza) = opened { return (value, index, stanza) }
        }
        throw CachetCryptoError.cannotOpen
    }

    /// Decrypts the payload into secret memory (``SecureBytes``) allocated once: the binding line is compared as it goes by, the
    /// value after it is kept. Nothing is returned unless every chunk verified and the binding matched.
    private static func decrypt(
        _ envelope: UnsafeRawBufferPointer, header: AgeFile.Header, fileKey: UnsafeRawBufferPointer, binding: [UInt8]
    ) throws -> SecureBytes {
        guard let length = AgeFile.plaintextLength(envelope, header: header), length >= binding.count else {
            throw CachetCryptoError.cannotOpen
        }
        let value = try SecureBytes(count: length - binding.count)
        var offset = 0
        var bound = true
        do {
            try AgeFile.decryptPayload(envelope, header: header, fileKey: fileKey) { chunk in
                // A chunk boundary can never fall inside the binding line (at most ~600 bytes, chunks 64 KiB), but
                // nothing here assumes it.
                let skip = max(0, min(chunk.count, binding.count - offset))
                for position in 0..<skip where chunk[position] != binding[offset + position] { bound = false }
                let end = offset + chunk.count - binding.count
                guard end <= value.count else { throw AgeFailure.payload }
                if chunk.count > skip {
                    value.withUnsafeMutableBytes { output in
                        UnsafeMutableRawBufferPointer(rebasing: output[(offset + skip - binding.count)..<end])
                            .copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[skip...]))
                    }
                }
                offset += chunk.count
            }
        } catch is AgeFailure {
            throw CachetCryptoError.cannotOpen
        }
        guard bound, offset == length else { throw CachetCryptoError.cannotOpen }
        return value
    }
}
