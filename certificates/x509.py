"""X.509 helpers: parse a certificate into the inventory's fields (with `cryptography`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificates.choices import KeyType

EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


@dataclass(frozen=True)
class ParsedCertificate:
    sha256: str
    thumbprint: str
    der: bytes
    common_name: str
    subject: str
    issuer: str
    issuer_common_name: str
    serial: str
    sans: dict[str, list[str]]
    key_type: str
    key_size: int
    signature_hash: str
    not_before: datetime
    not_after: datetime
    is_ca: bool
    self_signed: bool
    extended_key_usage: list[str] = field(default_factory=list)
    public_key_sha256: str = ""

    @property
    def is_client(self) -> bool:
        """clientAuth-only EKU: the reference lists these under Inventory > Client."""
        return self.extended_key_usage == ["clientAuth"]


def key_type_and_size(public_key: object) -> tuple[str, int]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyType.RSA, public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyType.EC, public_key.curve.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return KeyType.DSA, public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519, 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return KeyType.ED448, 456
    raise ValueError(f"unsupported public key type {type(public_key).__name__}")


def public_key_fingerprint(public_key: object) -> str:
    spki = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def sans_of(cert: x509.Certificate) -> dict[str, list[str]]:
    sans: dict[str, list[str]] = {"dns": [], "ip": [], "email": [], "uri": []}
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return sans
    sans["dns"] = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
    sans["ip"] = [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
    sans["email"] = [str(v) for v in ext.get_values_for_type(x509.RFC822Name)]
    sans["uri"] = [str(v) for v in ext.get_values_for_type(x509.UniformResourceIdentifier)]
    return sans


def _eku(cert: x509.Certificate) -> list[str]:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [EKU_NAMES.get(oid, oid.dotted_string) for oid in usages]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def parse_certificate(cert: x509.Certificate) -> ParsedCertificate:
    der = cert.public_bytes(serialization.Encoding.DER)
    public_key = cert.public_key()
    key_type, key_size = key_type_and_size(public_key)
    hash_alg = cert.signature_hash_algorithm
    return ParsedCertificate(
        sha256=hashlib.sha256(der).hexdigest(),
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        der=der,
        common_name=_first(cert.subject, NameOID.COMMON_NAME),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_first(cert.issuer, NameOID.COMMON_NAME),
        serial=format(cert.serial_number, "X"),
        sans=sans_of(cert),
        key_type=key_type,
        key_size=key_size,
        signature_hash=hash_alg.name if hash_alg is not None else "",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=_is_ca(cert),
        self_signed=cert.issuer == cert.subject,
        extended_key_usage=_eku(cert),
        public_key_sha256=public_key_fingerprint(public_key),
    )


def parse_der(der: bytes) -> ParsedCertificate:
    return parse_certificate(x509.load_der_x509_certificate(der))


_SAN_KINDS: dict[type, str] = {
    x509.DNSName: "dns",
    x509.IPAddress: "ip",
    x509.RFC822Name: "email",
    x509.UniformResourceIdentifier: "uri",
}


# Issuers repeat (a few CAs sign most of a host's certificates): their parsed form, by DER, bounded.
_ISSUERS: dict[bytes, tuple[x509.Name, str, str]] = {}
_ISSUERS_MAX = 4096

# Key sizes of the named curves, by the DER of their OID (what cryptography reports as curve.key_size).
_CURVE_SIZES = {
    bytes.fromhex("06082a8648ce3d030107"): 256,  # P-256
    bytes.fromhex("06052b81040022"): 384,  # P-384
    bytes.fromhex("06052b81040023"): 521,  # P-521
    bytes.fromhex("06052b8104000a"): 256,  # secp256k1
}
_RSA_OID = bytes.fromhex("06092a864886f70d010101")
_EC_OID = bytes.fromhex("06072a8648ce3d0201")


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `pos` (of a certificate cryptography has loaded, so
    well-formed)."""
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return data[pos], start, start + length


