"""Small builders shared by the onboarding tests (no fixtures here)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from devices.iis import operations as ops
from devices.services import DeviceInput, GatewayInput

# The demo lab's PKI share and the credential it accepts.
SHARE = "\\\\fs01.lab.test\\pki"
SHARE_CREDENTIAL = ops.FolderCredential("LAB\\svc-pki", "Share-Pki-2025!")


class Recording:
    """Passes every call to the real session and keeps the raw `data` of each operation (for shape checks)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.data: dict[str, Any] = {}

    def run(self, op: str, params: dict[str, Any], script: str) -> Any:
        self.data[op] = self.session.run(op, params, script)
        return self.data[op]


def client_pfx(common_name: str = "gateway-client", password: str = "pfx-pass") -> bytes:
    """A PKCS#12 with a fresh EC key and a self-signed client certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"client", key, cert, None, encryption)


def ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def manual_input(name: str = "iis-01", **overrides: Any) -> DeviceInput:
    """A valid device input: manual credential, integrated gateway, HTTPS with verification."""
    data = DeviceInput(
        name=name,
        hostname=f"{name}.example.test",
        data_center="dc-east",
        username="EXAMPLE\\svc-iis",
        password="Sw0rdfish-$@!",
    )
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


def gateway_input(name: str = "dmz", **overrides: Any) -> GatewayInput:
    data = GatewayInput(name=name, url=f"https://{name}.example.test:8443")
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.3, message: str = "") -> Any:
    """Poll until `predicate()` returns something truthy; fail with `message` (or its last value) after `timeout`."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s (last value: {value!r})")
