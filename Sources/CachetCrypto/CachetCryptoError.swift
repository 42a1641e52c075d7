/// An error from the crypto core.
///
/// Messages name what is wrong and where it was found; they never carry a byte of a value, a session key or a
/// private key. Match on ``code`` (a struct of static constants, so new codes can be added without breaking
/// callers' `switch` statements).
public struct CachetCryptoError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The input is not a well-formed sealed value (bad base64, too short, impossible lengths).
        public static let malformedValue = Code("malformedValue")
        /// The value does not open with this key and scope. Deliberately one code for wrong key, wrong scope and
        /// altered bytes: telling them apart would be a decryption oracle.
        public static let cannotOpen = Code("cannotOpen")
        /// Key or certificate bytes could not be read (not PEM, damaged DER).
        public static let invalidKey = Code("invalidKey")
        /// A well-formed key that Cachet refuses: not RSA, too small, encrypted PEM, a private key where a public one belongs.
        public static let unsupportedKey = Code("unsupportedKey")
        /// The certificate is expired or not yet valid.
        public static let certificateNotValid = Code("certificateNotValid")
        /// A namespace or name that cannot form an unambiguous scope label.
        public static let invalidScope = Code("invalidScope")
        /// The library failed in a way the input does not explain (allocation, an OpenSSL internal error).
        public static let internalFailure = Code("internalFailure")

        /// The code's name, as in `cannotOpen`.
        public var description: String { name }
    }

    /// What kind of failure this is: match on this, never on the message.
    public let code: Code
    /// One line saying what is wrong; safe to print.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The ``message``.
    public var description: String { message }

    /// The one error every failed open reports, whatever the cause.
    public static let cannotOpen = CachetCryptoError(
        .cannotOpen, "cannot decrypt: wrong key, wrong scope (namespace/name), or the value was altered")
}
