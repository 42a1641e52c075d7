#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
internal import COpenSSL

/// A TLS client session over a connected, non-blocking socket: OpenSSL's, so the CLI carries no second TLS stack.
final class TLSChannel: ByteChannel {
    private let context: OpaquePointer
    private let session: OpaquePointer
    private let socket: Int32
    private let deadline: Deadline

    /// The oldest protocol version accepted. TLS 1.0 and 1.1 are deprecated (RFC 8996).
    static let minimumVersion = Int(TLS1_2_VERSION)

    init(socket: Int32, host urlHost: String, settings: BlockingHTTP.TLSSettings, deadline: Deadline) throws {
        // `tls-server-name` replaces the URL's host as the name checked and sent, never the address connected to.
        let host = settings.serverName ?? urlHost
        self.socket = socket
        self.deadline = deadline
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("creating a TLS context") }
        // Before SSL_new: a session copies its context's settings when it is made, so a minimum set on the context
        // afterwards would never apply (it did not, once). SSL_CTX_set_min_proto_version is a macro over this call.
        guard SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Self.minimumVersion, nil) == 1 else {
            SSL_CTX_free(context)
            throw Self.failure("requiring TLS 1.2")
        }
        self.context = context
        guard let session = SSL_new(context) else {
            SSL_CTX_free(context)
            throw Self.failure("creating a TLS session")
        }
        self.session = session
        if settings.insecureSkipVerify {
            SSL_set_verify(session, SSL_VERIFY_NONE, nil)
        } else {
            SSL_set_verify(session, SSL_VERIFY_PEER, nil)
            if let authority = settings.certificateAuthorityPEM {
                try Self.trust(authority, in: context)
            } else {
                guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw Self.failure("loading the system's CA certificates") }
            }
            let parameters = SSL_get0_param(session)
            // The certificate must name this host (or, for an address, this IP).
            let checked = URLParts.isIPAddress(host) ? X509_VERIFY_PARAM_set1_ip_asc(parameters, host) : SSL_set1_host(session, host)
            guard checked == 1 else { throw Self.failure("setting the expected server name") }
        }
        if !URLParts.isIPAddress(host) {
            // Server Name Indication (SSL_set_tlsext_host_name is a macro over this control call); OpenSSL copies the name.
            _ = host.withCString { SSL_ctrl(session, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        }
        if let certificate = settings.clientCertificatePEM, let key = settings.clientKeyPEM {
            try Self.present(certificate: certificate, key: key, in: session)
        }
        guard SSL_set_fd(session, socket) == 1 else { throw Self.failure("attaching the socket") }
        while true {
            let result = SSL_connect(session)
            if result == 1 { break }
            if try waitIfBlocked(result) { continue }
            let verification = SSL_get_verify_result(session)
            if verification != X509_V_OK {
                let reason = String(cString: X509_verify_cert_error_string(verification))
                ERR_clear_error()
                throw BlockingHTTP.Failure("the server's certificate is not trusted: \(reason)")
            }
            throw Self.failure("the TLS handshake with \(host)")
        }
    }

    deinit {
        SSL_shutdown(session)  // one attempt at close_notify; the socket is non-blocking, so this never waits
        SSL_free(session)
        SSL_CTX_free(context)
    }

    /// The negotiated minimum, as the session holds it (for tests).
    var sessionMinimumVersion: Int {
        SSL_ctrl(session, SSL_CTRL_GET_MIN_PROTO_VERSION, 0, nil)
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { SSL_write(session, $0.baseAddress! + offset, Int32(bytes.count - offset)) }
            if written > 0 {
                offset += Int(written)
            } else if try !waitIfBlocked(written) {
                throw Self.failure("sending over TLS")
            }
        }
    }

    func read(max: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = buffer.withUnsafeMutableBytes { SSL_read(session, $0.baseAddress, Int32(max)) }
            if count > 0 { return Array(buffer.prefix(Int(count))) }
            let error = SSL_get_error(session, count)
            if error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                ERR_clear_error()
                return []
            }
            guard try waitIfBlocked(count) else { throw Self.failure("receiving over TLS") }
        }
    }

    /// After an OpenSSL call returned `result`: if it only needs the socket to become readable or writable, waits
    /// for that (within the deadline) and returns true so the call is repeated.
    private func waitIfBlocked(_ result: Int32) throws -> Bool {
        switch SSL_get_error(session, result) {
        case SSL_ERROR_WANT_READ:
            try deadline.wait(socket, for: Int32(POLLIN))
            return true
        case SSL_ERROR_WANT_WRITE:
            try deadline.wait(socket, for: Int32(POLLOUT))
            return true
        default:
            return false
        }
    }

    private static func trust(_ pem: [UInt8], in context: OpaquePointer) throws {
        let store = SSL_CTX_get_cert_store(context)
        var added = 0
        try pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { throw failure("reading the CA certificates") }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                X509_STORE_add_cert(store, certificate)
                X509_free(certificate)
                added += 1
            }
        }
        ERR_clear_error()  // the loop ends with a "no start line" error
        guard added > 0 else { throw BlockingHTTP.Failure("no CA certificate found in the given PEM") }
    }

    private static func present(certificate: [UInt8], key: SecureBytes, in session: OpaquePointer) throws {
        let x509: OpaquePointer? = certificate.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let x509 else { throw failure("reading the client certificate") }
        defer { X509_free(x509) }
        let privateKey: OpaquePointer? = key.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let privateKey else { throw failure("reading the client key") }
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_use_certificate(session, x509) == 1, SSL_use_PrivateKey(session, privateKey) == 1,
              SSL_check_private_key(session) == 1 else { throw failure("using the client certificate") }
    }

    private static func failure(_ doing: String) -> BlockingHTTP.Failure {
        let code = ERR_get_error()
        ERR_clear_error()
        let reason = code == 0 ? "connection closed" : (ERR_reason_error_string(code).map { String(cString: $0) } ?? "unknown")
        return BlockingHTTP.Failure("TLS failed while \(doing): \(reason)")
    }
}
