"""Typed wrappers of the IIS operations: one function per `ops/<op>.ps1`, each one round trip through a session.

Every function takes an open session (`devices.iis.session.IISSession`, or anything with the same `run(op, params,
script)`), sends the operation's script with its parameters in the envelope (never inside the script text), and
turns the JSON `data` into dataclasses. Failures arrive as the session's DeviceError subclasses; a result of the
wrong shape raises ProtocolError.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from devices.iis.errors import OperationFailed, ProtocolError

OPS_DIR = Path(__file__).with_name("ops")
COMMON_SCRIPT = "_common"
OPERATION_NAMES = (
    "host_facts",
    "list_sites",
    "list_store_certificates",
    "list_files",
    "discovery_snapshot",
    "push_and_bind",
    "restore",
    "remove_certificate_if_unused",
    "write_file",
    "remove_file",
    "run_script",
    "verify_served_on_host",
)
PushStore = Literal["My", "WebHosting"]
BindAction = Literal["update_certificate", "update_binding", "create_binding", "ftp"]


class OperationRunner(Protocol):
    def run(self, op: str, params: dict[str, Any], script: str) -> Any: ...


@cache
def script_text(op: str) -> str:
    """`param($Params)`, the shared helpers, then the operation's body (a param block must come first)."""
    if op not in OPERATION_NAMES:
        raise ValueError(f"unknown operation {op!r}")
    body = (OPS_DIR / f"{op}.ps1").read_text(encoding="utf-8")
    lines = body.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().lower().startswith("param("))
    common = (OPS_DIR / f"{COMMON_SCRIPT}.ps1").read_text(encoding="utf-8")
    return "\r\n".join([lines[index], common.rstrip(), *lines[:index], *lines[index + 1 :]]) + "\r\n"


def _run[T](session: OperationRunner, op: str, params: dict[str, Any], parse: Callable[[Any], T]) -> T:
    data = session.run(op, params, script_text(op))
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"{op}: unexpected result shape ({type(exc).__name__}: {exc})") from exc


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# -- host facts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    fqdn: str
    domain: str
    os_caption: str
    os_version: str
    build: int
    iis_version: str | None
    powershell_version: str
    ccs_installed: bool
    stores: tuple[str, ...]
    ssl_flags_mask: int
    pfx_aes256_supported: bool
    addresses: tuple[str, ...]
    ipv6_addresses: tuple[str, ...]
    time_utc: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostFacts:
        return cls(
            hostname=str(data["hostname"]),
            fqdn=str(data["fqdn"]),
            domain=str(data.get("domain") or ""),
            os_caption=str(data["os"]["caption"]),
            os_version=str(data["os"]["version"]),
            build=int(data["os"]["build"]),
            iis_version=_opt_str(data["iis"]["version"]),
            powershell_version=str(data["powershell"]["version"]),
            ccs_installed=bool(data["ccs_installed"]),
            stores=tuple(str(s) for s in data["stores"]),
            ssl_flags_mask=int(data["ssl_flags_mask"]),
            pfx_aes256_supported=bool(data["pfx_aes256_supported"]),
            addresses=tuple(str(a) for a in data["addresses"]),
            ipv6_addresses=tuple(str(a) for a in data["ipv6_addresses"]),
            time_utc=_when(data.get("time_utc")),
        )


def host_facts(session: OperationRunner) -> HostFacts:
    return _run(session, "host_facts", {}, HostFacts.from_json)


# -- sites and bindings --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpSysRef:
    kind: str  # ipport | hostnameport | ccs
    endpoint: str


@dataclass(frozen=True)
class SiteBinding:
    protocol: str
    binding_information: str
    ip: str | None  # "*", an IPv4 address, or an IPv6 address without brackets
    port: int | None
    host: str | None
    ip_version: int | None
    ssl_flags: int
    sni: bool
    ccs: bool
    certificate_hash: str | None
    certificate_store: str | None
    http_sys: HttpSysRef | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteBinding:
        ref = data.get("http_sys")
        return cls(
            protocol=str(data["protocol"]),
            binding_information=str(data["binding_information"]),
            ip=_opt_str(data.get("ip")),
            port=int(data["port"]) if data.get("port") is not None else None,
            host=data.get("host"),
            ip_version=int(data["ip_version"]) if data.get("ip_version") is not None else None,
            ssl_flags=int(data.get("ssl_flags") or 0),
            sni=bool(data.get("sni")),
            ccs=bool(data.get("ccs")),
            certificate_hash=_opt_str(data.get("certificate_hash")),
            certificate_store=_opt_str(data.get("certificate_store")),
            http_sys=HttpSysRef(str(ref["kind"]), str(ref["endpoint"])) if ref else None,
        )


