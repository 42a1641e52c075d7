import CachetTestSupport
import Foundation
import Testing
@testable import CachetCrypto

/// Format v2 (docs/wire-format.md §5): round trips, the binding line, and every bad input the format names.
struct EnvelopeV2Tests {
    static let strict = SealingScope.strict(namespace: "team-a", name: "app")

    static func identities(_ count: Int) throws -> [AgeIdentity] {
        try (0..<count).map { _ in try AgeIdentity.generate() }
    }

    static func open(_ envelope: [UInt8], _ identities: [AgeIdentity], scope: SealingScope = strict, item: String = "password") throws -> [UInt8] {
        TestSupport.bytes(try EnvelopeV2.open(envelope, with: identities, scope: scope, item: item))
    }

    static func code(_ body: () throws -> Any) -> CachetCryptoError.Code? {
        do {
            _ = try body()
            return nil
        } catch let error as CachetCryptoError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test(arguments: [0, 1, 37, 64 * 1024 - 40, 64 * 1024, 200_000])
    func roundTripsAnyLengthToEveryRecipient(length: Int) throws {
        let keys = try Self.identities(3)
        var value = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        if length > 10 { value[3] = 0x0A; value[4] = 0 }
        let envelope = try EnvelopeV2.seal(value, to: keys.map(\.recipient), scope: Self.strict, item: "password")
        #expect(EnvelopeV2.isV2(envelope))
        for key in keys { #expect(try Self.open(envelope, [key]) == value) }
    }

    @Test func eachScopeBindsWhatItNames() throws {
        let key = try AgeIdentity.generate()
        let value = Array("s3cr3t".utf8)
        func seal(_ scope: SealingScope, _ item: String = "password") throws -> [UInt8] {
            try EnvelopeV2.seal(value, to: [key.recipient], scope: scope, item: item)
        }
        func opens(_ envelope: [UInt8], _ scope: SealingScope, _ item: String = "password") -> Bool {
            (try? Self.open(envelope, [key], scope: scope, item: item)) == value
        }
        let strict = try seal(Self.strict)
        #expect(opens(strict, Self.strict))
        #expect(!opens(strict, .strict(namespace: "team-a", name: "other")))
        #expect(!opens(strict, .strict(namespace: "team-b", name: "app")))
        #expect(!opens(strict, Self.strict, "token"))
        #expect(!opens(strict, .namespaceWide(namespace: "team-a")))
        #expect(!opens(strict, .clusterWide))

        let namespaceWide = try seal(.namespaceWide(namespace: "team-a"))
        #expect(opens(namespaceWide, .namespaceWide(namespace: "team-a")))
        #expect(!opens(namespaceWide, .namespaceWide(namespace: "team-b")))
        #expect(!opens(namespaceWide, .namespaceWide(namespace: "team-a"), "token"))
        #expect(!opens(namespaceWide, Self.strict))

        let clusterWide = try seal(.clusterWide)
        #expect(opens(clusterWide, .clusterWide))
        #expect(!opens(clusterWide, .clusterWide, "token"))
    }

    @Test func aMovedValueFailsExactlyAsAWrongKeyDoes() throws {
        let key = try AgeIdentity.generate()
        let envelope = try EnvelopeV2.seal(Array("v".utf8), to: [key.recipient], scope: Self.strict, item: "password")
        let moved = #expect(throws: CachetCryptoError.self) { try Self.open(envelope, [key], item: "token") }
        let wrongKey = #expect(throws: CachetCryptoError.self) { try Self.open(envelope, [try AgeIdentity.generate()]) }
        #expect(moved?.code == .cannotOpen && wrongKey?.code == .cannotOpen)
        #expect(moved?.message == wrongKey?.message)
    }

    @Test func theBindingLineHasOneSpellingPerPlace() throws {
        #expect(try EnvelopeV2.bindingLine(scope: Self.strict, item: "password") == Array("cachet.dev/v2 strict team-a app password\n".utf8))
        #expect(try EnvelopeV2.bindingLine(scope: .namespaceWide(namespace: "team-a"), item: "a.b") == Array("cachet.dev/v2 namespace-wide team-a a.b\n".utf8))
        #expect(try EnvelopeV2.bindingLine(scope: .clusterWide, item: "ca.crt") == Array("cachet.dev/v2 cluster-wide ca.crt\n".utf8))
        for item in ["", "a b", "a\nb", ".", "..x", "é"] {
            #expect(Self.code { try EnvelopeV2.bindingLine(scope: .clusterWide, item: item) } == .invalidScope, "item \(item.debugDescription)")
        }
        #expect(Self.code { try EnvelopeV2.bindingLine(scope: .strict(namespace: "a b", name: "x"), item: "k") } == .invalidScope)
    }

    /// Values whose binding line is missing or malformed, made with the age layer directly: each is the one error.
    @Test(arguments: [
        "just the value",
        "cachet.dev/v2 strict team-a app\n",
        "cachet.dev/v2 strict team-a app password",
        "cachet.dev/v2 strict team-a app  password\n",
        "cachet.dev/v1 strict team-a app password\n",
        "cachet.dev/v2 strict team-a app password\r\n",
        "",
    ])
    func aMissingOrMalformedBindingLineDoesNotOpen(plaintext: String) throws {
        let key = try AgeIdentity.generate()
        let envelope = try Array(plaintext.utf8).withUnsafeBytes { try AgeFile.encrypt($0, to: [key.recipient]) }
        #expect(Self.code { try Self.open(envelope, [key]) } == .cannotOpen)
    }

    /// What `age -r` produced (an age file, no Cachet involved) opens once it carries the binding line.
    @Test func anyAgeFileWithTheBindingLineOpens() throws {
        let key = try AgeIdentity.generate()
        let envelope = try Array("cachet.dev/v2 strict team-a app password\nhunter2".utf8).withUnsafeBytes {
            try AgeFile.encrypt($0, to: [key.recipient])
        }
        #expect(try Self.open(envelope, [key]) == Array("hunter2".utf8))
    }

    static func sealedText(to key: AgeIdentity) throws -> String {
        try EnvelopeV2.sealedValue(Array("v".utf8), to: [key.recipient], scope: strict, item: "password")
    }

    static func openText(_ text: String, _ key: AgeIdentity) -> CachetCryptoError.Code? {
        code { try EnvelopeV2.open(sealedValue: text, with: [key], scope: strict, item: "password") }
    }

    @Test func truncatedOrPaddedBase64IsMalformed() throws {
        let key = try AgeIdentity.generate()
        let text = try Self.sealedText(to: key)
        #expect(Self.openText(String(text.dropLast(3)), key) == .malformedValue)
        #expect(Self.openText(text + "==", key) == .malformedValue)
        #expect(Self.openText(text.replacingOccurrences(of: "=", with: ""), key) == .malformedValue || !text.contains("="))
    }

    /// Rewrites the decoded age file's header text with `edit`, keeping the payload.
    static func editHeader(_ envelope: [UInt8], _ edit: (String) -> String) -> [UInt8] {
        let macLine = envelope.firstRange(of: Array("\n--- ".utf8))!.upperBound
        let end = envelope[macLine...].firstIndex(of: UInt8(ascii: "\n"))! + 1
        let header = String(decoding: envelope[..<end], as: UTF8.self)
        return Array(edit(header).utf8) + envelope[end...]
    }

    @Test func damagedSharesAreMalformedAndNeverTried() throws {
        let key = try AgeIdentity.generate()
        let envelope = try EnvelopeV2.seal(Array("v".utf8), to: [key.recipient], scope: Self.strict, item: "password")
        let share = String(decoding: envelope, as: UTF8.self).split(separator: "\n")[1].dropFirst("-> X25519 ".count)
        // The last character carries 2 unused bits: setting one gives another spelling of the same bytes.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let last = alphabet.firstIndex(of: share.last!)!
        let nonCanonical = share.dropLast() + String(alphabet[last ^ 1])
        let zero = Base64.encodeUnpadded([UInt8](repeating: 0, count: 32))
        for replacement in [String(nonCanonical), String(share.dropLast()), share + "A", share + "="] {
            let damaged = Self.editHeader(envelope) { $0.replacingOccurrences(of: String(share), with: replacement) }
            let error = #expect(throws: CachetCryptoError.self) { try Self.open(damaged, [key]) }
            #expect(error?.code == .malformedValue, "share \(replacement)")
        }
        // An all-zero (low-order) share is the wrong-key error, whichever identity meets it: a second stanza that
        // opens with one identity must not make the answer differ from another identity's.
        let other = try AgeIdentity.generate()
        let two = try EnvelopeV2.seal(Array("v".utf8), to: [key.recipient, other.recipient], scope: Self.strict, item: "password")
        let otherShare = String(decoding: two, as: UTF8.self).split(separator: "\n")[3].dropFirst("-> X25519 ".count)
        let lowOrder = Self.editHeader(two) { $0.replacingOccurrences(of: String(otherShare), with: zero) }
        let stranger = try AgeIdentity.generate()
        for identity in [key, other, stranger] {
            #expect(Self.code { try Self.open(lowOrder, [identity]) } == .cannotOpen)
        }
    }

    @Test func aHeaderThatIsNotAgesIsMalformed() throws {
        let key = try AgeIdentity.generate()
        let envelope = try EnvelopeV2.seal(Array("v".utf8), to: [key.recipient], scope: Self.strict, item: "password")
        let cases = [
            Self.editHeader(envelope) { $0.replacingOccurrences(of: "age-encryption.org/v1", with: "age-encryption.org/v2") },
            Self.editHeader(envelope) { $0.replacingOccurrences(of: "-> X25519", with: "->  X25519") },
            Self.editHeader(envelope) { $0.replacingOccurrences(of: "\n--- ", with: "\n---  ") },
            Self.editHeader(envelope) { $0.replacingOccurrences(of: "\n", with: "\r\n") },
            Array("age-encryption.org/v1\n".utf8),
        ]
        for damaged in cases {
            #expect(Self.code { try Self.open(damaged, [key]) } == .malformedValue)
        }
        let tooMany = try Array("x".utf8).withUnsafeBytes { plaintext in
            try AgeFile.encrypt(plaintext, to: try (0...AgeFile.maximumStanzas).map { _ in try AgeIdentity.generate().recipient })
        }
        #expect(Self.code { try Self.open(tooMany, [key]) } == .malformedValue)
        #expect(Self.code {
            try EnvelopeV2.seal([], to: try (0...EnvelopeV2.maximumRecipients).map { _ in try AgeIdentity.generate().recipient },
                                scope: .clusterWide, item: "a")
        } == .invalidKey)
        #expect(Self.code { try EnvelopeV2.seal([], to: [], scope: .clusterWide, item: "a") } == .invalidKey)
    }

