internal import COpenSSL
import FoundationEssentials

/// An X.509 certificate carrying an RSA public key: what the controller publishes and a sealer seals to.
public struct Certificate: Sendable, CustomStringConvertible {
    let x509: X509Certificate
    /// The certified key.
    public let publicKey: RSAPublicKey
    /// The start of the validity period.
    public let notBefore: Date
    /// The end of the validity period.
    public let notAfter: Date

    /// Bitnami's default key lifetime: 10 × 365 days (its `--key-ttl` of 87600h).
    public static let defaultValidity: TimeInterval = 3650 * 24 * 3600

    init(taking certificate: X509Certificate) throws {
        guard let key = X509_get_pubkey(certificate.pointer) else {
            throw CachetCryptoError(.invalidKey, "the certificate's public key could not be read: \(OpenSSLFailure.reason())")
        }
        let publicKey = try RSAPublicKey(publicHalfOf: EVPKey(taking: key))
        self.x509 = certificate
        self.publicKey = publicKey
        self.notBefore = try Self.date(X509_get0_notBefore(certificate.pointer), "notBefore")
        self.notAfter = try Self.date(X509_get0_notAfter(certificate.pointer), "notAfter")
    }

    /// Reads the first `CERTIFICATE` block of a PEM file (as Bitnami does; later blocks are ignored).
    public init(pem: some ContiguousBytes) throws {
        _ = CryptoLibraries.ready
        let parsed = try pem.withUnsafeBytes { bytes in
            let labels = PEMLabels(bytes)
            guard labels.labels.contains("CERTIFICATE") else {
                let found = labels.first.map { "found \($0)" } ?? "no PEM block found"
                throw CachetCryptoError(.invalidKey, "expected a PEM certificate (-----BEGIN CERTIFICATE-----), \(found)")
            }
            let bio = try MemoryBIO(reading: bytes)
            guard let x509 = PEM_read_bio_X509(bio.pointer, nil, nil, nil) else {
                throw CachetCryptoError(.invalidKey, "the certificate could not be decoded: \(OpenSSLFailure.reason())")
            }
            return X509Certificate(taking: x509)
        }
        try self.init(taking: parsed)
    }

    /// A self-signed certificate for `key` with Bitnami's fields: subject and issuer `CN=commonName` (empty when nil,
    /// Bitnami's default), a random 128-bit serial, KeyUsage encipherOnly and BasicConstraints CA:TRUE (both
    /// critical), a SubjectKeyIdentifier, SHA-256 signature.
    public static func selfSigned(
        for key: RSAPrivateKey, commonName: String? = nil, notBefore: Date = Date(), validity: TimeInterval = defaultValidity
    ) throws -> Certificate {
        try issue(Profile(commonName: commonName, keyUsage: "critical,encipherOnly", isCertificateAuthority: true), for: key,
                  notBefore: notBefore, validity: validity)
    }

    /// What goes into a certificate besides its key and validity.
    package struct Profile: Sendable {
        /// The subject's common name; nil for an empty subject (Bitnami's sealing certificates).
        package var commonName: String?
        /// OpenSSL's KeyUsage syntax, e.g. `critical,digitalSignature,keyEncipherment`.
        package var keyUsage: String
        /// OpenSSL's ExtendedKeyUsage syntax, e.g. `serverAuth` or `clientAuth`.
        package var extendedKeyUsage: String?
        package var isCertificateAuthority: Bool
        /// `DNS:localhost`, `IP:127.0.0.1`, …
        package var subjectAlternativeNames: [String]

        package init(commonName: String? = nil, keyUsage: String, extendedKeyUsage: String? = nil,
                    isCertificateAuthority: Bool = false, subjectAlternativeNames: [String] = []) {
            self.commonName = commonName
            self.keyUsage = keyUsage
            self.extendedKeyUsage = extendedKeyUsage
            self.isCertificateAuthority = isCertificateAuthority
            self.subjectAlternativeNames = subjectAlternativeNames
        }
    }

