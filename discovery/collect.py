"""Reading one host: its certificate stores, its sites and bindings, and the .pfx/.p12 files of its folder or share.

One WinRM session, one round trip (`discovery_snapshot`) for every source. Connection-level failures (unreachable,
authentication, TLS, timeout) fail the whole host, and so does a certificate store that cannot be read; a source that
fails on its own (a share that refuses the folder credential, a missing path, the sites) is reported with its reason
while the other sources are still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices.iis import operations
from devices.iis.errors import DeviceError, OperationFailed
from devices.iis.operations import FolderCredential, RemoteFile, SiteInventory, StoreCertificate

STORES = ("My", "WebHosting")
PFX_PATTERNS = ("*.pfx", "*.p12")


@dataclass
class SourceResult:
    ok: bool
    detail: str = ""
    error_kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "error_kind": self.error_kind}


@dataclass
class HostSnapshot:
    """What one host returned. A None list means that source was not read (not asked for, or it failed)."""

    store_certificates: list[StoreCertificate] | None = None
    sites: SiteInventory | None = None
    files: list[RemoteFile] | None = None
    file_path: str = ""
    sources: dict[str, SourceResult] = field(default_factory=dict)


def _source_error(exc: DeviceError) -> SourceResult:
    if isinstance(exc, OperationFailed):
        return SourceResult(ok=False, detail=f"{exc.message} ({exc.code})", error_kind=exc.kind)
    return SourceResult(ok=False, detail=exc.message, error_kind=exc.kind)


def collect_host(
    session: operations.OperationRunner,
    *,
    read_store: bool,
    read_sites: bool,
    file_path: str = "",
    file_credential: FolderCredential | None = None,
) -> HostSnapshot:
    """Read the requested sources. Raises the session's DeviceError when the host itself cannot be worked with."""
    result = operations.discovery_snapshot(
        session,
        stores=STORES if read_store else (),
        sites=read_sites,
        files_path=file_path,
        credential=file_credential,
        patterns=PFX_PATTERNS,
        recurse=True,
    )
    snapshot = HostSnapshot(file_path=file_path)
    if read_store:
        if "stores" in result.errors:
            raise result.errors["stores"]
        if "My" in result.missing_stores:
            raise OperationFailed(
                "store_not_found", "Cannot open Cert:\\LocalMachine\\My", "read_stores", op="discovery_snapshot"
            )
        # Hosts without IIS 8's WebHosting store still have the personal store.
        read = [name for name in STORES if name not in result.missing_stores]
        snapshot.store_certificates = result.certificates or []
        snapshot.sources["certificate_store"] = SourceResult(
            ok=True, detail=f"{len(snapshot.store_certificates)} certificate(s) in {', '.join(read)}"
        )
    if read_sites:
        if "sites" in result.errors:
            snapshot.sources["sites"] = _source_error(result.errors["sites"])
        elif result.sites is not None:
            snapshot.sites = result.sites
            bindings = sum(len(s.bindings) for s in snapshot.sites.sites)
            snapshot.sources["sites"] = SourceResult(
                ok=True, detail=f"{len(snapshot.sites.sites)} site(s), {bindings} binding(s)"
            )
    if file_path:
        if "files" in result.errors:
            snapshot.sources["file_system"] = _source_error(result.errors["files"])
        elif result.files is not None:
            snapshot.files = result.files
            snapshot.sources["file_system"] = SourceResult(
                ok=True, detail=f"{len(snapshot.files)} .pfx/.p12 file(s) under {file_path}"
            )
    return snapshot
