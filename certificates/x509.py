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


def parse_der_for_inventory(der: bytes) -> ParsedCertificate:
    """`parse_der` less what an inventory row does not hold, for discovery's bulk path: the DER is kept as given (not
    re-encoded), the SANs are read in one pass, and `public_key_sha256` is left empty -- the public key's fingerprint
    only matters for a certificate whose private key gets recorded (`public_key_sha256_of` then)."""
    cert = x509.load_der_x509_certificate(der)
    key_type, key_size = key_type_and_size(cert.public_key())
    hash_alg = cert.signature_hash_algorithm
    subject, issuer = cert.subject, cert.issuer
    sans: dict[str, list[str]] = {"dns": [], "ip": [], "email": [], "uri": []}
    extensions = cert.extensions
    for extension in extensions:
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
        issuer=issuer.rfc4514_string(),
        issuer_common_name=_first(issuer, NameOID.COMMON_NAME),
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
