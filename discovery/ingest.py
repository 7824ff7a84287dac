"""From what a host returned to what the inventory records (discovery/ -> certificates/).

Certificates are parsed in the portal with `cryptography` and deduplicated by SHA-256. PFX files are read with the
fast reader (certificates first; the private key only when the certificate will be Managed, and never validated
here). A file whose password no candidate opens becomes a Locked location; a file that is not PKCS#12 an Unreadable
one. The discovery type and rule decide what is kept; everything present on the host still counts as present, so
that only what really disappeared loses its location.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certificates.bulk import DeviceFindings, FoundBinding, FoundLocation
from certificates.choices import STORE_NAMES, BindingKind, LocationKind, LocationState
from certificates.models import CertificateLocation
from certificates.pfx_reader import PfxFormatError, PfxPasswordError, pfx_open
from certificates.x509 import ParsedCertificate, parse_der_for_inventory
from devices.iis.operations import RemoteFile, SiteInventory, StoreCertificate
from discovery.choices import DiscoveryType
from discovery.collect import HostSnapshot
from discovery.rules import AccessRule, RuleFilter, access_rule_group


@dataclass
class IngestStats:
    filtered_out: int = 0
    dangling_bindings: int = 0
    files_reused: int = 0
    files_read: int = 0


@dataclass
class ReadPolicy:
    """How to read one host's findings (from the run's options and the device)."""

    discovery_type: str = DiscoveryType.ALL
    rule: RuleFilter | None = None
    access_rules: list[AccessRule] = field(default_factory=list)
    extract_keys: bool = False
    passwords: list[str] = field(default_factory=list)


def store_name(value: str | None) -> str:
    if not value:
        return "My"
    return STORE_NAMES.get(value.strip().lower(), value.strip())


def store_key(store: str | None, thumbprint: str) -> str:
    return f"store:{store_name(store)}:{thumbprint.upper()}"


def file_key(path: str) -> str:
    return f"file:{path.replace('/', chr(92)).lower()}"


def split_endpoint(endpoint: str) -> tuple[str, int | None, str]:
    """An HTTP.sys endpoint ("0.0.0.0:443", "[::1]:443", "www.example.test:443") -> (ip, port, host)."""
    head, _, port = endpoint.rpartition(":")
    number = int(port) if port.isdigit() else None
    if head.startswith("[") and head.endswith("]"):
        return head[1:-1], number, ""
    if head and (head.replace(".", "").isdigit() or head == "*"):
        return head, number, ""
    return "", number, head


def _endpoint_key(endpoint: str) -> tuple[str, int | None, str]:
    """An HTTP.sys endpoint compared by meaning: "[2001:db8::7]:443" and "2001:db8::7:443" are the same."""
    ip, port, host = split_endpoint(endpoint.lower())
    if not ip and not host:
        head = endpoint.lower().rpartition(":")[0]
        ip = head.strip("[]")
    if ":" in host:  # an unbracketed IPv6 address is an address, not a host name
        ip, host = host, ""
    return ip, port, host


class _Parser:
    """Parses each distinct DER once per host."""

    def __init__(self) -> None:
        self.by_sha: dict[str, ParsedCertificate] = {}

    def der(self, der: bytes) -> ParsedCertificate:
        sha = hashlib.sha256(der).hexdigest()
        parsed = self.by_sha.get(sha)
        if parsed is None:
            parsed = self.by_sha[sha] = parse_der_for_inventory(der)
        return parsed


def _store_locations(
    certificates: list[StoreCertificate], parser: _Parser
) -> list[tuple[FoundLocation, ParsedCertificate]]:
    out = []
    for cert in certificates:
        if cert.der is None:
            continue
        parsed = parser.der(cert.der)
        location = FoundLocation(
            kind=LocationKind.STORE,
            key=store_key(cert.store, parsed.thumbprint),
            sha256=parsed.sha256,
            store=store_name(cert.store),
            friendly_name=cert.friendly_name,
            has_private_key=cert.has_private_key,
            key_provider=cert.key_provider or "",
        )
        out.append((location, parsed))
    return out


def _bindings(sites: SiteInventory) -> list[FoundBinding]:
    """Site bindings with a certificate, FTP sites with one, and HTTP.sys SSL bindings no site binding owns."""
    out: list[FoundBinding] = []
    owned: set[tuple[str, tuple[str, int | None, str]]] = set()
    for site in sites.sites:
        for binding in site.bindings:
            if binding.http_sys is not None:
                owned.add((binding.http_sys.kind, _endpoint_key(binding.http_sys.endpoint)))
            if not binding.certificate_hash:
                continue
            out.append(
                FoundBinding(
                    key=f"site:{site.name}:{binding.protocol}:{binding.binding_information}",
                    location_key=store_key(binding.certificate_store, binding.certificate_hash),
                    kind=BindingKind.SITE,
                    site_name=site.name,
                    site_id=site.id,
                    site_state=site.state,
                    protocol=binding.protocol,
                    binding_information=binding.binding_information,
                    ip=binding.ip or "",
                    port=binding.port,
                    host=binding.host or "",
                    ssl_flags=binding.ssl_flags,
                    sni=binding.sni,
                    http_sys_kind=binding.http_sys.kind if binding.http_sys else "",
                    http_sys_endpoint=binding.http_sys.endpoint if binding.http_sys else "",
                )
            )
        if site.ftp_ssl is not None and site.ftp_ssl.certificate_hash:
            ftp = next((b for b in site.bindings if b.protocol.lower() == "ftp"), None)
            out.append(
                FoundBinding(
                    key=f"ftp:{site.name}",
                    location_key=store_key(site.ftp_ssl.certificate_store, site.ftp_ssl.certificate_hash),
                    kind=BindingKind.FTP,
                    site_name=site.name,
                    site_id=site.id,
                    site_state=site.state,
                    protocol="ftp",
                    binding_information=ftp.binding_information if ftp else "",
                    ip=(ftp.ip or "") if ftp else "",
                    port=ftp.port if ftp else None,
                    host=(ftp.host or "") if ftp else "",
                )
            )
    for entry in sites.http_sys:
        if not entry.certificate_hash or (entry.kind, _endpoint_key(entry.endpoint)) in owned:
            continue
        ip, port, host = split_endpoint(entry.endpoint)
        out.append(
            FoundBinding(
                key=f"http_sys:{entry.kind}:{entry.endpoint.lower()}",
                location_key=store_key(entry.certificate_store, entry.certificate_hash),
                kind=BindingKind.HTTP_SYS,
                protocol="https",
                ip=ip,
                port=port,
                host=host,
                sni=entry.kind == "hostnameport",
                http_sys_kind=entry.kind,
                http_sys_endpoint=entry.endpoint,
            )
        )
    return out


@dataclass(frozen=True)
class KnownFile:
    """A file location recorded by an earlier run: if the file's SHA-256 is unchanged, it is not decrypted again."""

    file_sha256: str
    der: bytes
    friendly_name: str
    has_private_key: bool
    chain_pem: str
    portal_key: bool


