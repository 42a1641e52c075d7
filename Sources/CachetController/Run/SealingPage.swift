import Hummingbird
import HTTPTypes
import NIOCore

/// The sealing page (`GET /`, `--web-ui`): one static page, its script and its style sheet, compiled into the binary.
/// It seals in the browser with Web Crypto and the certificate from `/v1/cert.pem`; nothing typed into it is sent
/// back. The server's part is to make that true whatever the page's code does (docs/threat-model.md):
/// - a Content-Security-Policy that allows the page's own script and style only (no inline script, no eval), lets it
///   connect to its own origin only (the certificate), and forbids form posts, frames, plugins and `<base>`;
/// - no cookies, no caching, no referrer, no sniffing of content types, no framing;
/// - nothing read from the request: the files are constants, so there is nothing to inject.
enum SealingPage {
    struct File: Sendable {
        let contentType: String
        let bytes: [UInt8]
    }

    /// Path → file. Relative links inside the page (`sealing.js`, `v1/cert.pem`) keep it working under a path
    /// prefix: the API server's service proxy serves it at `…/services/http:NAME:http/proxy/`.
    static let files: [String: File] = [
        "/": File(contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html),
        "/index.html": File(contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html),
        "/sealing.js": File(contentType: "text/javascript; charset=utf-8", bytes: PackageResources.sealing_js),
        "/sealing.css": File(contentType: "text/css; charset=utf-8", bytes: PackageResources.sealing_css),
    ]

    /// `img-src data:` for the page's empty icon only (else the browser asks for /favicon.ico); no workers (a service
    /// worker could outlive the page on a shared origin); Trusted Types, so no string ever becomes markup or script.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src data:", "connect-src 'self'",
        "worker-src 'none'", "form-action 'none'", "frame-ancestors 'none'", "base-uri 'none'",
        "require-trusted-types-for 'script'",
    ].joined(separator: "; ")

    static func response(_ file: File) -> Response {
        var headers: HTTPFields = [
            .contentType: file.contentType,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            // no-store: the page may hold typed values, and the back/forward cache is not to keep it.
            .cacheControl: "no-store",
        ]
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "same-origin"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
