#!/usr/bin/env python3
"""Independent known-answer vectors for Cachet's v1 format, made with Python `cryptography` (not Cachet's code).

  v1-vectors.py generate OUTDIR     write v1-known-answers.json and the key/certificate fixtures into OUTDIR
  v1-vectors.py open FILE.json      open values sealed by another implementation; exit 1 on any mismatch
  v1-vectors.py inspect-cert FILE   print a certificate's fields as JSON

The v1 format (docs/wire-format.md): base64( BE16(k) || RSA-OAEP-SHA256(sessionKey, label=scope) ||
AES-256-GCM(value, nonce=0^12, aad=empty) || tag ).
"""
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtensionOID

SCOPES = [
    {"scope": "strict", "namespace": "team-a", "name": "db-credentials"},
    {"scope": "namespace-wide", "namespace": "team-a"},
    {"scope": "cluster-wide"},
]


def label(entry):
    if entry["scope"] == "strict":
        return f'{entry["namespace"]}/{entry["name"]}'.encode()
    if entry["scope"] == "namespace-wide":
        return entry["namespace"].encode()
    return b""


def oaep(label_bytes):
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label_bytes or None)


def seal(public_key, value, label_bytes):
    session_key = os.urandom(32)
    wrapped = public_key.encrypt(session_key, oaep(label_bytes))
    body = AESGCM(session_key).encrypt(b"\0" * 12, value, None)
    return base64.b64encode(len(wrapped).to_bytes(2, "big") + wrapped + body).decode()


def open_value(private_key, sealed, label_bytes):
    envelope = base64.b64decode(sealed.replace("\n", "").replace("\r", ""), validate=True)
    length = int.from_bytes(envelope[:2], "big")
    if length != private_key.key_size // 8 or len(envelope) < 2 + length + 16:
        raise ValueError("wrong length prefix")
    session_key = private_key.decrypt(envelope[2:2 + length], oaep(label_bytes))
    if len(session_key) != 32:
        raise ValueError("session key is not 32 bytes")
    return AESGCM(session_key).decrypt(b"\0" * 12, envelope[2 + length:], None)


def pem_private(key, pkcs8=False):
    form = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()).decode()


