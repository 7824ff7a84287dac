"""From a host's answer to findings. The host is the one faked seam here: snapshots are built from the device
layer's own dataclasses (the shapes the typed wrappers return), so each rule of ingestion is checked on its own."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils import timezone

from certificates.bulk import device_findings_apply
from certificates.models import CertificateLocation
from devices.iis.operations import (
    FtpSsl,
    HttpSysBinding,
    HttpSysRef,
    RemoteFile,
    Site,
    SiteBinding,
    SiteInventory,
    StoreCertificate,
)
from discovery import runs
from discovery.collect import HostSnapshot
from discovery.ingest import ReadPolicy, findings_from_snapshot, split_endpoint
from tests.certificates.factories import _CA_KEY, devices, make_cert, options

NOW = datetime.now(UTC)


def store_cert(parsed: Any, store: str = "My", key: bool = True) -> StoreCertificate:
    return StoreCertificate(
        store=store,
        thumbprint=parsed.thumbprint,
        subject=parsed.subject,
        issuer=parsed.issuer,
        serial_number=parsed.serial,
        not_before=parsed.not_before,
        not_after=parsed.not_after,
        friendly_name=parsed.common_name,
        has_private_key=key,
        key_provider="Microsoft Software KSP" if key else None,
        key_algorithm="ECDSA",
        key_size=256,
        dns_names=(),
        enhanced_key_usages=(),
        der=parsed.der,
    )


def binding(
    info: str, thumb: str | None, *, ip: str, port: int, host: str = "", store: str = "My", sni: bool = False
) -> SiteBinding:
    return SiteBinding(
        protocol="https",
        binding_information=info,
        ip=ip,
        port=port,
        host=host or None,
        ip_version=6 if ":" in ip else 4,
        ssl_flags=1 if sni else 0,
        sni=sni,
        ccs=False,
        certificate_hash=thumb,
        certificate_store=store,
        http_sys=HttpSysRef("hostnameport" if sni else "ipport", f"{host or ip}:{port}"),
    )


def site(name: str, bindings: list[SiteBinding], ftp: FtpSsl | None = None, state: str = "Started") -> Site:
    return Site(
        id=len(name),
        name=name,
        state=state,
        physical_path="C:\\inetpub",
        app_pool=name,
        start_error=None,
        bindings=tuple(bindings),
        ftp_ssl=ftp,
    )


def test_site_ftp_and_orphan_http_sys_bindings_point_at_their_store_locations(db: Any) -> None:
    web, v6, ftp, adfs, unused = (make_cert(f"{n}.example.test") for n in ("web", "v6", "ftp", "adfs", "unused"))
    sites = SiteInventory(
        sites=(
            site(
                "Web",
                [
                    binding(
                        "*:443:web.example.test", web.thumbprint, ip="*", port=443, host="web.example.test", sni=True
                    )
                ],
            ),
            site(
                "Intranet",
                [
                    binding(
                        "[2001:db8::7]:8443:", v6.thumbprint.lower(), ip="2001:db8::7", port=8443, store="WEBHOSTING"
                    )
                ],
                state="Stopped",
            ),
            site(
                "Files",
                [SiteBinding("ftp", "*:21:", "*", 21, None, None, 0, False, False, None, None, None)],
                ftp=FtpSsl(ftp.thumbprint, "My", "SslRequire", "SslAllow"),
            ),
        ),
        http_sys=(
            HttpSysBinding("hostnameport", "web.example.test:443", web.thumbprint, "My", "{app}"),
            HttpSysBinding("ipport", "[2001:db8::7]:8443", v6.thumbprint, "WebHosting", "{app}"),
            HttpSysBinding("ipport", "0.0.0.0:49443", adfs.thumbprint, "My", "{adfs}"),
        ),
    )
    snapshot = HostSnapshot(
        store_certificates=[
            store_cert(web),
            store_cert(v6, "WebHosting"),
            store_cert(ftp),
            store_cert(adfs),
            store_cert(unused),
        ],
        sites=sites,
    )
    (device,) = devices(1)
    found, stats = findings_from_snapshot(snapshot, device_id=device.pk, policy=ReadPolicy(), now=NOW)
    keys = {b.key: b for b in found.bindings}
    assert set(keys) == {
        "site:Web:https:*:443:web.example.test",
        "site:Intranet:https:[2001:db8::7]:8443:",
        "ftp:Files",
        "http_sys:ipport:0.0.0.0:49443",
    }
    assert keys["site:Intranet:https:[2001:db8::7]:8443:"].location_key == f"store:WebHosting:{v6.thumbprint}"
    assert keys["site:Intranet:https:[2001:db8::7]:8443:"].site_state == "Stopped"
    assert (keys["ftp:Files"].kind, keys["ftp:Files"].port) == ("ftp", 21)
    orphan = keys["http_sys:ipport:0.0.0.0:49443"]
    assert (orphan.kind, orphan.ip, orphan.port, orphan.location_key) == (
        "http_sys",
        "0.0.0.0",
        49443,
        f"store:My:{adfs.thumbprint}",
    )
    in_use, _ = findings_from_snapshot(
        snapshot, device_id=device.pk, policy=ReadPolicy(discovery_type="in_use"), now=NOW
    )
    assert {p.common_name for p in in_use.certificates.values()} == {
        "web.example.test",
        "v6.example.test",
        "ftp.example.test",
        "adfs.example.test",
    }
    assert stats.dangling_bindings == 0


def test_a_binding_to_a_certificate_missing_from_the_store_is_counted_not_recorded(db: Any) -> None:
    gone = make_cert("gone.example.test")
    snapshot = HostSnapshot(
        store_certificates=[],
        sites=SiteInventory(sites=(site("Old", [binding("*:443:", gone.thumbprint, ip="*", port=443)]),), http_sys=()),
    )
    (device,) = devices(1)
    found, stats = findings_from_snapshot(snapshot, device_id=device.pk, policy=ReadPolicy(), now=NOW)
    assert stats.dangling_bindings == 1 and found.bindings == []


def _pfx(cn: str, password: str) -> tuple[bytes, Any]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unit CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(_CA_KEY, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        cn.encode(), key, cert, None, serialization.BestAvailableEncryption(password.encode())
    )
    return data, cert


def remote(path: str, content: bytes | None, skipped: str | None = None, size: int | None = None) -> RemoteFile:
    return RemoteFile(
        path=path,
        name=path.rsplit("\\", 1)[-1],
        size=size if size is not None else len(content or b""),
        modified=timezone.now(),
        sha256=hashlib.sha256(content).hexdigest() if content else None,
        content=content,
        skipped=skipped,
    )


def test_files_are_read_locked_or_unreadable_and_unchanged_files_are_not_decrypted_again(db: Any) -> None:
    good, good_cert = _pfx("good.example.test", "right")
    locked, _ = _pfx("locked.example.test", "nobody-knows")
    files = [
        remote("C:\\certs\\good.pfx", good),
        remote("C:\\certs\\locked.p12", locked),
        remote("C:\\certs\\junk.pfx", b"this is not pkcs12"),
        remote("C:\\certs\\huge.pfx", None, skipped="too_large", size=9_000_000),
    ]
    snapshot = HostSnapshot(files=files, file_path="C:\\certs")
    (device,) = devices(1)
    policy = ReadPolicy(passwords=["wrong", "right"], extract_keys=True)
    found, stats = findings_from_snapshot(snapshot, device_id=device.pk, policy=policy, now=NOW)
    states = {loc.path: (loc.state, loc.sha256 is not None) for loc in found.locations}
    assert states == {
        "C:\\certs\\good.pfx": ("ok", True),
        "C:\\certs\\locked.p12": ("locked", False),
        "C:\\certs\\junk.pfx": ("unreadable", False),
        "C:\\certs\\huge.pfx": ("unreadable", False),
    }
    assert stats.files_read == 3 and found.portal_keys  # the managed key of good.pfx
    device_findings_apply(device_id=device.pk, findings=found, options=options())

    again, stats = findings_from_snapshot(snapshot, device_id=device.pk, policy=policy, now=NOW)
    assert stats.files_reused == 1 and stats.files_read == 2  # the locked and junk files are tried again
    assert {p.thumbprint for p in again.certificates.values()} == {
        hashlib.sha1(good_cert.public_bytes(serialization.Encoding.DER), usedforsecurity=False).hexdigest().upper()
    }
    locked_row = CertificateLocation.objects.get(device=device, path="C:\\certs\\locked.p12")
    assert "password" in locked_row.error.lower()


def test_http_sys_endpoints_split_into_ip_port_and_host() -> None:
    assert split_endpoint("0.0.0.0:443") == ("0.0.0.0", 443, "")
    assert split_endpoint("[::]:8443") == ("::", 8443, "")
    assert split_endpoint("www.example.test:443") == ("", 443, "www.example.test")


def test_the_reaper_fails_rows_whose_worker_vanished(db: Any) -> None:
    from discovery.services import DiscoveryInput, discovery_save

    hosts = devices(2)
    discovery = discovery_save(
        data=DiscoveryInput(name="reaped", devices=[h.pk for h in hosts], device_time_limit=30), user=None
    )
    run = runs.discovery_run_start(discovery=discovery, user=None)
    first, second = run.device_rows.order_by("id")
    runs.run_device_begin(row_id=first.pk)
    assert runs.discovery_runs_reap(now=timezone.now()) == 0
    later = timezone.now() + timedelta(seconds=30 + runs.REAP_GRACE_SECONDS + 5)
    assert runs.discovery_runs_reap(now=later) == 1
    first.refresh_from_db()
    assert (first.state, first.error_kind) == ("failed", "timeout")
    much_later = timezone.now() + timedelta(hours=7)
    assert runs.discovery_runs_reap(now=much_later) == 1
    second.refresh_from_db()
    assert (second.state, second.error_kind) == ("failed", "not_started")
    run.refresh_from_db()
    assert run.state == "failed" and run.devices_failed == 2
