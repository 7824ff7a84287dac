"""Discovery's parser (`parse_der_for_inventory`) gives the inventory the same fields as the full `parse_der`, for
every key type, with and without SANs and extensions, for CA and leaf certificates and repeated issuers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificates.x509 import parse_der, parse_der_for_inventory, public_key_sha256_of

_CA_KEY = ec.generate_private_key(ec.SECP384R1())
_CA_NAME = x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, "Unit Issuing CA"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ü+")]
)


def _der(public_key: object, *, cn: str = "host.example.test", extensions: bool = True, self_signed_by=None) -> bytes:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed_by is not None else _CA_NAME)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=3))
        .not_valid_after(now + dt.timedelta(days=200))
    )
    if extensions:
        builder = (
            builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(cn),
                        x509.DNSName(f"www.{cn}"),
                        x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
                        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                        x509.RFC822Name("ops@example.test"),
                        x509.UniformResourceIdentifier("https://example.test/x"),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=self_signed_by is not None, path_length=None), critical=True)
        )
    signer = self_signed_by if self_signed_by is not None else _CA_KEY
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


KEYS = {
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "rsa-3072": lambda: rsa.generate_private_key(65537, 3072),
    "p-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p-384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p-521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "brainpool": lambda: ec.generate_private_key(ec.BrainpoolP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed448": ed448.Ed448PrivateKey.generate,
    "dsa": lambda: dsa.generate_private_key(2048),
}


@pytest.mark.parametrize("kind", list(KEYS))
@pytest.mark.parametrize("extensions", [True, False])
def test_the_inventory_parser_gives_the_fields_of_the_full_parse(kind: str, extensions: bool) -> None:
    key = KEYS[kind]()
    der = _der(key.public_key(), extensions=extensions)
    full, fast = parse_der(der), parse_der_for_inventory(der)
    assert fast.public_key_sha256 == ""
    assert dataclasses.replace(full, public_key_sha256="") == fast
    assert public_key_sha256_of(der) == full.public_key_sha256
    assert fast.key_size == full.key_size > 0


def test_a_self_signed_certificate_and_repeated_issuers() -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _der(root_key.public_key(), cn="Unit Root", self_signed_by=root_key)
    assert parse_der_for_inventory(root).self_signed is True
    assert dataclasses.replace(parse_der(root), public_key_sha256="") == parse_der_for_inventory(root)
    leaves = [_der(ec.generate_private_key(ec.SECP256R1()).public_key(), cn=f"h{i}.example.test") for i in range(3)]
    parsed = [parse_der_for_inventory(der) for der in leaves]
    assert {p.issuer for p in parsed} == {parse_der(leaves[0]).issuer}
    assert [p.common_name for p in parsed] == ["h0.example.test", "h1.example.test", "h2.example.test"]
    assert not any(p.self_signed for p in parsed)