def self_signed(key, not_before, not_after):
    name = x509.Name([])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    algorithm = hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    keys = {"rsa2048": rsa.generate_private_key(65537, 2048), "rsa4096": rsa.generate_private_key(65537, 4096)}
    values = {"empty": b"", "one-byte": b"\x2a", "64KiB": bytes((i * 131 + 7) % 256 for i in range(65536))}
    vectors = []
    for key_name, key in keys.items():
        for entry in SCOPES:
            for value_name, value in values.items():
                vectors.append(dict(entry, key=key_name, value=value_name, sealed=seal(key.public_key(), value, label(entry))))
    document = {
        "about": "v1 known answers made by scripts/v1-vectors.py with Python cryptography; regenerate with "
                 "`python3 scripts/v1-vectors.py generate Tests/CachetCryptoTests/Fixtures`",
        # rsa2048 is written as PKCS#1, rsa4096 as PKCS#8, so both PEM forms are read.
        "keys": {"rsa2048": pem_private(keys["rsa2048"]), "rsa4096": pem_private(keys["rsa4096"], pkcs8=True)},
        "values": {name: base64.b64encode(value).decode() for name, value in values.items()},
        "valueSHA256": {name: hashlib.sha256(value).hexdigest() for name, value in values.items()},
        "vectors": vectors,
    }
    with open(os.path.join(outdir, "v1-known-answers.json"), "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")

    now = datetime.datetime.now(datetime.timezone.utc)
    year = datetime.timedelta(days=365)
    fixtures = {}
    weak = rsa.generate_private_key(65537, 1024)
    fixtures["rsa1024.crt"] = self_signed(weak, now - year, now + 50 * year)
    fixtures["rsa1024-public.pem"] = weak.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    curve = ec.generate_private_key(ec.SECP256R1())
    fixtures["ec-p256.crt"] = self_signed(curve, now - year, now + 50 * year)
    fixtures["ec-p256.key"] = pem_private(curve, pkcs8=True)
    fixtures["expired.crt"] = self_signed(keys["rsa2048"], now - 3 * year, now - year)
    fixtures["not-yet-valid.crt"] = self_signed(keys["rsa2048"], now + 50 * year, now + 60 * year)
    fixtures["rsa2048.crt"] = self_signed(keys["rsa2048"], now - year, now + 50 * year)
    fixtures["rsa2048-public.pem"] = keys["rsa2048"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    fixtures["rsa2048-pkcs1-public.pem"] = keys["rsa2048"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    fixtures["rsa2048-encrypted.key"] = keys["rsa2048"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse")).decode()
    for name, text in fixtures.items():
        with open(os.path.join(outdir, name), "w") as f:
            f.write(text)


def open_file(path):
    """Input: {"keys": {name: PEM}, "vectors": [{key, scope, namespace?, name?, sealed, value (base64), expect}]}."""
    with open(path) as f:
        document = json.load(f)
    keys = {name: serialization.load_pem_private_key(pem.encode(), None) for name, pem in document["keys"].items()}
    failures = []
    for index, vector in enumerate(document["vectors"]):
        expected = base64.b64decode(vector["value"])
        try:
            opened = open_value(keys[vector["key"]], vector["sealed"], label(vector))
            outcome = "open" if opened == expected else "wrong-plaintext"
        except Exception:  # noqa: BLE001 - any failure to open is the outcome "fail"
            outcome = "fail"
        if outcome != vector["expect"]:
            failures.append({"index": index, "expected": vector["expect"], "got": outcome})
    print(json.dumps({"checked": len(document["vectors"]), "failures": failures}))
    return 1 if failures else 0


def der_items(data):
    """Splits DER bytes into (tag, content) pairs (definite lengths only, as DER requires)."""
    items, offset = [], 0
    while offset < len(data):
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[offset:offset + count], "big")
            offset += count
        items.append((tag, data[offset:offset + length]))
        offset += length
    return items


def raw_extensions(certificate):
    """Extensions read straight from the DER: `cryptography` refuses to parse a KeyUsage with encipherOnly but
    without keyAgreement, which is exactly what Bitnami's (and Cachet's) certificates carry."""
    tbs = der_items(der_items(certificate.tbs_certificate_bytes)[0][1])
    explicit = [content for tag, content in tbs if tag == 0xA3]
    extensions = {}
    for _, extension in der_items(der_items(explicit[0])[0][1]) if explicit else []:
        fields = der_items(extension)
        oid = x509.ObjectIdentifier(dotted_oid(fields[0][1]))
        critical = len(fields) == 3 and fields[1][1] == b"\xff"
        extensions[oid] = {"critical": critical, "value": fields[-1][1]}
    return extensions


def dotted_oid(content):
    first = content[0]
    parts, value = [first // 40, first % 40], 0
    for byte in content[1:]:
        value = value << 7 | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def key_usage_bits(bit_string):
    """Names of the KeyUsage bits set (RFC 5280 order: bit 0 = digitalSignature ... bit 8 = decipherOnly)."""
    names = ["digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment", "keyAgreement",
             "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"]
    (_, content), = der_items(bit_string)
    bits = content[1:]
    return [name for index, name in enumerate(names)
            if index // 8 < len(bits) and bits[index // 8] & (0x80 >> (index % 8))]


def inspect_cert(path):
    with open(path, "rb") as f:
        certificate = x509.load_pem_x509_certificate(f.read())
    extensions = {}
    for oid, extension in raw_extensions(certificate).items():
        entry = {"critical": extension["critical"]}
        if oid == ExtensionOID.KEY_USAGE:
            entry["bits"] = key_usage_bits(extension["value"])
        elif oid == ExtensionOID.BASIC_CONSTRAINTS:
            (_, sequence), = der_items(extension["value"])
            entry["ca"] = any(tag == 0x01 and content == b"\xff" for tag, content in der_items(sequence))
        extensions[oid._name] = entry
    public_key = certificate.public_key()
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    print(json.dumps({
        "version": certificate.version.name,
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serialBits": certificate.serial_number.bit_length(),
        "notBefore": certificate.not_valid_before_utc.isoformat(),
        "notAfter": certificate.not_valid_after_utc.isoformat(),
        "signatureHash": certificate.signature_hash_algorithm.name,
        "keyBits": public_key.key_size,
        "publicExponent": public_key.public_numbers().e,
        "keyID": hashlib.sha256(spki).hexdigest()[:16],
        "extensions": extensions,
    }))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "generate":
        generate(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "open":
        return open_file(argv[2])
    if len(argv) == 3 and argv[1] == "inspect-cert":
        return inspect_cert(argv[2])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
