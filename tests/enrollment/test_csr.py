"""CSRs made in the portal (RSA 2048/3072/4096, EC P-256/P-384) and uploaded CSRs (parsed, signature checked)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AttributeOID

from enrollment.csr import CsrError, build_csr, generate_private_key, parse_csr
from tests.enrollment.helpers import openssl

SUBJECT = {
    "common_name": "www.example.test",
    "organization": "Example Org",
    "organizational_unit": "Web",
    "locality": "Springfield",
    "state": "Oregon",
    "country": "US",
    "email": "pki@example.test",
}
SANS = {"dns": ["www.example.test"], "ip": ["192.0.2.1", "2001:db8::1"], "email": ["a@example.test"], "uri": []}


@pytest.mark.parametrize(("key_type", "size"), [("rsa", 2048), ("rsa", 3072), ("rsa", 4096), ("ec", 256), ("ec", 384)])
def test_it_generates_a_csr_that_reads_back_with_the_same_fields(key_type: str, size: int) -> None:
    key = generate_private_key(key_type, size)
    pem = build_csr(key=key, subject=SUBJECT, sans=SANS, hash_name="sha384", challenge_password="Secr3t!pw")
    parsed = parse_csr(pem)
    assert (parsed.key_type, parsed.key_size, parsed.hash) == (key_type, size, "sha384")
    assert parsed.subject == SUBJECT
    assert parsed.sans == {**SANS, "ip": ["192.0.2.1", "2001:db8::1"]}
    assert parsed.has_challenge_password
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value == b"Secr3t!pw"


def test_openssl_accepts_the_csr_signature(tmp_path: Path) -> None:
    pem = build_csr(key=generate_private_key("ec", 256), subject=SUBJECT, sans=SANS, hash_name="sha256")
    (tmp_path / "req.pem").write_text(pem)
    result = openssl("req", "-in", "req.pem", "-noout", "-verify", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "verify OK" in (result.stdout + result.stderr)


def test_it_reads_der_and_base64_der_too() -> None:
    pem = build_csr(
        key=generate_private_key("ec", 256), subject={"common_name": "der.test"}, sans={}, hash_name="sha256"
    )
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert parse_csr(der).subject["common_name"] == "der.test"
    assert parse_csr(base64.b64encode(der).decode()).subject["common_name"] == "der.test"
    assert parse_csr("junk before\n" + pem + "\njunk after").subject["common_name"] == "der.test"


def test_a_tampered_csr_is_refused_for_its_signature() -> None:
    pem = build_csr(
        key=generate_private_key("rsa", 2048), subject={"common_name": "a.test"}, sans={}, hash_name="sha256"
    )
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    index = der.find(b"a.test")
    der[index] = ord("b")  # the subject now says b.test; the signature was made over a.test
    with pytest.raises(CsrError, match="signature does not match"):
        parse_csr(bytes(der))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Paste or upload"),
        ("hello world", "not a readable certificate request"),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "not a certificate request"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "not a readable"),
    ],
)
def test_a_malformed_csr_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(CsrError, match=message):
        parse_csr(text)
