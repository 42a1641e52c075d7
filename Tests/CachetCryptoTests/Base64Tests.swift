import Testing
@testable import CachetCrypto

struct Base64Tests {
    @Test("RFC 4648 test vectors", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func vectors(plain: String, encoded: String) throws {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(try Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test("all byte values round trip, at every length remainder")
    func allBytes() throws {
        let bytes = (0..<258).map { UInt8($0 % 256) }
        for length in 0...bytes.count {
            let prefix = Array(bytes.prefix(length))
            #expect(try Base64.decode(Base64.encode(prefix)) == prefix)
        }
    }

    @Test("CR and LF are skipped anywhere")
    func lineBreaks() throws {
        #expect(try Base64.decode("Zm9v\nYmFy\r\n") == Array("foobar".utf8))
        #expect(try Base64.decode("Z\r\nm\n9vYg=\n=") == Array("foob".utf8))
    }

    @Test("everything else outside the alphabet, bad padding and non-canonical bits are refused", arguments: [
        "Zm9v YmFy", "Zm9v\tYmFy", "Zm9", "Zg", "Zg=", "Z===", "Zg==Zg==", "=Zg=", "Zm-_", "Zh==", "Zm9=", "Zm9vYmFy=",
    ])
    func refused(_ text: String) {
        #expect(throws: CachetCryptoError.self) { try Base64.decode(text) }
    }
}
