"""Certificates and devices for inventory tests: real X.509 certificates (EC keys, fast to make) and the findings
discovery would produce for them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificates.bulk import DeviceFindings, FoundBinding, FoundLocation, IngestOptions, device_findings_apply
from certificates.choices import CertificateStatus
from certificates.selectors import group_default
from certificates.x509 import ParsedCertificate, parse_der
from devices.models import Device
from devices.services import gateway_integrated

_CA_KEY = ec.generate_private_key(ec.SECP256R1())


def make_certs(count: int, prefix: str = "app") -> list[ParsedCertificate]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{prefix}{i}.example.test")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unit CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{prefix}{i}.example.test")]), critical=False)
            .sign(_CA_KEY, hashes.SHA256())
        )
        out.append(parse_der(cert.public_bytes(serialization.Encoding.DER)))
    return out


def devices(count: int) -> list[Device]:
    gateway = gateway_integrated()  # a transactional test before may have flushed the migration's row
    return [Device.objects.create(name=f"dev-{i}", hostname=f"10.9.0.{i + 1}", gateway=gateway) for i in range(count)]


def findings(certs: list[ParsedCertificate], *, bound: int = 0, store: str = "My") -> DeviceFindings:
    found = DeviceFindings(scanned_kinds={"store"}, bindings_scanned=True)
    for index, parsed in enumerate(certs):
        key = f"store:{store}:{parsed.thumbprint}"
        found.certificates[parsed.sha256] = parsed
        found.locations.append(FoundLocation(kind="store", key=key, sha256=parsed.sha256, store=store))
        found.present_location_keys.add(key)
        if index < bound:
            found.bindings.append(
                FoundBinding(
                    key=f"site:Site {parsed.common_name}:https:*:443:{parsed.common_name}",
                    location_key=key,
                    kind="site",
                    site_name=f"Site {parsed.common_name}",
                    protocol="https",
                    binding_information=f"*:443:{parsed.common_name}",
                    ip="*",
                    port=443,
                    host=parsed.common_name,
                    ssl_flags=1,
                    sni=True,
                )
            )
    return found


def options(status: str = CertificateStatus.MANAGED, group_id: int | None = None) -> IngestOptions:
    return IngestOptions(status=status, default_group_id=group_id or group_default().pk)


def make_cert(
    cn: str,
    *,
    days: int = 90,
    rsa_bits: int | None = None,
    client: bool = False,
    issuer: str = "Unit CA",
    hash_algorithm: Any = None,
    valid_days: int | None = None,
) -> ParsedCertificate:
    """One certificate with the properties an inventory test filters on."""
    now = dt.datetime.now(dt.UTC)
    key: Any = rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
    not_before = now - dt.timedelta(days=(valid_days - days) if valid_days else 1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn), x509.DNSName(f"alt.{cn}")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
    )
    cert = builder.sign(_CA_KEY, hash_algorithm or hashes.SHA256())
    return parse_der(cert.public_bytes(serialization.Encoding.DER))


def record(
    device: Device,
    certs: list[ParsedCertificate],
    *,
    bound: int = 0,
    status: str = "managed",
    group_id: int | None = None,
) -> Any:
    return device_findings_apply(
        device_id=device.pk, findings=findings(certs, bound=bound), options=options(status, group_id)
    )
