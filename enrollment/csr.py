"""CSRs: generate a key pair and a CSR in the portal, or read an uploaded CSR (signature checked)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AttributeOID, NameOID

from certificates.choices import KeyType
from certificates.x509 import key_type_and_size, public_key_fingerprint

# Any: cryptography's stubs accept a narrower union per signing call than the algorithms have in common.
HASHES: dict[str, Any] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha1": hashes.SHA1,
}
CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}

SUBJECT_OIDS = {
    "common_name": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizational_unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "country": NameOID.COUNTRY_NAME,
    "email": NameOID.EMAIL_ADDRESS,
}
# Subject order in the certificate: C, ST, L, O, OU, CN, emailAddress (the usual X.500 order).
SUBJECT_ORDER = ("country", "state", "locality", "organization", "organizational_unit", "common_name", "email")

_PEM_CSR = re.compile(r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----.+?-----END (NEW )?CERTIFICATE REQUEST-----", re.S)


class CsrError(ValueError):
    """The CSR cannot be used; the message says why, in words for the person who uploaded it."""


@dataclass(frozen=True)
class ParsedCsr:
    """An uploaded CSR, read into the enrollment form's fields."""

    pem: str
    subject: dict[str, str]
    sans: dict[str, list[str]]
    key_type: str
    key_size: int
    hash: str
    public_key_sha256: str
    has_challenge_password: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def generate_private_key(key_type: str, key_size: int) -> CertificateIssuerPrivateKeyTypes:
    """A new RSA (2048/3072/4096) or EC (P-256/P-384/P-521 by size) private key."""
    if key_type == KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    if key_type == KeyType.EC and key_size in CURVES:
        return ec.generate_private_key(CURVES[key_size]())
    raise ValueError(f"cannot generate a {key_type} key of {key_size} bits")


def private_key_pkcs8(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pkcs8_der: bytes) -> Any:
    return serialization.load_der_private_key(pkcs8_der, password=None)


def subject_name(subject: dict[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(SUBJECT_OIDS[key], subject[key]) for key in SUBJECT_ORDER if subject.get(key)])


def san_extension(sans: dict[str, list[str]]) -> x509.SubjectAlternativeName | None:
    names: list[x509.GeneralName] = []
    names += [x509.DNSName(v) for v in sans.get("dns", [])]
    names += [x509.IPAddress(ipaddress.ip_address(v)) for v in sans.get("ip", [])]
    names += [x509.RFC822Name(v) for v in sans.get("email", [])]
    names += [x509.UniformResourceIdentifier(v) for v in sans.get("uri", [])]
    return x509.SubjectAlternativeName(names) if names else None


def build_csr(
    *,
    key: CertificateIssuerPrivateKeyTypes,
    subject: dict[str, str],
    sans: dict[str, list[str]],
    hash_name: str,
    challenge_password: str = "",
) -> str:
    """A PEM CSR for `key` with the subject, the SAN extension and, when given, the challengePassword attribute."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(subject))
    extension = san_extension(sans)
    if extension is not None:
        builder = builder.add_extension(extension, critical=False)
    if challenge_password:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge_password.encode("utf-8"))
    csr = builder.sign(key, HASHES[hash_name]())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _load(data: str | bytes) -> x509.CertificateSigningRequest:
    raw = data.encode("utf-8", "ignore") if isinstance(data, str) else data
    text = raw.decode("ascii", "ignore")
    match = _PEM_CSR.search(text)
    try:
        if match:
            pem = match.group(0).replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST")
            return x509.load_pem_x509_csr(pem.encode("ascii"))
        if "-----BEGIN" in text:
            raise CsrError("The text is PEM but not a certificate request (expected BEGIN CERTIFICATE REQUEST).")
        stripped = "".join(text.split())
        if stripped and re.fullmatch(r"[A-Za-z0-9+/=]+", stripped):
            return x509.load_der_x509_csr(base64.b64decode(stripped, validate=True))
        return x509.load_der_x509_csr(raw)
    except CsrError:
        raise
    except (ValueError, binascii.Error, TypeError) as exc:
        raise CsrError(f"This is not a readable certificate request (PEM or DER): {exc}") from None


def parse_csr(data: str | bytes) -> ParsedCsr:
    """Read a CSR (PEM, base64 DER or raw DER) and check its signature; raise CsrError with a clear message."""
    if not data or not data.strip():
        raise CsrError("Paste or upload a certificate request.")
    csr = _load(data)
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # an unsupported algorithm surfaces here
        raise CsrError(f"The request's signature cannot be checked: {exc}") from None
    if not valid:
        raise CsrError("The request's signature does not match its public key: it was altered or is corrupt.")
    try:
        public_key = csr.public_key()
        key_type, key_size = key_type_and_size(public_key)
    except ValueError as exc:
        raise CsrError(f"The request's public key is not supported: {exc}") from None
    subject = {
        key: str(attrs[0].value)
        for key, oid in SUBJECT_OIDS.items()
        if (attrs := csr.subject.get_attributes_for_oid(oid))
    }
    sans: dict[str, list[str]] = {"dns": [], "ip": [], "email": [], "uri": []}
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans["dns"] = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
        sans["ip"] = [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
        sans["email"] = [str(v) for v in ext.get_values_for_type(x509.RFC822Name)]
        sans["uri"] = [str(v) for v in ext.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    try:
        csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
        has_password = True
    except x509.AttributeNotFound:
        has_password = False
    hash_alg = csr.signature_hash_algorithm
    return ParsedCsr(
        pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        subject=subject,
        sans=sans,
        key_type=key_type,
        key_size=key_size,
        hash=hash_alg.name if hash_alg is not None else "",
        public_key_sha256=public_key_fingerprint(public_key),
        has_challenge_password=has_password,
    )