def known_files(device_id: int) -> dict[str, KnownFile]:
    """The device's readable file locations with their certificate, in one query."""
    rows = (
        CertificateLocation.objects.filter(
            device_id=device_id, kind=LocationKind.FILE, state=LocationState.OK, certificate__isnull=False
        )
        .select_related("certificate__private_key")
        .only(
            "key",
            "file_sha256",
            "friendly_name",
            "has_private_key",
            "certificate__der",
            "certificate__chain_pem",
            "certificate__private_key__location",
        )
    )
    out = {}
    for row in rows:
        cert = row.certificate
        assert cert is not None
        key = getattr(cert, "private_key", None)
        out[row.key] = KnownFile(
            file_sha256=row.file_sha256,
            der=bytes(cert.der),
            friendly_name=row.friendly_name,
            has_private_key=row.has_private_key,
            chain_pem=cert.chain_pem,
            portal_key=key is not None and key.location == "portal",
        )
    return out


def _pem(ders: tuple[bytes, ...]) -> str:
    return "".join(
        x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM).decode("ascii") for d in ders
    )


def _file_location(
    remote: RemoteFile,
    policy: ReadPolicy,
    parser: _Parser,
    known: dict[str, KnownFile],
    findings: DeviceFindings,
    stats: IngestStats,
) -> tuple[FoundLocation, ParsedCertificate | None]:
    key = file_key(remote.path)
    base: dict[str, Any] = {
        "kind": LocationKind.FILE,
        "key": key,
        "path": remote.path,
        "file_sha256": remote.sha256 or "",
        "file_size": remote.size,
    }
    if remote.content is None:
        reason = "larger than the size limit" if remote.skipped == "too_large" else (remote.skipped or "not read")
        return FoundLocation(sha256=None, state=LocationState.UNREADABLE, error=f"File {reason}.", **base), None
    file_sha = remote.sha256 or hashlib.sha256(remote.content).hexdigest()
    base["file_sha256"] = file_sha
    previous = known.get(key)
    if previous is not None and previous.file_sha256 == file_sha and (previous.portal_key or not policy.extract_keys):
        stats.files_reused += 1
        parsed = parser.der(previous.der)
        if previous.chain_pem:
            findings.chains.setdefault(parsed.sha256, previous.chain_pem)
        location = FoundLocation(
            sha256=parsed.sha256,
            friendly_name=previous.friendly_name,
            has_private_key=previous.has_private_key,
            **base,
        )
        return location, parsed
    stats.files_read += 1
    try:
        contents = pfx_open(remote.content, policy.passwords, extract_key=policy.extract_keys)
    except PfxPasswordError:
        error = "Password unknown: no password of the device's password vault opens this file."
        if not policy.passwords:
            error = "Password unknown: the device has no password vault to try."
        return FoundLocation(sha256=None, state=LocationState.LOCKED, error=error, **base), None
    except PfxFormatError as exc:
        return FoundLocation(
            sha256=None, state=LocationState.UNREADABLE, error=f"Not a PKCS#12 file: {exc}.", **base
        ), None
    try:
        parsed = parser.der(contents.leaf_der)
    except ValueError as exc:
        return FoundLocation(
            sha256=None, state=LocationState.UNREADABLE, error=f"Bad certificate: {exc}.", **base
        ), None
    if contents.chain_der:
        findings.chains.setdefault(parsed.sha256, _pem(contents.chain_der))
    if contents.key_pkcs8:
        findings.portal_keys[parsed.sha256] = contents.key_pkcs8
    location = FoundLocation(
        sha256=parsed.sha256, friendly_name=contents.friendly_name, has_private_key=contents.has_key, **base
    )
    return location, parsed


