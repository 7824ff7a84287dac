"""PKCS#12 (PFX) files for Windows targets.

The OS build decides the encryption (iis-peers.md §5, pki-tools.md §3): Windows Server 2016 (build 14393) and
older cannot import AES-256 PFX files, so below build 17763 the key and certificate bags use TripleDES with a
SHA-1 MAC; from 17763 on, the General Settings algorithm applies (AES-256 + PBKDF2-HMAC-SHA256 by default).
"""

from __future__ import annotations

import secrets
import string
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

FIRST_AES_BUILD = 17763  # Windows Server 2019 / Windows 10 1809
KDF_ROUNDS = 2000


class Pkcs12Encryption(StrEnum):
    AES256_SHA256 = "aes256_sha256"
    TRIPLEDES_SHA1 = "tripledes_sha1"


def encryption_for_build(os_build: int | None, configured: str) -> Pkcs12Encryption:
    """The PFX encryption a host can import: TripleDES-SHA1 below build 17763 (or when the build is unknown),
    else the configured General Settings algorithm."""
    if os_build is None or os_build < FIRST_AES_BUILD:
        return Pkcs12Encryption.TRIPLEDES_SHA1
    return Pkcs12Encryption(configured)


def _encryption(algorithm: Pkcs12Encryption, password: bytes) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(KDF_ROUNDS)
    if algorithm == Pkcs12Encryption.TRIPLEDES_SHA1:
        # SHA-1 and TripleDES on purpose: the only PFX protection Windows Server 2016 can import.
        legacy = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        return legacy.hmac_hash(hashes.SHA1()).build(password)  # noqa: S303
    return builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256()).build(password)


def build_pfx(
    *,
    key: PrivateKeyTypes,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    password: str,
    algorithm: Pkcs12Encryption,
    friendly_name: str = "",
) -> bytes:
    """A PFX holding the key, the certificate (with its friendly name) and the chain, encrypted for the target."""
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8") or None,
        key,  # type: ignore[arg-type]
        certificate,
        chain or None,
        _encryption(algorithm, password.encode("utf-8")),
    )


def random_pfx_password(length: int = 32) -> str:
    """A fresh random password for one push (secure push): letters and digits, never reused."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def load_private_key(pkcs8_der: bytes) -> PrivateKeyTypes:
    return serialization.load_der_private_key(pkcs8_der, password=None)
