"""The preview of a push, per device, for the approvers: what will change, what else it touches, what is imported
and how the PFX is protected -- and the dangerous changes it refuses before anyone approves them.

`host_read` reads the live host (sites and bindings with HTTP.sys; whether the certificate or the file is already
there; the build when the portal does not know it). `preview_compute` is pure: from that view and the connector's
targets it builds the preview (JSON, stored on the PushDevice row and shown on the work order), the refusals, and
the exact `push_and_bind` plan the executor will send -- so what runs is what was approved.

Refused (iis-peers.md §4, §6): SNI without a host name, CCS without a host name, a duplicate ip:port:host on the
host, an sslFlags bit the build lacks, a certificate (or file) already present when Overwrite is off, a binding that
no longer exists, a binding that takes its certificate from the Centralized Certificate Store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from certificates.exports import chain_certificates
from certificates.models import Certificate
from certificates.pkcs12 import encryption_for_build
from certificates.x509 import parse_der
from connectors.choices import (
    SSL_CCS,
    SSL_FLAG_NAMES,
    SSL_SNI,
    BindType,
    LocationType,
    Pkcs12EncryptionChoice,
    PushType,
    TargetKind,
    ssl_flags_mask_for_build,
)
from connectors.models import AppConnector, ConnectorTarget
from devices.iis import operations
from devices.iis.operations import SiteBinding, SiteInventory
from devices.models import Device
from devices.profiles import format_ip

WEB_PROTOCOLS = ("http", "https")


@dataclass
class HostView:
    """What the preview read from the host."""

    sites: SiteInventory | None = None
    build: int | None = None
    ssl_flags_mask: int | None = None
    certificate_present: bool = False
    file_exists: bool = False
    # Thumbprints in LocalMachine\CA and Root (read only when the connector pushes the chain).
    chain_stores: dict[str, set[str]] = field(default_factory=dict)
    read_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


CHAIN_STORES = ("CA", "Root")
CHAIN_STORE_LABELS = {"CA": "Intermediate Certification Authorities", "Root": "Trusted Root Certification Authorities"}


@dataclass
class Preview:
    data: dict[str, Any]
    refusals: list[str]
    plan: list[dict[str, Any]]


def binding_information(ip: str, port: int | None, host: str) -> str:
    return f"{format_ip(ip)}:{port}:{host or ''}"


def pfx_file_name(common_name: str) -> str:
    """The centralized file system naming: `<host>.pfx`, a wildcard as `_.<domain>.pfx`."""
    name = common_name.strip().lower()
    if name.startswith("*."):
        name = "_." + name[2:]
    return re.sub(r"[^a-z0-9._-]", "_", name) + ".pfx"


def file_target_path(connector: AppConnector) -> str:
    folder = connector.file_path.rstrip("\\/")
    return f"{folder}\\{pfx_file_name(connector.certificate.common_name or connector.certificate.thumbprint)}"


def host_read(session: operations.OperationRunner, *, connector: AppConnector, device: Device) -> HostView:
    """Read what the preview needs from the host (one round trip per part actually needed)."""
    from devices.sessions import device_folder_credential

    view = HostView(build=device.os_build, ssl_flags_mask=(device.facts or {}).get("ssl_flags_mask"))
    if device.os_build is None:
        facts = operations.host_facts(session)
        view.build, view.ssl_flags_mask = facts.build, facts.ssl_flags_mask
    if connector.binds:
        view.sites = operations.list_sites(session)
    if connector.location_type == LocationType.FILE_SYSTEM:
        path = file_target_path(connector)
        folder, _, name = path.rpartition("\\")
        credential = device_folder_credential(device) if folder.startswith("\\\\") else None
        files = operations.list_files(session, folder, credential=credential, patterns=(name,), recurse=False)
        view.file_exists = any(f.name.lower() == name.lower() for f in files)
    else:
        found = operations.list_store_certificates(
            session, stores=(connector.store_name,), include_der=False, thumbprint=connector.certificate.thumbprint
        )
        view.certificate_present = any(c.thumbprint == connector.certificate.thumbprint for c in found)
        if connector.push_chain and chain_certificates(connector.certificate):
            listed = operations.list_store_certificates(session, stores=CHAIN_STORES, include_der=False)
            view.chain_stores = {name: {c.thumbprint for c in listed if c.store == name} for name in CHAIN_STORES}
    return view


def _binding_dict(site: str, state: str, b: SiteBinding) -> dict[str, Any]:
    return {
        "site": site,
        "site_state": state,
        "protocol": b.protocol,
        "binding_information": b.binding_information,
        "ip": b.ip or "*",
        "port": b.port,
        "host": b.host or "",
        "ssl_flags": b.ssl_flags,
        "sni": b.sni,
        "certificate_hash": b.certificate_hash,
        "certificate_store": b.certificate_store,
        "http_sys": {"kind": b.http_sys.kind, "endpoint": b.http_sys.endpoint} if b.http_sys else None,
    }


def _key(ip: str | None, port: int | None, host: str | None) -> tuple[str, int, str]:
    return (format_ip(ip).lower(), int(port or 0), (host or "").lower())


def _flag_names(bits: int) -> str:
    return ", ".join(f"{bit} ({name})" for bit, name in SSL_FLAG_NAMES.items() if bits & bit)


class _Planner:
    def __init__(self, connector: AppConnector, device: Device, view: HostView) -> None:
        self.connector = connector
        self.device = device
        self.view = view
        self.mask = view.ssl_flags_mask if view.ssl_flags_mask is not None else ssl_flags_mask_for_build(view.build)
        self.refusals: list[str] = []
        self.changes: list[dict[str, Any]] = []
        self.plan: list[dict[str, Any]] = []
        self.bindings: list[tuple[str, str, SiteBinding]] = []
        for site in view.sites.sites if view.sites else ():
            for b in site.bindings:
                self.bindings.append((site.name, site.state, b))
        self.claimed: set[tuple[str, int, str]] = set()

    def site_state(self, name: str) -> str | None:
        for site in self.view.sites.sites if self.view.sites else ():
            if site.name.lower() == name.lower():
                return site.state
        return None

    def find(self, site: str, ip: str, port: int | None, host: str) -> SiteBinding | None:
        wanted = _key(ip, port, host)
        for site_name, _, b in self.bindings:
            if site_name.lower() == site.lower() and b.protocol == "https" and _key(b.ip, b.port, b.host) == wanted:
                return b
        return None

    def shared_with(self, site: str, endpoint: tuple[str, str] | None, exclude: SiteBinding | None) -> list[dict]:
        """Other https bindings on the same non-SNI HTTP.sys entry: they will serve the pushed certificate too."""
        if endpoint is None or endpoint[0] != "ipport":
            return []
        out = []
        for site_name, state, b in self.bindings:
            if b is exclude or b.protocol != "https" or b.http_sys is None:
                continue
            if (b.http_sys.kind, b.http_sys.endpoint.lower()) == (endpoint[0], endpoint[1].lower()):
                out.append({"site": site_name, "site_state": state, "binding_information": b.binding_information})
        return out

    def check_flags(self, label: str, info: str, flags: int, host: str) -> None:
        if flags & SSL_SNI and not host:
            self.refusals.append(f"{label}: SNI needs a host name, and binding '{info}' has none.")
        if flags & SSL_CCS and not host:
            self.refusals.append(f"{label}: the Centralized Certificate Store needs a host name on binding '{info}'.")
        lacking = flags & ~self.mask
        if lacking:
            self.refusals.append(
                f"{label}: sslFlags {_flag_names(lacking)} not available on Windows build {self.view.build} "
                f"(valid bits: {_flag_names(self.mask) or 'none'})."
            )

    def check_duplicate(self, label: str, ip: str, port: int | None, host: str, replacing: SiteBinding | None) -> None:
        key = _key(ip, port, host)
        if key in self.claimed:
            self.refusals.append(f"{label}: {binding_information(ip, port, host)} is requested twice.")
        self.claimed.add(key)
        for site_name, _, b in self.bindings:
            if b is replacing or b.protocol not in WEB_PROTOCOLS:
                continue
            if _key(b.ip, b.port, b.host) == key:
                self.refusals.append(
                    f"{label}: {binding_information(ip, port, host)} is already bound on site '{site_name}' "
                    f"({b.protocol}); a duplicate ip:port:host stops a site."
                )

    @staticmethod
    def endpoint_of(ip: str, port: int | None, host: str, flags: int) -> tuple[str, str]:
        if flags & SSL_CCS:
            return ("ccs", str(port))
        if flags & SSL_SNI:
            return ("hostnameport", f"{host.lower()}:{port}")
        if ip in ("*", ""):
            return ("ipport", f"0.0.0.0:{port}")
        return ("ipport", f"{format_ip(ip)}:{port}")

    def update(self, target: ConnectorTarget, bind_type: str) -> None:
        label = target.profile
        if target.protocol == "http":
            self.refusals.append(f"{label}: an http binding has no certificate; use Create New Site Binding.")
            return
        existing = self.find(target.site, target.ip, target.port, target.host)
        if existing is None:
            self.refusals.append(f"{label}: the site '{target.site}' has no such https binding any more.")
            return
        if existing.ccs:
            self.refusals.append(
                f"{label}: this binding takes its certificate from the Centralized Certificate Store (a file), not "
                "from a store; push to the file system location instead."
            )
            return
        before = _binding_dict(target.site, self.site_state(target.site) or "", existing)
        if bind_type == BindType.UPDATE_CERTIFICATE:
            ip, port, host, flags = existing.ip or "*", existing.port, existing.host or "", existing.ssl_flags
            new_info = existing.binding_information
            step: dict[str, Any] = {"action": "update_certificate"}
        else:
            ip = target.new_ip or existing.ip or "*"
            port = target.new_port or existing.port
            host = target.new_host or existing.host or ""
            flags = (existing.ssl_flags & ~target.ssl_flags_clear) | target.ssl_flags_set
            new_info = binding_information(ip, port, host)
            step = {"action": "update_binding", "ssl_flags_set": target.ssl_flags_set}
            step["ssl_flags_clear"] = target.ssl_flags_clear
            if _key(ip, port, host) != _key(existing.ip, existing.port, existing.host):
                step["new_binding_information"] = new_info
        self.check_flags(label, new_info, flags, host)
        self.check_duplicate(label, ip, port, host, existing)
        endpoint = self.endpoint_of(ip, port, host, flags)
        self.plan.append({**step, "site": target.site, "binding_information": existing.binding_information})
        self.changes.append(
            {
                "profile": label,
                "action": step["action"],
                "site": target.site,
                "site_state": before["site_state"],
                "before": before,
                "after": {"binding_information": new_info, "ssl_flags": flags, "sni": bool(flags & SSL_SNI)},
                "http_sys": {"kind": endpoint[0], "endpoint": endpoint[1]},
                "shared_with": self.shared_with(target.site, endpoint, existing),
            }
        )

    def create(self, target: ConnectorTarget) -> None:
        label = target.profile
        state = self.site_state(target.site)
        if state is None:
            self.refusals.append(f"{label}: the site '{target.site}' does not exist on {self.device.name}.")
            return
        ip, port, host = target.ip or "*", target.port, target.host
        flags = (SSL_SNI if target.sni else 0) | target.ssl_flags_set
        info = binding_information(ip, port, host)
        self.check_flags(label, info, flags, host)
        self.check_duplicate(label, ip, port, host, None)
        endpoint = self.endpoint_of(ip, port, host, flags)
        self.plan.append({"action": "create_binding", "site": target.site, "binding_information": info})
        if flags:
            self.plan[-1]["ssl_flags_set"] = flags
        self.changes.append(
            {
                "profile": label,
                "action": "create_binding",
                "site": target.site,
                "site_state": state,
                "before": None,
                "after": {"binding_information": info, "ssl_flags": flags, "sni": bool(flags & SSL_SNI)},
                "http_sys": {"kind": endpoint[0], "endpoint": endpoint[1]},
                "shared_with": self.shared_with(target.site, endpoint, None),
            }
        )


def _certificates(connector: AppConnector, certificate: Certificate, view: HostView) -> list[dict[str, Any]]:
    where = (
        f"LocalMachine\\{connector.store_name}"
        if connector.location_type == LocationType.CERTIFICATE_STORE
        else file_target_path(connector)
    )
    rows = [
        {
            "role": "certificate",
            "subject": certificate.subject,
            "thumbprint": certificate.thumbprint,
            "to": where,
            "present": view.certificate_present or view.file_exists,
        }
    ]
    in_store = connector.location_type == LocationType.CERTIFICATE_STORE
    if connector.push_chain:
        for cert in chain_certificates(certificate):
            parsed = parse_der(cert.public_bytes(_der_encoding()))
            # The same rule as push_and_bind: issuer name = subject name -> Root, anything else -> CA.
            root = cert.issuer.public_bytes() == cert.subject.public_bytes()
            store = "Root" if root else "CA"
            rows.append(
                {
                    "role": "root" if root else "intermediate",
                    "subject": parsed.subject,
                    "thumbprint": parsed.thumbprint,
                    # A file-system push carries the chain inside the PFX file; no store on the host changes.
                    "store": store if in_store else None,
                    "to": f"LocalMachine\\{store} ({CHAIN_STORE_LABELS[store]})" if in_store else f"inside {where}",
                    "present": in_store and parsed.thumbprint in view.chain_stores.get(store, set()),
                }
            )
    return rows


def _der_encoding() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def preview_compute(
    *, connector: AppConnector, device: Device, targets: list[ConnectorTarget], view: HostView, configured: str
) -> Preview:
    """The preview of pushing `connector` to `device` as the host was read in `view` (pure: no I/O)."""
    certificate = connector.certificate
    algorithm = encryption_for_build(view.build, configured)
    planner = _Planner(connector, device, view)
    if connector.binds:
        for target in targets:
            if target.kind == TargetKind.NEW_BINDING:
                planner.create(target)
            elif target.kind == TargetKind.PROFILE:
                planner.update(target, connector.bind_type)
    store_or_file = connector.location_type == LocationType.CERTIFICATE_STORE
    if not connector.overwrite and (view.certificate_present if store_or_file else view.file_exists):
        what = (
            f"the certificate {certificate.thumbprint} is already in LocalMachine\\{connector.store_name}"
            if store_or_file
            else f"the file {file_target_path(connector)} already exists"
        )
        planner.refusals.append(f"{device.name}: {what}; turn on Overwrite to push anyway.")
    data = {
        "device": {"id": device.pk, "name": device.name, "hostname": device.hostname},
        "os_build": view.build,
        "ssl_flags_mask": planner.mask,
        "push_type": connector.push_type,
        "push_type_label": PushType(connector.push_type).label,
        "bind_type": connector.bind_type,
        "location": (f"LocalMachine\\{connector.store_name}" if store_or_file else file_target_path(connector)),
        "pfx_algorithm": str(algorithm),
        "pfx_algorithm_label": Pkcs12EncryptionChoice(str(algorithm)).label,
        "certificates": _certificates(connector, certificate, view),
        "changes": planner.changes,
        "sites": [{"name": s.name, "state": s.state} for s in (view.sites.sites if view.sites is not None else ())],
        "http_sys": [
            {
                "kind": e.kind,
                "endpoint": e.endpoint,
                "certificate_hash": e.certificate_hash,
                "certificate_store": e.certificate_store,
                "app_id": e.app_id,
            }
            for e in (view.sites.http_sys if view.sites is not None else ())
        ],
        "read_at": view.read_at,
    }
    return Preview(data=data, refusals=planner.refusals, plan=planner.plan)