@dataclass(frozen=True)
class FtpSsl:
    certificate_hash: str | None
    certificate_store: str | None
    control_channel_policy: str
    data_channel_policy: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FtpSsl:
        return cls(
            certificate_hash=_opt_str(data.get("certificate_hash")),
            certificate_store=_opt_str(data.get("certificate_store")),
            control_channel_policy=str(data.get("control_channel_policy") or ""),
            data_channel_policy=str(data.get("data_channel_policy") or ""),
        )


@dataclass(frozen=True)
class Site:
    id: int
    name: str
    state: str
    physical_path: str
    app_pool: str
    start_error: str | None
    bindings: tuple[SiteBinding, ...]
    ftp_ssl: FtpSsl | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Site:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            state=str(data["state"]),
            physical_path=str(data.get("physical_path") or ""),
            app_pool=str(data.get("app_pool") or ""),
            start_error=_opt_str(data.get("start_error")),
            bindings=tuple(SiteBinding.from_json(b) for b in data["bindings"]),
            ftp_ssl=FtpSsl.from_json(data["ftp_ssl"]) if data.get("ftp_ssl") else None,
        )


@dataclass(frozen=True)
class HttpSysBinding:
    kind: str
    endpoint: str
    certificate_hash: str | None
    certificate_store: str | None
    app_id: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HttpSysBinding:
        return cls(
            kind=str(data["kind"]),
            endpoint=str(data["endpoint"]),
            certificate_hash=_opt_str(data.get("certificate_hash")),
            certificate_store=_opt_str(data.get("certificate_store")),
            app_id=str(data.get("app_id") or ""),
        )


@dataclass(frozen=True)
class SiteInventory:
    sites: tuple[Site, ...]
    http_sys: tuple[HttpSysBinding, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteInventory:
        return cls(
            sites=tuple(Site.from_json(s) for s in data["sites"]),
            http_sys=tuple(HttpSysBinding.from_json(e) for e in data["http_sys"]),
        )

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name.lower() == name.lower()), None)


def list_sites(session: OperationRunner) -> SiteInventory:
    return _run(session, "list_sites", {}, SiteInventory.from_json)


# -- certificate stores --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreCertificate:
    store: str
    thumbprint: str
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime | None
    not_after: datetime | None
    friendly_name: str
    has_private_key: bool
    key_provider: str | None
    key_algorithm: str
    key_size: int
    dns_names: tuple[str, ...]
    enhanced_key_usages: tuple[str, ...]
    der: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreCertificate:
        return cls(
            store=str(data["store"]),
            thumbprint=str(data["thumbprint"]).upper(),
            subject=str(data["subject"]),
            issuer=str(data["issuer"]),
            serial_number=str(data["serial_number"]),
            not_before=_when(data.get("not_before")),
            not_after=_when(data.get("not_after")),
            friendly_name=str(data.get("friendly_name") or ""),
            has_private_key=bool(data["has_private_key"]),
            key_provider=_opt_str(data.get("key_provider")),
            key_algorithm=str(data.get("key_algorithm") or ""),
            key_size=int(data.get("key_size") or 0),
            dns_names=tuple(str(d) for d in data.get("dns_names") or ()),
            enhanced_key_usages=tuple(str(e) for e in data.get("enhanced_key_usages") or ()),
            der=base64.b64decode(data["der_b64"]) if data.get("der_b64") else None,
        )


def list_store_certificates(
    session: OperationRunner,
    *,
    stores: Sequence[str] = ("My", "WebHosting"),
    include_der: bool = True,
    thumbprint: str | None = None,
) -> list[StoreCertificate]:
    params: dict[str, Any] = {"stores": list(stores), "include_der": include_der}
    if thumbprint:
        params["thumbprint"] = thumbprint
    return _run(
        session,
        "list_store_certificates",
        params,
        lambda data: [StoreCertificate.from_json(c) for c in data["certificates"]],
    )


