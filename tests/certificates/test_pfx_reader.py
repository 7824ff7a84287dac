"""The fast PFX reader against `cryptography`'s own PKCS#12 writer and loader: the same certificates, the right
password chosen among candidates, wrong passwords and damaged files told apart, keys extracted without validation."""

from __future__ import annotations

import datetime as dt
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certificates.pfx_reader import (
    PfxFormatError,
    PfxPasswordError,
    _libcrypto,
    pfx_open,
    pkcs12_kdf,
    pkcs12_kdf_python,
)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def chain() -> dict:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test CA"))
        .issuer_name(_name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(65537, 2048)

    def leaf(cn: str, public_key: object) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )

    ec_key = ec.generate_private_key(ec.SECP384R1())
    return {
        "ca": ca,
        "key": key,
        "leaf": leaf("www.example.test", key.public_key()),
        "ec_key": ec_key,
        "ec_leaf": leaf("ec.example.test", ec_key.public_key()),
    }


def _encryption(kind: str, password: str) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2000)
    if kind == "3des":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(password.encode())


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(("kind", "expected"), [("3des", "3des"), ("aes", "aes")])
def test_it_reads_the_leaf_and_chain_of_windows_style_pfx_files(chain: dict, kind: str, expected: str) -> None:
    password = "Renew@l$2026 «ü»"
    data = pkcs12.serialize_key_and_certificates(
        b"shop 2026", chain["key"], chain["leaf"], [chain["ca"]], _encryption(kind, password)
    )
    read = pfx_open(data, [password])
    assert read.leaf_der == _der(chain["leaf"])
    assert read.chain_der == (_der(chain["ca"]),)
    assert read.friendly_name == "shop 2026"
    assert read.has_key and read.key_pkcs8 is None
    assert (read.encryption, read.password_index, read.fast_path) == (expected, 0, True)


def test_it_tries_candidate_passwords_in_order_and_says_which_opened_it(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", chain["key"], chain["leaf"], None, _encryption("aes", "third"))
    assert pfx_open(data, ["first", "second", "third", "fourth"]).password_index == 2


def test_a_file_no_candidate_opens_is_a_password_error_not_a_format_error(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", chain["key"], chain["leaf"], None, _encryption("3des", "right"))
    with pytest.raises(PfxPasswordError):
        pfx_open(data, ["wrong", "also wrong"])
    with pytest.raises(PfxPasswordError):
        pfx_open(data, [])


@pytest.mark.parametrize("junk", [b"", b"not a pfx at all", b"\x30\x82\xff\xff\x02\x01\x03", b"-----BEGIN CERT"])
def test_junk_is_a_format_error(junk: bytes) -> None:
    with pytest.raises(PfxFormatError):
        pfx_open(junk, ["any"])


def test_a_truncated_file_is_a_format_error(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", chain["key"], chain["leaf"], None, _encryption("aes", "pw"))
    with pytest.raises(PfxFormatError):
        pfx_open(data[: len(data) // 2], ["pw"])


def test_files_without_a_password_open_with_any_candidates(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(b"x", chain["key"], chain["leaf"], None, serialization.NoEncryption())
    read = pfx_open(data, ["unrelated"])
    assert read.leaf_der == _der(chain["leaf"]) and read.password_index is None


def test_an_empty_password_is_tried_after_the_candidates(chain: dict, tmp_path: Path) -> None:
    """An export with an empty password (cryptography cannot write one; the openssl CLI can, as Windows does)."""
    (tmp_path / "key.pem").write_bytes(
        chain["key"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "cert.pem").write_bytes(chain["leaf"].public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-inkey",
            "key.pem",
            "-in",
            "cert.pem",
            "-out",
            "empty.pfx",
            "-passout",
            "pass:",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    read = pfx_open((tmp_path / "empty.pfx").read_bytes(), ["not it"])
    assert read.leaf_der == _der(chain["leaf"]) and read.password_index is None


def test_the_key_is_extracted_as_pkcs8_only_when_asked(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"x", chain["ec_key"], chain["ec_leaf"], None, _encryption("aes", "pw")
    )
    assert pfx_open(data, ["pw"]).key_pkcs8 is None
    pkcs8 = pfx_open(data, ["pw"], extract_key=True).key_pkcs8
    assert pkcs8 is not None
    key = serialization.load_der_private_key(pkcs8, None)
    assert key.private_numbers() == chain["ec_key"].private_numbers()  # type: ignore[union-attr]


def test_an_inconsistent_rsa_key_does_not_stop_the_certificate_from_being_read(chain: dict) -> None:
    """load_pkcs12 validates RSA keys (the 38 ms per file the reader avoids); the reader leaves that to use time.
    A key whose CRT parameter is wrong proves that no validation happened."""
    numbers = chain["key"].private_numbers()
    broken = rsa.RSAPrivateNumbers(
        p=numbers.p,
        q=numbers.q,
        d=numbers.d,
        dmp1=numbers.dmp1 + 2,
        dmq1=numbers.dmq1,
        iqmp=numbers.iqmp,
        public_numbers=numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    data = pkcs12.serialize_key_and_certificates(b"x", broken, chain["leaf"], None, _encryption("3des", "pw"))
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(data, b"pw")
    read = pfx_open(data, ["pw"], extract_key=True)
    assert read.leaf_der == _der(chain["leaf"]) and read.key_pkcs8


def test_a_certificate_only_file_has_no_key(chain: dict) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None, None, None, [pkcs12.PKCS12Certificate(chain["leaf"], b"only")], _encryption("aes", "pw")
    )
    read = pfx_open(data, ["pw"])
    assert read.leaf_der == _der(chain["leaf"]) and not read.has_key


def test_ber_files_fall_back_to_load_pkcs12(chain: dict) -> None:
    """Windows and Java sometimes write BER (indefinite lengths); the fast path hands those to cryptography."""
    data = pkcs12.serialize_key_and_certificates(b"x", chain["key"], chain["leaf"], None, _encryption("aes", "pw"))
    # Re-encode the outer SEQUENCE with an indefinite length (a valid BER form of the same PFX).
    assert data[0] == 0x30 and data[1] & 0x80
    header = 2 + (data[1] & 0x7F)
    ber = b"\x30\x80" + data[header:] + b"\x00\x00"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pfx_open(ber, ["pw"])
    assert read.leaf_der == _der(chain["leaf"]) and read.fast_path is False


@pytest.mark.parametrize(("digest", "purpose", "length"), [("sha1", 1, 24), ("sha1", 2, 8), ("sha256", 3, 32)])
def test_the_c_key_derivation_matches_rfc_7292_in_python(digest: str, purpose: int, length: int) -> None:
    password = "Pässword".encode("utf-16-be") + b"\x00\x00"
    expected = pkcs12_kdf_python(digest, password, b"saltsalt", purpose, 2048, length)
    assert pkcs12_kdf(digest, password, b"saltsalt", purpose, 2048, length) == expected
    assert _libcrypto() is not None, "the C path is what the throughput target relies on"
