"""Helpers of the connector tests: the demo lab's hosts onboarded and validated (so their sites are known), a
certificate with its key held by the portal, a push driven through its preview and approvals, and what a plain
Python `ssl` client is served."""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
from typing import Any
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificates.choices import CertificateSource, CertificateStatus, KeyLocation
from certificates.models import Certificate, PrivateKey
from certificates.services import certificate_record
from certificates.x509 import parse_der
from connectors.models import AppConnector, PushDevice
from connectors.previewing import push_preview_run
from connectors.rules import ConnectorInput
from connectors.services import connector_create, push_request
from devices.choices import ValidationState
from devices.models import Device, DeviceValidation
from devices.services import device_create
from devices.validation import device_validation_run
from iissim.control import ControlClient
from iissim.lab import Lab
from tests.devices.labs import lab_device_input
from workorders.models import WorkOrder
from workorders.services import workorder_approve, workorder_execute, workorder_implement

_CA: tuple[Any, x509.Certificate] | None = None


def onboard(lab: Lab, *names: str, **overrides: Any) -> dict[str, Device]:
    """Lab hosts as devices, validated in this process (facts, OS build, sites and bindings read over WinRM)."""
    devices = {}
    for name in names:
        device = device_create(data=lab_device_input(lab, name, **overrides), validate=False)
        validation = DeviceValidation.objects.create(
            device=device, gateway_name=device.gateway.name, queue=device.gateway.queue
        )
        device_validation_run(validation_id=validation.pk)
        validation.refresh_from_db()
        assert validation.state == ValidationState.FINISHED, validation.reason
        device.refresh_from_db()
        assert device.sites, f"{name}: no sites read ({device.status_reason})"
        devices[name] = device
    return devices


def _test_ca() -> tuple[Any, x509.Certificate]:
    global _CA
    if _CA is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Push Test Issuing CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        _CA = (key, cert)
    return _CA


def make_certificate(
    common_name: str,
    *,
    sans: list[str] | None = None,
    client: bool = False,
    key_location: str | None = KeyLocation.PORTAL,
    rsa_key: bool = True,
    days: int = 90,
    issuer: tuple[Any, x509.Certificate] | None = None,
    chain: list[x509.Certificate] | None = None,
) -> Certificate:
    """A certificate issued by a test CA (or by `issuer`, a key and its certificate) and recorded Managed with
    `chain` as its issuer chain (default: the test CA), its private key held as `key_location` says (None: no key
    row at all)."""
    ca_key, ca_cert = issuer or _test_ca()
    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    now = datetime.datetime.now(datetime.UTC)
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
    names = [x509.DNSName(n) for n in (sans or [common_name])]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days - 30)))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    parsed = parse_der(cert.public_bytes(serialization.Encoding.DER))
    chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (chain or [ca_cert]))
    certificate, _ = certificate_record(
        parsed=parsed, status=CertificateStatus.MANAGED, source=CertificateSource.UPLOADED, chain_pem=chain_pem
    )
    if key_location is not None:
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        PrivateKey.objects.create(
            certificate=certificate,
            location=key_location,
            key_type=parsed.key_type,
            key_size=parsed.key_size,
            pkcs8=pkcs8 if key_location == KeyLocation.PORTAL else None,
            public_key_sha256=parsed.public_key_sha256,
        )
    return certificate


def store_thumbprints(lab: Lab, host: str) -> dict[str, set[str]]:
    """Thumbprints per LocalMachine store (My, WebHosting, CA, Root) as the simulated host holds them."""
    return {name: {c["thumbprint"] for c in certs} for name, certs in control(lab).state(host)["stores"].items()}


def connector_for(certificate: Certificate, user: Any, devices: list[Device], **fields: Any) -> AppConnector:
    data = ConnectorInput(name=fields.pop("name", "web"), devices=[d.pk for d in devices], **fields)
    data.friendly_name = data.friendly_name or certificate.common_name
    return connector_create(certificate=certificate, data=data, user=user)


def request_and_preview(connector: AppConnector, requester: Any, comment: str = "go") -> WorkOrder:
    """Push to Device, then the preview run in this process (the worker's job); the order is submitted or
    cancelled."""
    with mock.patch("connectors.tasks.push_preview_task.apply_async"):
        orders = push_request(connector=connector, user=requester, comment=comment)
    assert len(orders) == 1
    push_preview_run(work_order_id=orders[0].pk)
    orders[0].refresh_from_db()
    return orders[0]


def approve_and_implement(order: WorkOrder, approvers: list[Any], implementer: Any) -> WorkOrder:
    for approver in approvers:
        workorder_approve(work_order_id=order.pk, user=approver)
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        workorder_implement(work_order_id=order.pk, user=implementer)
    order.refresh_from_db()
    return order


def execute(order: WorkOrder, *, final: bool = False) -> str:
    """One run of the order's executor in this process, as the worker runs it."""
    order.refresh_from_db()
    return workorder_execute(work_order_id=order.pk, attempt=order.attempts + 1, final=final).status


def push_through(
    connector: AppConnector, requester: Any, approvers: list[Any], implementer: Any
) -> tuple[WorkOrder, list[PushDevice]]:
    order = request_and_preview(connector, requester)
    assert order.state == "submitted", (order.state, order.error)
    approve_and_implement(order, approvers, implementer)
    execute(order)
    order.refresh_from_db()
    return order, list(PushDevice.objects.filter(work_order=order).order_by("device__name"))


def served_thumbprint(address: str, port: int, sni: str | None = None, timeout: float = 5) -> str:
    """What a plain Python `ssl` client is served (SHA-1 of the leaf, upper-case hex)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def control(lab: Lab) -> ControlClient:
    return ControlClient(lab.control_url)


def host_site(lab: Lab, host: str, site: str) -> dict[str, Any]:
    """A site as the simulator holds it (from its control API, not through the portal)."""
    return next(s for s in control(lab).state(host)["sites"] if s["name"] == site)


def https_bindings(lab: Lab, host: str, site: str) -> list[dict[str, Any]]:
    return [b for b in host_site(lab, host, site)["bindings"] if b["protocol"] == "https"]


def journal(lab: Lab, host: str, op: str) -> list[dict[str, Any]]:
    return [e for e in control(lab).journal(host) if e.get("op") == op]


def address(lab: Lab, host: str) -> str:
    return lab.host(host).state.addresses[0]


def discover(devices: list[Device], name: str = "connectors") -> None:
    """One discovery of the devices through the run services the device task calls (WinRM, ingestion, and the
    connectors hook), in this process."""
    from discovery import runs
    from discovery.models import Discovery, DiscoveryRun, DiscoveryRunDevice
    from discovery.services import DiscoveryInput, discovery_save

    label = f"{name}-{Discovery.objects.count() + 1}"
    discovery = discovery_save(data=DiscoveryInput(name=label, devices=[d.pk for d in devices]), user=None)
    run = DiscoveryRun.objects.create(
        discovery=discovery, discovery_name=discovery.name, options=runs.run_options(discovery)
    )
    for device in devices:
        row = DiscoveryRunDevice.objects.create(run=run, device=device, device_name=device.name)
        started = runs.run_device_begin(row_id=row.pk)
        assert started is not None
        runs.run_device_complete(row_id=row.pk, outcome=runs.discovery_device_run(row=started))
