"""PFX encryption by target build, checked with the openssl CLI (the algorithms actually written)."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certificates.pkcs12 import Pkcs12Encryption, build_pfx, encryption_for_build, random_pfx_password


def self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("build", "configured", "expected"),
    [
        (14393, "aes256_sha256", Pkcs12Encryption.TRIPLEDES_SHA1),
        (17762, "aes256_sha256", Pkcs12Encryption.TRIPLEDES_SHA1),
        (17763, "aes256_sha256", Pkcs12Encryption.AES256_SHA256),
        (20348, "tripledes_sha1", Pkcs12Encryption.TRIPLEDES_SHA1),
        (None, "aes256_sha256", Pkcs12Encryption.TRIPLEDES_SHA1),
    ],
)
def test_the_os_build_decides_the_pfx_encryption(build: int | None, configured: str, expected: str) -> None:
    assert encryption_for_build(build, configured) == expected


@pytest.mark.parametrize(
    ("algorithm", "key_bag", "mac"),
    [
        (Pkcs12Encryption.TRIPLEDES_SHA1, "pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"),
        (Pkcs12Encryption.AES256_SHA256, "AES-256-CBC", "MAC: sha256"),
    ],
)
def test_openssl_sees_the_algorithm_we_chose(
    algorithm: Pkcs12Encryption, key_bag: str, mac: str, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = self_signed(key, "www.example.test")
    ca = self_signed(ec.generate_private_key(ec.SECP256R1()), "Example CA")
    password = random_pfx_password()
    pfx = build_pfx(
        key=key, certificate=leaf, chain=[ca], password=password, algorithm=algorithm, friendly_name="www 2026"
    )
    path = tmp_path / "x.pfx"
    path.write_bytes(pfx)
    info = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-in", str(path), "-passin", f"pass:{password}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"Shrouded Keybag: {key_bag}" in info.stderr or (key_bag in info.stderr and "Shrouded Keybag" in info.stderr)
    assert mac in info.stderr
    loaded = pkcs12.load_pkcs12(pfx, password.encode())
    assert loaded.cert is not None and loaded.cert.certificate == leaf
    assert loaded.cert.friendly_name == b"www 2026"
    assert [c.certificate for c in loaded.additional_certs] == [ca]


def test_every_push_gets_a_fresh_password() -> None:
    passwords = {random_pfx_password() for _ in range(100)}
    assert len(passwords) == 100
    assert all(len(p) == 32 and p.isalnum() for p in passwords)
