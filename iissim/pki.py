"""The lab's certificate authority and the certificates a lab file asks for (generated at start, or given as PEM/PFX).

The lab CA is a root plus an issuing CA, both ECDSA P-256 so that a lab of hundreds of hosts signs its certificates
in seconds. Leaf keys are RSA-2048 or ECDSA P-256 as the lab file says.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES, PKCS12Certificate
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_RELATIVE = re.compile(r"^([+-]?\d+)\s*([dhm]?)$")


def when(value: Any, now: dt.datetime) -> dt.datetime:
    """A lab-file time: `+365d`, `-10d`, `+2h`, a number of days, or an ISO date."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int):
        return now + dt.timedelta(days=value)
    text = str(value).strip()
    match = _RELATIVE.match(text)
    if match:
        amount = int(match.group(1))
        unit = match.group(2) or "d"
        delta = {"d": dt.timedelta(days=amount), "h": dt.timedelta(hours=amount), "m": dt.timedelta(minutes=amount)}
        return now + delta[unit]
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def new_key(kind: str) -> PrivateKey:
    kind = kind.lower()
    if kind in ("ec", "ec256", "ecdsa", "p256", "ecdsa-p256"):
        return ec.generate_private_key(ec.SECP256R1())
    if kind in ("ec384", "p384", "ecdsa-p384"):
        return ec.generate_private_key(ec.SECP384R1())
    if kind in ("rsa", "rsa2048"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unknown key type '{kind}' (rsa2048, rsa3072, ec256, ec384)")


def pfx_encryption(kind: str, password: str | None, kdf_rounds: int = 2000) -> serialization.KeySerializationEncryption:
    """`legacy` = TripleDES-SHA1 (what Server 2016 reads), `aes256` = PBES2/AES-256/SHA-256 (2019+), `none`."""
    if not password or kind == "none":
        return serialization.NoEncryption()
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(kdf_rounds)
    if kind == "legacy":
        return (
            builder.key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the MAC Windows Server 2016 reads
            .build(password.encode())
        )
    if kind == "aes256":
        return (
            builder.key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
    raise ValueError(f"unknown PFX encryption '{kind}' (legacy, aes256, none)")


@dataclass
class Material:
    """A certificate with its key (if any) and its chain up to, not including, the root."""

    cert: x509.Certificate
    key: PrivateKey | None
    chain: list[x509.Certificate] = field(default_factory=list)
    friendly_name: str = ""

    @property
    def der(self) -> bytes:
        return cert_der(self.cert)

    def pfx(self, password: str | None, encryption: str = "legacy", *, kdf_rounds: int = 2000) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            self.friendly_name.encode() or None,
            self.key,
            self.cert,
            [PKCS12Certificate(c, None) for c in self.chain] or None,
            pfx_encryption(encryption, password, kdf_rounds),
        )


class LabCA:
    """Root and issuing CA of a lab; persisted in the state directory so restarts keep the same trust anchor."""

    def __init__(self, root: Material, issuing: Material) -> None:
        self.root = root
        self.issuing = issuing
        self._serial = int.from_bytes(os.urandom(8), "big")

    @classmethod
    def create(cls, name: str = "Thumbprint Lab") -> LabCA:
        now = dt.datetime.now(dt.UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA"),
            ]
        )
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        issuing_key = ec.generate_private_key(ec.SECP256R1())
        issuing_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Issuing CA"),
            ]
        )
        issuing = (
            x509.CertificateBuilder()
            .subject_name(issuing_name)
            .issuer_name(root_name)
            .public_key(issuing_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        return cls(
            Material(root, root_key, [], f"{name} Root CA"),
            Material(issuing, issuing_key, [root], f"{name} Issuing CA"),
        )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "lab-ca.pem").write_bytes(cert_pem(self.root.cert))
        (directory / "lab-issuing-ca.pem").write_bytes(cert_pem(self.issuing.cert))
        for name, material in (("lab-ca.key", self.root), ("lab-issuing-ca.key", self.issuing)):
            path = directory / name
            assert material.key is not None
            path.write_bytes(
                material.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            path.chmod(0o600)

    @classmethod
    def load(cls, directory: Path) -> LabCA | None:
        try:
            root = x509.load_pem_x509_certificate((directory / "lab-ca.pem").read_bytes())
            issuing = x509.load_pem_x509_certificate((directory / "lab-issuing-ca.pem").read_bytes())
            root_key = serialization.load_pem_private_key((directory / "lab-ca.key").read_bytes(), None)
            issuing_key = serialization.load_pem_private_key((directory / "lab-issuing-ca.key").read_bytes(), None)
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(root_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) or not isinstance(
            issuing_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        ):
            return None
        return cls(Material(root, root_key, []), Material(issuing, issuing_key, [root]))

    def issue(
        self,
        *,
        common_name: str,
        dns_names: list[str] | None = None,
        ip_addresses: list[str] | None = None,
        key: PrivateKey | None = None,
        key_type: str = "rsa2048",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        self_signed: bool = False,
        friendly_name: str = "",
        organization: str | None = None,
        client_auth: bool = False,
    ) -> Material:
        now = dt.datetime.now(dt.UTC)
        key = key or new_key(key_type)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        subject = x509.Name(attrs)
        self._serial += 1
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names or []]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses or []]
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
        issuer = subject if self_signed else self.issuing.cert.subject
        signer = key if self_signed else self.issuing.key
        assert signer is not None
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(self._serial)
            .not_valid_before(not_before or now - dt.timedelta(days=1))
            .not_valid_after(not_after or now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if not self_signed:
            assert self.issuing.key is not None
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing.key.public_key()), critical=False
            )
        cert = builder.sign(signer, hashes.SHA256())
        chain = [] if self_signed else [self.issuing.cert]
        return Material(cert, key, chain, friendly_name)


def load_given_material(spec: dict[str, Any], base: Path) -> Material:
    """A certificate given by the lab file: `pem` (cert + key in one file, or `key` beside it) or `pfx` + password."""
    if "pfx" in spec:
        data = (base / spec["pfx"]).read_bytes()
        password = spec.get("password")
        loaded = pkcs12.load_pkcs12(data, password.encode() if password else None)
        if loaded.cert is None:
            raise ValueError(f"{spec['pfx']}: no certificate with a key")
        key = loaded.key
        if key is not None and not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{spec['pfx']}: unsupported key type")
        return Material(loaded.cert.certificate, key, [c.certificate for c in loaded.additional_certs])
    pem = (base / spec["pem"]).read_bytes()
    certs = x509.load_pem_x509_certificates(pem)
    key_bytes = (base / spec["key"]).read_bytes() if spec.get("key") else pem
    key = None
    if b"PRIVATE KEY" in key_bytes:
        loaded_key = serialization.load_pem_private_key(key_bytes, None)
        if not isinstance(loaded_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{spec['pem']}: unsupported key type")
        key = loaded_key
    return Material(certs[0], key, certs[1:])
