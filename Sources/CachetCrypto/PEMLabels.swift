import FoundationEssentials

/// What kind of PEM blocks a file holds, read from their `-----BEGIN …-----` lines only.
///
/// Used to route a file to the right decoder and to give a precise message ("this is a private key; --cert wants
/// a certificate") before any key bytes are parsed. Only labels and the legacy `Proc-Type` header are read, never
/// the base64 body, so this is safe to run over private-key files.
struct PEMLabels {
    /// The labels of the blocks, in file order (e.g. `["CERTIFICATE"]`, `["RSA PRIVATE KEY"]`).
    let labels: [String]
    /// A legacy OpenSSL-encrypted PEM (`Proc-Type: 4,ENCRYPTED`) or a PKCS#8 `ENCRYPTED PRIVATE KEY`.
    let hasEncryptedKey: Bool

    init(_ bytes: UnsafeRawBufferPointer) {
        let begin = Array("-----BEGIN ".utf8)
        let dashes = Array("-----".utf8)
        let procTypeEncrypted = Array("Proc-Type: 4,ENCRYPTED".utf8)
        var labels: [String] = []
        var encrypted = false
        var index = 0
        while index < bytes.count {
            if Self.matches(begin, in: bytes, at: index) {
                let start = index + begin.count
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n"), !Self.matches(dashes, in: bytes, at: end) {
                    end += 1
                }
                if Self.matches(dashes, in: bytes, at: end) {
                    labels.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
                }
                index = end
            } else if Self.matches(procTypeEncrypted, in: bytes, at: index) {
                encrypted = true
                index += procTypeEncrypted.count
            } else {
                index += 1
            }
        }
        self.labels = labels
        self.hasEncryptedKey = encrypted || labels.contains("ENCRYPTED PRIVATE KEY")
    }

    var first: String? { labels.first }

    var isPrivateKey: Bool { labels.contains { $0.hasSuffix("PRIVATE KEY") } }

    private static func matches(_ pattern: [UInt8], in bytes: UnsafeRawBufferPointer, at index: Int) -> Bool {
        guard index + pattern.count <= bytes.count else { return false }
        for offset in 0..<pattern.count where bytes[index + offset] != pattern[offset] { return false }
        return true
    }
}

/// What a PEM file holds, judged from its block labels alone (no key bytes are decoded), so that a caller can route
/// it and apply the right care (a private key file gets a permission check) before parsing it.
package enum PEMContent: Sendable, Equatable {
    case certificate
    case publicKey
    case privateKey
    case encryptedPrivateKey
    /// Not a key Cachet reads; carries the first block's label, if there is one.
    case unrecognized(label: String?)

    package init(pem: some ContiguousBytes) {
        let labels = pem.withUnsafeBytes { PEMLabels($0) }
        if labels.hasEncryptedKey {
            self = .encryptedPrivateKey
        } else if labels.isPrivateKey {
            self = .privateKey
        } else if labels.labels.contains("CERTIFICATE") {
            self = .certificate
        } else if labels.first == "PUBLIC KEY" || labels.first == "RSA PUBLIC KEY" {
            self = .publicKey
        } else {
            self = .unrecognized(label: labels.first)
        }
    }
}