def _tbs_parts(der: bytes) -> tuple[bytes, bytes]:
    """The DER of the issuer Name and of the SubjectPublicKeyInfo."""
    _, tbs, _ = _tlv(der, _tlv(der, 0)[1])
    tag, _, pos = _tlv(der, tbs)
    if tag != 0xA0:  # no explicit version (v1): that was the serial number
        pos = tbs
    pos = _tlv(der, pos)[2]  # serial number
    pos = _tlv(der, pos)[2]  # signature algorithm
    issuer_end = _tlv(der, pos)[2]
    issuer = der[pos:issuer_end]
    pos = _tlv(der, issuer_end)[2]  # validity
    pos = _tlv(der, pos)[2]  # subject
    return issuer, der[pos : _tlv(der, pos)[2]]


def _key_type_and_size_from_spki(spki: bytes) -> tuple[str, int] | None:
    """RSA and named-curve EC keys read from the SubjectPublicKeyInfo DER without building the key (EC point decoding
    is a third of a certificate's parse); None for anything else."""
    _, body, _ = _tlv(spki, 0)
    _, algorithm, algorithm_end = _tlv(spki, body)
    oid_end = _tlv(spki, algorithm)[2]
    oid = spki[algorithm:oid_end]
    if oid == _EC_OID:
        size = _CURVE_SIZES.get(spki[oid_end:algorithm_end])
        return (KeyType.EC, size) if size else None
    if oid == _RSA_OID:
        _, bits, _ = _tlv(spki, algorithm_end)
        _, key, _ = _tlv(spki, bits + 1)  # past the BIT STRING's unused-bits byte
        _, start, end = _tlv(spki, key)
        return KeyType.RSA, int.from_bytes(spki[start:end], "big").bit_length()
    return None


def parse_der_for_inventory(der: bytes) -> ParsedCertificate:
    """`parse_der` less what an inventory row does not hold, for discovery's bulk path: the DER is kept as given (not
    re-encoded), `public_key_sha256` is left empty (it only matters for a certificate whose private key gets recorded:
    `public_key_sha256_of` then), the key type and size are read from the SubjectPublicKeyInfo without decoding the
    key, issuers are parsed once per distinct issuer, and the SANs are read in one pass. Same fields otherwise."""
    cert = x509.load_der_x509_certificate(der)
    issuer_der, spki = _tbs_parts(der)
    issuer_parts = _ISSUERS.get(issuer_der)
    if issuer_parts is None:
        if len(_ISSUERS) >= _ISSUERS_MAX:
            _ISSUERS.clear()
        name = cert.issuer
        issuer_parts = _ISSUERS[issuer_der] = (name, name.rfc4514_string(), _first(name, NameOID.COMMON_NAME))
    issuer, issuer_text, issuer_common_name = issuer_parts
    key_type, key_size = _key_type_and_size_from_spki(spki) or key_type_and_size(cert.public_key())
    hash_alg = cert.signature_hash_algorithm
    subject = cert.subject
    sans: dict[str, list[str]] = {"dns": [], "ip": [], "email": [], "uri": []}
    for extension in cert.extensions:
        if isinstance(extension.value, x509.SubjectAlternativeName):
            for name in extension.value:
                kind = _SAN_KINDS.get(type(name))
                if kind is not None:
                    sans[kind].append(str(name.value))
    return ParsedCertificate(
        sha256=hashlib.sha256(der).hexdigest(),
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        der=der,
        common_name=_first(subject, NameOID.COMMON_NAME),
        subject=subject.rfc4514_string(),
        issuer=issuer_text,
        issuer_common_name=issuer_common_name,
        serial=format(cert.serial_number, "X"),
        sans=sans,
        key_type=key_type,
        key_size=key_size,
        signature_hash=hash_alg.name if hash_alg is not None else "",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=_is_ca(cert),
        self_signed=issuer == subject,
        extended_key_usage=_eku(cert),
    )


def public_key_sha256_of(der: bytes) -> str:
    """SHA-256 of the certificate's SubjectPublicKeyInfo (what `parse_der` puts in `public_key_sha256`)."""
    return public_key_fingerprint(x509.load_der_x509_certificate(der).public_key())


def parse_pem(pem: bytes) -> ParsedCertificate:
    return parse_certificate(x509.load_pem_x509_certificate(pem))


def der_to_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode("ascii")