def findings_from_snapshot(
    snapshot: HostSnapshot,
    *,
    device_id: int,
    policy: ReadPolicy,
    now: datetime,
) -> tuple[DeviceFindings, IngestStats]:
    """Turn one host's snapshot into the findings to record, applying the discovery type and rule."""
    findings = DeviceFindings()
    stats = IngestStats()
    parser = _Parser()
    found: list[tuple[FoundLocation, ParsedCertificate | None]] = []
    if snapshot.store_certificates is not None:
        findings.scanned_kinds.add(LocationKind.STORE)
        found.extend(_store_locations(snapshot.store_certificates, parser))
    if snapshot.files is not None:
        findings.scanned_kinds.add(LocationKind.FILE)
        known = known_files(device_id)
        for remote in snapshot.files:
            found.append(_file_location(remote, policy, parser, known, findings, stats))
    bindings = _bindings(snapshot.sites) if snapshot.sites is not None else []
    findings.bindings_scanned = snapshot.sites is not None and snapshot.store_certificates is not None
    present_store = {loc.key for loc, _ in found if loc.kind == LocationKind.STORE}
    stats.dangling_bindings = sum(1 for b in bindings if b.location_key not in present_store)
    bound = {b.location_key for b in bindings}

    kept: list[tuple[FoundLocation, ParsedCertificate | None]] = []
    for location, parsed in found:
        findings.present_location_keys.add(location.key)
        if policy.discovery_type == DiscoveryType.IN_USE and location.key not in bound:
            stats.filtered_out += 1
            continue
        if policy.rule is not None and not policy.rule.matches(parsed, location, now):
            stats.filtered_out += 1
            continue
        kept.append((location, parsed))

    by_sha: dict[str, list[FoundLocation]] = {}
    for location, parsed in kept:
        findings.locations.append(location)
        if parsed is not None:
            findings.certificates[parsed.sha256] = parsed
            by_sha.setdefault(parsed.sha256, []).append(location)
    kept_keys = {loc.key for loc in findings.locations}
    findings.bindings = [b for b in bindings if b.location_key in kept_keys]
    # Keys only for certificates that are kept (a filtered-out file's key is not stored).
    findings.portal_keys = {sha: key for sha, key in findings.portal_keys.items() if sha in findings.certificates}
    if policy.access_rules:
        for sha, locations in by_sha.items():
            group_id = access_rule_group(policy.access_rules, findings.certificates[sha], locations, now)
            if group_id is not None:
                findings.group_for[sha] = group_id
    return findings, stats