    /// A certificate for `key` with `profile`, signed by `issuer` (a CA certificate and its key), or self-signed.
    /// Used for sealing certificates and, in tests and the dev cluster, for TLS certificates.
    package static func issue(
        _ profile: Profile, for key: RSAPrivateKey, issuer: (certificate: Certificate, key: RSAPrivateKey)? = nil,
        notBefore: Date = Date(), validity: TimeInterval = defaultValidity
    ) throws -> Certificate {
        guard validity > 0 else { throw CachetCryptoError(.certificateNotValid, "certificate validity must be positive") }
        guard let raw = X509_new() else { throw OpenSSLFailure.internalError("creating a certificate") }
        let certificate = X509Certificate(taking: raw)
        let x509 = certificate.pointer

        // Serial: random in [0, 2^128), as Go's crypto/x509 callers (and Bitnami) draw it.
        let serialBytes = SystemRandom.bytes(count: 16)
        let serial = serialBytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        defer { BN_free(serial) }

        let notBeforeSeconds = time_t(notBefore.timeIntervalSince1970.rounded(.down))
        let notAfterSeconds = time_t((notBefore.timeIntervalSince1970 + validity).rounded(.down))
        guard X509_set_version(x509, 2) == 1,  // 2 means X.509 v3
              serial != nil, BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x509)) != nil,
              ASN1_TIME_set(X509_getm_notBefore(x509), notBeforeSeconds) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x509), notAfterSeconds) != nil,
              X509_set_pubkey(x509, key.key.pointer) == 1
        else { throw OpenSSLFailure.internalError("filling in the certificate") }
        // X509_new leaves subject and issuer as empty names, which is what Bitnami's certificates carry.
        if let commonName = profile.commonName {
            guard X509_NAME_add_entry_by_txt(X509_get_subject_name(x509), "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1
            else { throw OpenSSLFailure.internalError("setting the subject") }
        }
        let issuerCertificate = issuer?.certificate.x509.pointer ?? x509
        guard X509_set_issuer_name(x509, X509_get_subject_name(issuerCertificate)) == 1 else {
            throw OpenSSLFailure.internalError("setting the issuer")
        }

        var extensionContext = X509V3_CTX()
        X509V3_set_ctx(&extensionContext, issuerCertificate, x509, nil, nil, 0)
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, profile.isCertificateAuthority ? "critical,CA:TRUE" : "critical,CA:FALSE"),
            (NID_key_usage, profile.keyUsage),
            (NID_subject_key_identifier, "hash"),
        ]
        if let extendedKeyUsage = profile.extendedKeyUsage { extensions.append((NID_ext_key_usage, extendedKeyUsage)) }
        if !profile.subjectAlternativeNames.isEmpty {
            extensions.append((NID_subject_alt_name, profile.subjectAlternativeNames.joined(separator: ",")))
        }
        if issuer != nil { extensions.append((NID_authority_key_identifier, "keyid")) }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_nconf_nid(nil, &extensionContext, nid, value) else {
                throw OpenSSLFailure.internalError("building certificate extension \(nid)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw OpenSSLFailure.internalError("adding an extension") }
        }
        guard X509_sign(x509, (issuer?.key ?? key).key.pointer, EVP_sha256()) > 0 else {
            throw OpenSSLFailure.internalError("signing the certificate")
        }
        return try Certificate(taking: certificate)
    }

    /// PEM `CERTIFICATE`.
    public var pem: String {
        get throws {
            let bio = try MemoryBIO(secure: false)
            guard PEM_write_bio_X509(bio.pointer, x509.pointer) == 1 else {
                throw OpenSSLFailure.internalError("writing the certificate")
            }
            return String(decoding: bio.readAll(), as: UTF8.self)
        }
    }

    /// The id of the certified key.
    public var keyID: KeyID { publicKey.keyID }

    /// The subject as one line (`""` for Bitnami-style certificates).
    public var subject: String { Self.oneLine(X509_get_subject_name(x509.pointer)) }

    /// The issuer as one line.
    public var issuer: String { Self.oneLine(X509_get_issuer_name(x509.pointer)) }

    /// Throws unless `date` lies within the certificate's validity period. Sealing to an expired certificate would
    /// produce values the cluster may already have stopped being able to open; kubeseal refuses it too.
    public func checkValidity(at date: Date = Date()) throws {
        try SealingKey.checkValidity(notBefore: notBefore, notAfter: notAfter, at: date)
    }

    /// The key size, id and validity; nothing secret is in a certificate.
    public var description: String {
        "Certificate(\(publicKey.bits)-bit RSA, id \(keyID), valid \(notBefore) to \(notAfter))"
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?, _ field: String) throws -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else {
            throw CachetCryptoError(.invalidKey, "the certificate's \(field) could not be read")
        }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    private static func oneLine(_ name: OpaquePointer?) -> String {
        guard let name, let bio = try? MemoryBIO(secure: false) else { return "" }
        _ = X509_NAME_print_ex(bio.pointer, name, 0, UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(ASN1_STRFLGS_ESC_2253))
        return String(decoding: bio.readAll(), as: UTF8.self)
    }
}