    @Test func tamperingWithTheMACOrThePayloadDoesNotOpen() throws {
        let key = try AgeIdentity.generate()
        let envelope = try EnvelopeV2.seal([UInt8](repeating: 7, count: 70_000), to: [key.recipient], scope: Self.strict, item: "password")
        let macStart = envelope.firstRange(of: Array("\n--- ".utf8))!.upperBound
        let payloadStart = envelope[macStart...].firstIndex(of: UInt8(ascii: "\n"))! + 1
        var badMAC = envelope
        badMAC[macStart + 5] = badMAC[macStart + 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        var badFirstChunk = envelope
        badFirstChunk[payloadStart + 16 + 100] ^= 1
        var badSecondChunk = envelope
        badSecondChunk[envelope.count - 5] ^= 1
        var badNonce = envelope
        badNonce[payloadStart] ^= 1
        let damaged = [
            badMAC, badFirstChunk, badSecondChunk, badNonce,
            Array(envelope.dropLast()),                          // truncated final chunk
            Array(envelope.prefix(payloadStart + 16 + 65_536 + 16)),  // the final chunk cut off entirely
            envelope + [0],                                       // trailing garbage
        ]
        for (index, bytes) in damaged.enumerated() {
            let code = Self.code { try Self.open(bytes, [key]) }
            // A changed MAC character can also make it non-canonical base64: a structure error, also refused.
            #expect(code == .cannotOpen || (index == 0 && code == .malformedValue), "case \(index)")
        }
    }

    @Test func recipientsAndIdentitiesAreReadStrictly() throws {
        let key = try AgeIdentity.generate()
        let recipient = key.recipient.description
        #expect(recipient.hasPrefix("age1") && recipient.count == 62)
        #expect(try AgeRecipient(recipient) == key.recipient)
        // Bech32 allows one case throughout; age requires lower case for recipients and upper for identities.
        #expect(Self.code { try AgeRecipient(recipient.uppercased()) } == .invalidKey)
        let flipped = recipient.dropLast() + (recipient.last == "q" ? "p" : "q")
        let mixed = "AGE" + recipient.dropFirst(3)
        for (text, reason) in [(String(flipped), "checksum"), (mixed, "mixes upper and lower case"), ("age1", "Bech32"),
                               ("ssh-ed25519 AAAA", "printable"), ("AGE-SECRET-KEY-1QQQ", "identity")] {
            let error = #expect(throws: CachetCryptoError.self) { try AgeRecipient(text) }
            #expect(error?.message.contains(reason) == true, "\(text): \(error?.message ?? "")")
        }

        let text = try key.text()
        let line = String(decoding: TestSupport.bytes(text), as: UTF8.self)
        #expect(line.hasPrefix("AGE-SECRET-KEY-1") && line == line.uppercased())
        #expect(try AgeIdentity(text: Array(line.utf8)).recipient == key.recipient)
        let file = "# created: now\r\n# public key: \(recipient)\r\n\r\n\(line)\r\n"
        #expect(try AgeIdentity.list(in: Array(file.utf8)).map(\.recipient) == [key.recipient])
        let damaged = "# a comment\n" + line.dropLast() + (line.last == "Q" ? "P" : "Q") + "\n"
        let error = #expect(throws: CachetCryptoError.self) { try AgeIdentity.list(in: Array(damaged.utf8)) }
        #expect(error?.message.hasPrefix("line 2: ") == true)
        #expect(error.map { !$0.message.contains(line.dropFirst(16).prefix(10)) } == true)
        #expect(!String(describing: key).contains(line.dropFirst(16).prefix(10)))
        #expect(try AgeRecipient.list(in: "# cluster\n\(recipient)\n\n\(recipient)\r\n").count == 2)
        #expect(Self.code { try AgeIdentity(text: Array(line.lowercased().utf8)) } == .invalidKey)
        #expect(Self.code { try AgeRecipient.list(in: "# nothing\n") } == .invalidKey)
        // Lines end at LF only, as age reads them: nothing can hide a recipient inside what reads as a comment.
        let other = try AgeIdentity.generate().recipient.description
        for separator in ["\u{2028}", "\u{0B}", "\u{0C}", "\u{85}"] {
            #expect(try AgeRecipient.list(in: "\(recipient)\n# rotated\(separator)\(other)\n") == [key.recipient], "\(separator.unicodeScalars.first!.value)")
        }
        #expect(Self.code { try AgeRecipient.list(in: "\(recipient)\r# x\r\(other)") } == .invalidKey)
    }

    /// Key ids follow the RSA rule over RFC 8410's SubjectPublicKeyInfo; Python `cryptography` builds that DER
    /// independently.
    @Test func keyIDsHashTheSubjectPublicKeyInfo() throws {
        let key = try AgeIdentity.generate()
        let hex = key.recipient.publicKey.map { String(format: "%02x", $0) }.joined()
        let script = """
            import hashlib
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
            from cryptography.hazmat.primitives import serialization
            der = X25519PublicKey.from_public_bytes(bytes.fromhex("\(hex)")).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            print(hashlib.sha256(der).hexdigest()[:16])
            """
        let result = try TestProcess.run(program: "python3", ["-c", script])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.outputText.trimmingCharacters(in: .whitespacesAndNewlines) == key.keyID.hex)
    }
}