# -- files ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderCredential:
    username: str
    password: str = field(repr=False)

    def as_params(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class RemoteFile:
    path: str
    name: str
    size: int
    modified: datetime | None
    sha256: str | None
    content: bytes | None = field(repr=False)
    skipped: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteFile:
        return cls(
            path=str(data["path"]),
            name=str(data["name"]),
            size=int(data["size"]),
            modified=_when(data.get("modified")),
            sha256=_opt_str(data.get("sha256")),
            content=base64.b64decode(data["content_b64"]) if data.get("content_b64") is not None else None,
            skipped=_opt_str(data.get("skipped")),
        )


def list_files(
    session: OperationRunner,
    path: str,
    *,
    credential: FolderCredential | None = None,
    patterns: Sequence[str] = ("*.pfx", "*.p12", "*.cer"),
    recurse: bool = True,
    max_file_bytes: int = 4 * 1024 * 1024,
) -> list[RemoteFile]:
    params: dict[str, Any] = {
        "path": path,
        "patterns": list(patterns),
        "recurse": recurse,
        "max_file_bytes": max_file_bytes,
    }
    if credential is not None:
        params["credential"] = credential.as_params()
    return _run(session, "list_files", params, lambda data: [RemoteFile.from_json(f) for f in data["files"]])


# -- discovery snapshot --------------------------------------------------------------------------------------------


SNAPSHOT_SOURCES = ("stores", "sites", "files")


@dataclass(frozen=True)
class DiscoverySnapshot:
    """What `discovery_snapshot` read. A source is None when it was not asked for or failed; a failed source has its
    own OperationFailed in `errors` ("stores", "sites", "files") while the others keep their data."""

    certificates: list[StoreCertificate] | None = None
    missing_stores: tuple[str, ...] = ()
    sites: SiteInventory | None = None
    files: list[RemoteFile] | None = None
    errors: dict[str, OperationFailed] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DiscoverySnapshot:
        errors: dict[str, OperationFailed] = {}
        for source in SNAPSHOT_SOURCES:
            part = data[source]
            if isinstance(part, dict) and "error" in part:
                error = part["error"]
                errors[source] = OperationFailed(
                    str(error["code"]), str(error["message"]), _opt_str(error.get("step")), op="discovery_snapshot"
                )
        stores, sites, files = (None if s in errors else data[s] for s in SNAPSHOT_SOURCES)
        return cls(
            certificates=[StoreCertificate.from_json(c) for c in stores["certificates"]] if stores else None,
            missing_stores=tuple(str(m) for m in stores.get("missing") or ()) if stores else (),
            sites=SiteInventory.from_json(sites) if sites else None,
            files=[RemoteFile.from_json(f) for f in files["files"]] if files else None,
            errors=errors,
        )


def discovery_snapshot(
    session: OperationRunner,
    *,
    stores: Sequence[str] = ("My", "WebHosting"),
    sites: bool = True,
    files_path: str = "",
    credential: FolderCredential | None = None,
    patterns: Sequence[str] = ("*.pfx", "*.p12"),
    recurse: bool = True,
    max_file_bytes: int = 4 * 1024 * 1024,
) -> DiscoverySnapshot:
    """Stores (with DER), sites with the HTTP.sys table, and the files under `files_path` (if given) in one round
    trip; each source fails on its own. A store that does not exist is listed in `missing_stores`, not an error."""
    files: dict[str, Any] | None = None
    if files_path:
        files = {"path": files_path, "patterns": list(patterns), "recurse": recurse, "max_file_bytes": max_file_bytes}
        if credential is not None:
            files["credential"] = credential.as_params()
    params: dict[str, Any] = {"stores": list(stores), "sites": sites, "files": files}
    return _run(session, "discovery_snapshot", params, DiscoverySnapshot.from_json)


@dataclass(frozen=True)
class WrittenFile:
    path: str
    size: int
    sha256: str
    previous_path: str | None
    replaced: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrittenFile:
        return cls(
            path=str(data["path"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            previous_path=_opt_str(data.get("previous_path")),
            replaced=bool(data["replaced"]),
        )


def write_file(
    session: OperationRunner,
    path: str,
    content: bytes,
    *,
    credential: FolderCredential | None = None,
    keep_previous: bool = True,
) -> WrittenFile:
    params: dict[str, Any] = {
        "path": path,
        "content_b64": base64.b64encode(content).decode("ascii"),
        "keep_previous": keep_previous,
    }
    if credential is not None:
        params["credential"] = credential.as_params()
    return _run(session, "write_file", params, WrittenFile.from_json)


@dataclass(frozen=True)
class RemovedFile:
    path: str
    removed: bool
    reason: str | None  # None when removed; "not_found" or "changed" (other bytes than expected) otherwise

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemovedFile:
        return cls(path=str(data["path"]), removed=bool(data["removed"]), reason=_opt_str(data.get("reason")))


def remove_file(
    session: OperationRunner,
    path: str,
    *,
    expected_sha256: str | None = None,
    credential: FolderCredential | None = None,
) -> RemovedFile:
    """Delete a file (the rollback of a folder push that created it); with `expected_sha256`, only while the file
    still holds those bytes."""
    params: dict[str, Any] = {"path": path}
    if expected_sha256:
        params["expected_sha256"] = expected_sha256
    if credential is not None:
        params["credential"] = credential.as_params()
    return _run(session, "remove_file", params, RemovedFile.from_json)


# -- push, bind, restore, remove -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindingTarget:
    """One binding change of a push: update the certificate of an existing https binding, update its flags/address,
    create a new https binding, or set an FTP site's certificate. sslFlags bits not in set/clear are kept."""

    action: BindAction
    site: str
    binding_information: str = ""
    new_binding_information: str | None = None
    ssl_flags_set: int = 0
    ssl_flags_clear: int = 0

    def as_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "action": self.action,
            "site": self.site,
            "binding_information": self.binding_information,
            "ssl_flags_set": self.ssl_flags_set,
            "ssl_flags_clear": self.ssl_flags_clear,
        }
        if self.new_binding_information:
            params["new_binding_information"] = self.new_binding_information
        return params


@dataclass(frozen=True)
class BindingChange:
    site: str
    action: str
    binding: SiteBinding | None
    ftp_ssl: FtpSsl | None
    shared_with: tuple[tuple[str, str], ...]  # (site, bindingInformation) that use the same HTTP.sys entry

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BindingChange:
        return cls(
            site=str(data["site"]),
            action=str(data["action"]),
            binding=SiteBinding.from_json(data["binding"]) if data.get("binding") else None,
            ftp_ssl=FtpSsl.from_json(data["ftp_ssl"]) if data.get("ftp_ssl") else None,
            shared_with=tuple((str(s["site"]), str(s["binding_information"])) for s in data.get("shared_with") or ()),
        )


@dataclass(frozen=True)
class ChainCertificate:
    """A chain certificate a push installed: intermediates into LocalMachine\\CA, a self-signed root into Root."""

    store: str
    thumbprint: str
    subject: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChainCertificate:
        return cls(
            store=str(data["store"]), thumbprint=str(data["thumbprint"]).upper(), subject=str(data.get("subject") or "")
        )

    def as_dict(self) -> dict[str, str]:
        return {"store": self.store, "thumbprint": self.thumbprint, "subject": self.subject}


@dataclass(frozen=True)
class PushResult:
    thumbprint: str
    store: str
    imported: bool  # False: the certificate was already in the store
    has_private_key: bool
    friendly_name: str
    key_provider: str | None
    chain_added: tuple[ChainCertificate, ...]  # only what this push added; the snapshot lists the same
    bindings: tuple[BindingChange, ...]
    http_sys: tuple[HttpSysBinding, ...]
    sites_stopped: tuple[str, ...]
    snapshot: dict[str, Any] = field(repr=False)  # opaque: give it back to restore()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushResult:
        if not isinstance(data["snapshot"], dict):
            raise TypeError("snapshot must be an object")
        return cls(
            thumbprint=str(data["thumbprint"]).upper(),
            store=str(data["store"]),
            imported=bool(data["imported"]),
            has_private_key=bool(data["has_private_key"]),
            friendly_name=str(data.get("friendly_name") or ""),
            key_provider=_opt_str(data.get("key_provider")),
            chain_added=tuple(ChainCertificate.from_json(c) for c in data.get("chain_added") or ()),
            bindings=tuple(BindingChange.from_json(b) for b in data["bindings"]),
            http_sys=tuple(HttpSysBinding.from_json(e) for e in data["http_sys"]),
            sites_stopped=tuple(str(s["site"]) for s in data.get("sites_stopped") or ()),
            snapshot=data["snapshot"],
        )


def push_and_bind(
    session: OperationRunner,
    pfx: bytes,
    password: str | None,
    *,
    store: PushStore = "My",
    bindings: Sequence[BindingTarget] = (),
    friendly_name: str | None = None,
    expected_thumbprint: str | None = None,
    chain: Sequence[bytes] = (),
) -> PushResult:
    """Import the PFX and change `bindings` in one commit. `chain` (DER, public certificates only) is installed
    too: intermediates into LocalMachine\\CA, a self-signed root into LocalMachine\\Root, each only if absent."""
    params: dict[str, Any] = {
        "pfx_b64": base64.b64encode(pfx).decode("ascii"),
        "pfx_password": password or "",
        "store": store,
        "bindings": [b.as_params() for b in bindings],
    }
    if chain:
        params["chain_b64"] = [base64.b64encode(der).decode("ascii") for der in chain]
    if friendly_name:
        params["friendly_name"] = friendly_name
    if expected_thumbprint:
        params["expected_thumbprint"] = expected_thumbprint
    return _run(session, "push_and_bind", params, PushResult.from_json)


@dataclass(frozen=True)
class RestoreResult:
    restored: int
    http_sys: tuple[HttpSysBinding, ...]
    certificate_removed: bool
    chain_removed: tuple[ChainCertificate, ...] = ()
    chain_kept: tuple[tuple[ChainCertificate, str], ...] = ()  # (certificate, why it stayed)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestoreResult:
        return cls(
            restored=int(data["restored"]),
            http_sys=tuple(HttpSysBinding.from_json(e) for e in data["http_sys"]),
            certificate_removed=bool(data["certificate_removed"]),
            chain_removed=tuple(ChainCertificate.from_json(c) for c in data.get("chain_removed") or ()),
            chain_kept=tuple(
                (ChainCertificate.from_json(c), str(c.get("reason") or "")) for c in data.get("chain_kept") or ()
            ),
        )


def restore(
    session: OperationRunner,
    snapshot: dict[str, Any],
    *,
    remove_certificate: bool = False,
    remove_chain: bool = True,
) -> RestoreResult:
    """Undo a push from its snapshot. The chain certificates the push added (snapshot `chain_added`) go too, unless
    `remove_chain` is off or a certificate that stays on the host was issued by one of them."""
    params = {"snapshot": snapshot, "remove_certificate": remove_certificate, "remove_chain": remove_chain}
    return _run(session, "restore", params, RestoreResult.from_json)


@dataclass(frozen=True)
class RemovalResult:
    thumbprint: str
    store: str
    removed: bool
    reason: str | None  # None when removed; "in_use" or "not_found" otherwise
    used_by: tuple[dict[str, Any], ...]
    key_deleted: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemovalResult:
        return cls(
            thumbprint=str(data["thumbprint"]).upper(),
            store=str(data["store"]),
            removed=bool(data["removed"]),
            reason=_opt_str(data.get("reason")),
            used_by=tuple(dict(u) for u in data.get("used_by") or ()),
            key_deleted=bool(data.get("key_deleted")),
        )


def remove_certificate_if_unused(
    session: OperationRunner, thumbprint: str, *, store: PushStore = "My", delete_key: bool = True
) -> RemovalResult:
    params = {"thumbprint": thumbprint, "store": store, "delete_key": delete_key}
    return _run(session, "remove_certificate_if_unused", params, RemovalResult.from_json)


# -- scripts and verification --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptRun:
    path: str
    exit_code: int
    output: str
    duration_ms: float
    finished_at: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScriptRun:
        return cls(
            path=str(data["path"]),
            exit_code=int(data["exit_code"]),
            output=str(data.get("output") or ""),
            duration_ms=float(data.get("duration_ms") or 0),
            finished_at=_when(data.get("finished_at")),
        )


def run_script(session: OperationRunner, path: str, *, arguments: Sequence[str] = ()) -> ScriptRun:
    return _run(session, "run_script", {"path": path, "arguments": list(arguments)}, ScriptRun.from_json)


@dataclass(frozen=True)
class ServedCertificate:
    ip: str
    port: int
    sni: str | None
    thumbprint: str
    subject: str
    not_after: datetime | None
    chain: tuple[str, ...]
    method: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServedCertificate:
        return cls(
            ip=str(data["ip"]),
            port=int(data["port"]),
            sni=_opt_str(data.get("sni")),
            thumbprint=str(data["thumbprint"]).upper(),
            subject=str(data["subject"]),
            not_after=_when(data.get("not_after")),
            chain=tuple(str(t) for t in data.get("chain") or ()),
            method=str(data.get("method") or "handshake"),
        )


def verify_served_on_host(
    session: OperationRunner, port: int, *, sni: str | None = None, ip: str = "*", timeout_seconds: float = 10
) -> ServedCertificate:
    params = {"ip": ip, "port": port, "sni": sni, "timeout_seconds": timeout_seconds}
    return _run(session, "verify_served_on_host", params, ServedCertificate.from_json)
