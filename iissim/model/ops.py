"""The operations a simulated host runs, one function per envelope `op`, mirroring devices/iis/ops/<op>.ps1.

Each handler gets the params of the envelope and returns the `data` of `{"ok": true, "data": ...}`, or raises
OpError for `{"ok": false, "error": {...}}`. Step names match the scripts' `Set-OpStep` calls; the control API can
make an op fail at any of them. Handlers run under the host's lock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from iissim.model.bindings import (
    BUILD_2019,
    BindingInfo,
    check_ssl_flags,
    httpsys_endpoint,
    parse_binding_information,
    parse_net_tcp,
    valid_ssl_flags_mask,
)
from iissim.model.errors import OpError, WindowsError
from iissim.model.iis import ConfigTransaction, binding_endpoint, binding_key
from iissim.model.pfx import load_pfx, pfx_algorithms
from iissim.model.serving import select_certificate
from iissim.model.state import (
    CAPI_RSA_PROVIDER,
    CNG_PROVIDER,
    Binding,
    FileItem,
    FileTree,
    FtpSsl,
    HostState,
    HttpSysEntry,
    Site,
    StoredCertificate,
    iso,
    norm_path,
    normalize_thumbprint,
    store_name,
    thumbprint_of,
    utcnow_iso,
)

if TYPE_CHECKING:
    from iissim.model.host import SimHost

PUSH_STORES = ("My", "WebHosting")
LIST_STORES = ("My", "WebHosting", "CA", "Root")
DEFAULT_FILE_PATTERNS = ["*.pfx", "*.p12", "*.cer"]
MAX_FILE_BYTES = 4 * 1024 * 1024
PFX_PASSWORD_TEXT = "The specified network password is not correct."
OS_YEARS = {14393: "2016", 17763: "2019", 20348: "2022"}


class OpContext:
    """One operation run: its steps (checked against injected failures) and what to undo if it fails."""

    def __init__(self, host: SimHost, op: str) -> None:
        self.host = host
        self.op = op
        self.steps: list[str] = []
        self.current_step = "start"
        self.changed = False
        self.journal_extra: dict[str, Any] = {}
        self._undo: list[Callable[[], None]] = []

    @property
    def state(self) -> HostState:
        return self.host.state

    def step(self, name: str) -> None:
        self.current_step = name
        self.steps.append(name)
        self.host.op_faults.check(self.op, name)

    def on_failure(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


# -- helpers -------------------------------------------------------------------------------------------------------


def _str(params: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise OpError("bad_params", f"parameter '{key}' is required", "validate")
        return default
    if not isinstance(value, str):
        raise OpError("bad_params", f"parameter '{key}' must be a string", "validate")
    return value


def _int(params: dict[str, Any], key: str, default: int = 0) -> int:
    value = params.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise OpError("bad_params", f"parameter '{key}' must be an integer", "validate")
    return value


def _b64(params: dict[str, Any], key: str) -> bytes:
    try:
        return base64.b64decode(_str(params, key), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OpError("bad_params", f"parameter '{key}' is not base64", "validate") from exc


def _same_user(expected: str, given: str) -> bool:
    a, b = expected.lower(), given.lower()
    if a == b:
        return True
    if "\\" in a and "\\" not in b:
        return a.split("\\", 1)[1] == b
    if "\\" in b and "\\" not in a:
        return b.split("\\", 1)[1] == a
    return False


def _tree_for(ctx: OpContext, path: str, credential: Any, step: str) -> FileTree:
    """Local paths are the host's own disk; UNC paths need the share's credentials (New-PSDrive -Credential)."""
    if not path.replace("/", "\\").startswith("\\\\"):
        if not (len(path) >= 3 and path[1] == ":" and path[2] in "\\/"):
            raise OpError("bad_params", f"'{path}' is not an absolute path", "validate")
        return ctx.state.files
    resolved = ctx.host.shares.resolve(path)
    if resolved is None:
        raise OpError("path_not_found", f"The network path was not found: {path}", step)
    share = resolved[0]
    if not isinstance(credential, dict) or not credential.get("username"):
        raise OpError("access_denied", f"Access is denied: {share.unc} needs a credential", step)
    if not _same_user(share.username, str(credential.get("username"))) or credential.get("password") != share.password:
        raise OpError("access_denied", "The user name or password is incorrect.", step)
    return share.files


def _binding_view(binding: Binding) -> dict[str, Any]:
    view: dict[str, Any] = {
        "protocol": binding.protocol,
        "binding_information": binding.binding_information,
        "ip": None,
        "port": None,
        "host": None,
        "ip_version": None,
        "ssl_flags": binding.ssl_flags,
        "sni": bool(binding.ssl_flags & 1),
        "ccs": bool(binding.ssl_flags & 2),
        "certificate_hash": binding.certificate_hash,
        "certificate_store": binding.certificate_store,
        "http_sys": None,
    }
    protocol = binding.protocol.lower()
    if protocol in ("http", "https", "ftp"):
        try:
            info = parse_binding_information(binding.binding_information)
        except WindowsError:
            return view
        view.update(
            ip=info.ip, port=info.port, host=info.host, ip_version=None if info.ip == "*" else 6 if info.is_ipv6 else 4
        )
        if protocol == "https":
            kind, endpoint = httpsys_endpoint(info, binding.ssl_flags)
            view["http_sys"] = {"kind": kind, "endpoint": endpoint}
    elif protocol == "net.tcp":
        port, host = parse_net_tcp(binding.binding_information)
        view.update(port=port, host=host)
    return view


def _site_view(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "state": site.state,
        "physical_path": site.physical_path,
        "app_pool": site.app_pool,
        "start_error": site.start_error,
        "bindings": [_binding_view(b) for b in site.bindings],
        "ftp_ssl": site.ftp_ssl.as_dict() if site.ftp_ssl else None,
    }


# -- read-only operations ------------------------------------------------------------------------------------------


def host_facts(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.step("read")
    state = ctx.state
    year = OS_YEARS.get(state.build, "")
    return {
        "hostname": state.name.upper(),
        "fqdn": state.fqdn,
        "domain": state.fqdn.split(".", 1)[1] if "." in state.fqdn else "",
        "os": {
            "caption": f"Microsoft Windows Server {year} {state.edition}".strip(),
            "version": f"10.0.{state.build}",
            "build": state.build,
        },
        "iis": {"version": state.iis_version, "major": int(state.iis_version.split(".")[0]), "minor": 0},
        "powershell": {"version": f"{state.ps_version}.{state.build}.1", "edition": "Desktop"},
        "clr_version": "4.0.30319.42000",
        "modules": {"WebAdministration": "1.0.0.0", "IISAdministration": "1.1.0.0"},
        "ccs_installed": state.ccs is not None,
        "stores": [s for s in LIST_STORES if s in state.stores],
        "ssl_flags_mask": valid_ssl_flags_mask(state.build),
        "pfx_aes256_supported": state.build >= BUILD_2019,
        "addresses": list(state.addresses),
        "ipv6_addresses": list(state.ipv6_addresses),
        "time_utc": utcnow_iso(),
    }


def list_sites(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.step("read_sites")
    sites = [_site_view(s) for s in sorted(ctx.state.sites, key=lambda s: s.id)]
    ctx.step("read_http_sys")
    http_sys = [e.as_dict() for _, e in sorted(ctx.state.http_sys.items())]
    return {"sites": sites, "http_sys": http_sys}


def list_store_certificates(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    stores = params.get("stores") or ["My", "WebHosting"]
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise OpError("bad_params", "parameter 'stores' must be a list of store names", "validate")
    include_der = params.get("include_der", True) is not False
    wanted = normalize_thumbprint(params.get("thumbprint")) or None
    ctx.step("read")
    out = []
    for name in stores:
        canonical = store_name(name)
        if canonical not in ctx.state.stores:
            raise OpError("store_not_found", f"Cannot find path 'Cert:\\LocalMachine\\{name}'", "read")
        for thumb, cert in sorted(ctx.state.stores[canonical].items()):
            if wanted and thumb != wanted:
                continue
            out.append(
                cert.describe(canonical, has_private_key=ctx.state.has_private_key(cert), include_der=include_der)
            )
    return {"certificates": out}


def list_files(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    path = _str(params, "path")
    patterns = params.get("patterns") or DEFAULT_FILE_PATTERNS
    recurse = params.get("recurse", True) is not False
    max_bytes = _int(params, "max_file_bytes", MAX_FILE_BYTES)
    ctx.step("connect")
    return _read_folder(ctx, path, patterns, recurse, max_bytes, params.get("credential"), read_step="read")


def _read_folder(
    ctx: OpContext,
    path: str,
    patterns: list[Any],
    recurse: bool,
    max_bytes: int,
    credential: Any,
    *,
    read_step: str,
) -> dict[str, Any]:
    """The folder or share's matching files (Read-Files in _common.ps1): connect with the credential, list, read."""
    with ctx.host.shares.lock:
        tree = _tree_for(ctx, path, credential, "connect")
        ctx.step("list")
        if not tree.folder_exists(path):
            raise OpError("path_not_found", f"Cannot find path '{path}' because it does not exist.", "list")
        items = tree.list(path, [str(p) for p in patterns], recurse)
        ctx.step(read_step)
        return {"path": path, "files": [_file_view(item, max_bytes) for item in items]}


def _file_view(item: FileItem, max_bytes: int) -> dict[str, Any]:
    too_large = len(item.content) > max_bytes
    return {
        "path": item.path,
        "name": item.path.rsplit("\\", 1)[-1],
        "size": len(item.content),
        "modified": item.modified,
        "sha256": None if too_large else hashlib.sha256(item.content).hexdigest(),
        "content_b64": None if too_large else base64.b64encode(item.content).decode("ascii"),
        "skipped": "too_large" if too_large else None,
    }


def _source(ctx: OpContext, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One source of discovery_snapshot: its data, or {error} for that source alone (the script's per-source catch)."""
    try:
        return read()
    except OpError as exc:
        return {"error": {**exc.as_dict(), "step": exc.step or ctx.current_step}}


def discovery_snapshot(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Stores, sites and files in one operation; each source fails on its own (see discovery_snapshot.ps1)."""
    stores = params.get("stores", ["My", "WebHosting"])
    if stores is None:
        stores = []
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise OpError("bad_params", "parameter 'stores' must be a list of store names", "validate")
    file_spec = params.get("files")
    if file_spec is not None and not isinstance(file_spec, dict):
        raise OpError("bad_params", "parameter 'files' must be an object", "validate")

    def read_stores() -> dict[str, Any]:
        ctx.step("read_stores")
        certificates: list[dict[str, Any]] = []
        missing: list[str] = []
        for name in stores:
            canonical = store_name(name)
            if canonical not in ctx.state.stores:
                missing.append(name)
                continue
            for _, cert in sorted(ctx.state.stores[canonical].items()):
                certificates.append(
                    cert.describe(canonical, has_private_key=ctx.state.has_private_key(cert), include_der=True)
                )
        return {"certificates": certificates, "missing": missing}

    def read_sites() -> dict[str, Any]:
        ctx.step("read_sites")
        sites = [_site_view(s) for s in sorted(ctx.state.sites, key=lambda s: s.id)]
        ctx.step("read_http_sys")
        return {"sites": sites, "http_sys": [e.as_dict() for _, e in sorted(ctx.state.http_sys.items())]}

    def read_files() -> dict[str, Any]:
        assert file_spec is not None
        ctx.step("connect")
        path = _str(file_spec, "path")
        patterns = file_spec.get("patterns") or ["*.pfx", "*.p12"]
        recurse = file_spec.get("recurse", True) is not False
        max_bytes = _int(file_spec, "max_file_bytes", MAX_FILE_BYTES)
        return _read_folder(
            ctx, path, patterns, recurse, max_bytes, file_spec.get("credential"), read_step="read_files"
        )

    snapshot: dict[str, Any] = {"stores": None, "sites": None, "files": None}
    if stores:
        snapshot["stores"] = _source(ctx, read_stores)
    if params.get("sites", True) is not False:
        snapshot["sites"] = _source(ctx, read_sites)
    if file_spec is not None:
        snapshot["files"] = _source(ctx, read_files)
    ctx.step("done")
    return snapshot


def verify_served_on_host(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """A TLS handshake run on the host itself (SslStream with SNI), reporting the leaf it received."""
    ip = _str(params, "ip", required=False, default="*")
    port = _int(params, "port", 443)
    sni = params.get("sni") or None
    timeout = float(params.get("timeout_seconds") or 10)
    ctx.step("connect")
    any_ip = ip in ("*", "0.0.0.0")  # noqa: S104 - a binding address, not a bind()
    target = ctx.state.addresses[0] if any_ip and ctx.state.addresses else ip
    probe = ctx.host.tls_probe
    if probe is not None:
        # The handshake goes to this host's own listener; it must not wait for the host lock we hold.
        ctx.host.lock.release()
        try:
            result = probe(ctx.host, target, port, sni, timeout)
        finally:
            ctx.host.lock.acquire()
        ctx.step("handshake")
        if "error" in result:
            raise OpError(result.get("code", "tls_handshake_failed"), result["error"], "handshake")
        return {"ip": target, "port": port, "sni": sni, "method": "handshake", **result}
    ctx.step("handshake")
    material = select_certificate(ctx.state, target.strip("[]"), port, sni, ctx.host.read_file)
    if material is None:
        raise OpError("tls_handshake_failed", f"No certificate is bound for {target}:{port} (SNI {sni!r})", "handshake")
    from cryptography import x509

    leaf = x509.load_der_x509_certificate(material.leaf_der)
    return {
        "ip": target,
        "port": port,
        "sni": sni,
        "method": "model",
        "thumbprint": material.thumbprint,
        "subject": leaf.subject.rfc4514_string(),
        "not_after": iso(leaf.not_valid_after_utc),
        "chain": [thumbprint_of(d) for d in material.chain_der],
    }


# -- push and bind -------------------------------------------------------------------------------------------------

BIND_ACTIONS = ("update_certificate", "update_binding", "create_binding", "ftp")


class _Plan:
    def __init__(self, action: str, site: Site, old: Binding | None, new: Binding | None) -> None:
        self.action = action
        self.site = site
        self.old = old
        self.new = new


def _find_binding(site: Site, protocol: str, info: BindingInfo) -> Binding | None:
    for b in site.bindings:
        if b.protocol.lower() != protocol:
            continue
        try:
            if parse_binding_information(b.binding_information).key() == info.key():
                return b
        except WindowsError:
            continue
    return None


def _plan_bindings(ctx: OpContext, targets: list[Any], thumbprint: str, store: str) -> list[_Plan]:
    """Validate every requested binding change against the current config, before anything is imported."""
    state = ctx.state
    plans: list[_Plan] = []
    claimed: set[tuple[str, int, str]] = set()
    for raw in targets:
        if not isinstance(raw, dict):
            raise OpError("bad_params", "each binding target must be an object", "validate")
        action = _str(raw, "action")
        if action not in BIND_ACTIONS:
            raise OpError("bad_params", f"unknown binding action '{action}'", "validate")
        site_name = _str(raw, "site")
        site = state.site_by_name(site_name)
        if site is None:
            raise OpError("site_not_found", f"Site '{site_name}' does not exist", "validate")
        if action == "ftp":
            if not any(b.protocol.lower() == "ftp" for b in site.bindings):
                raise OpError("not_ftp_site", f"Site '{site.name}' has no ftp binding", "validate")
            plans.append(_Plan(action, site, None, None))
            continue
        info = parse_binding_information(_str(raw, "binding_information"))
        flags_set = _int(raw, "ssl_flags_set")
        flags_clear = _int(raw, "ssl_flags_clear")
        old: Binding | None = None
        if action == "create_binding":
            new_info = info
            flags = flags_set
            attributes: dict[str, str] = {}
        else:
            old = _find_binding(site, "https", info)
            if old is None:
                raise OpError(
                    "binding_not_found",
                    f"Site '{site.name}' has no https binding '{info.format()}'",
                    "validate",
                )
            attributes = dict(old.attributes)
            if action == "update_certificate":
                new_info, flags = info, old.ssl_flags
            else:
                replacement = raw.get("new_binding_information")
                new_info = parse_binding_information(replacement) if replacement else info
                flags = (old.ssl_flags & ~flags_clear) | flags_set
        check_ssl_flags(new_info, flags, state.build, "validate")
        new = Binding(
            protocol="https",
            binding_information=new_info.format(),
            ssl_flags=flags,
            certificate_hash=None if flags & 2 else thumbprint,
            certificate_store=None if flags & 2 else store,
            attributes=attributes,
        )
        key = new_info.key()
        if key in claimed:
            raise OpError("binding_conflict", f"Binding '{new_info.format()}' is requested twice", "validate")
        claimed.add(key)
        for other in state.sites:
            for b in other.bindings:
                if b is old or binding_key(b) != key:
                    continue
                raise OpError(
                    "binding_conflict",
                    f"Binding '{new_info.format()}' already exists on site '{other.name}'",
                    "validate",
                )
        plans.append(_Plan(action, site, old, new))
    return plans


def _snapshot(state: HostState, plans: list[_Plan], store: str, thumbprint: str) -> dict[str, Any]:
    bindings = []
    ftp = []
    endpoints: set[tuple[str, str]] = set()
    for plan in plans:
        if plan.action == "ftp":
            ftp.append({"site": plan.site.name, "before": plan.site.ftp_ssl.as_dict() if plan.site.ftp_ssl else None})
            continue
        assert plan.new is not None
        bindings.append(
            {
                "site": plan.site.name,
                "action": plan.action,
                "before": plan.old.as_dict() if plan.old else None,
                "after": {"protocol": "https", "binding_information": plan.new.binding_information},
            }
        )
        for b in (plan.old, plan.new):
            endpoint = binding_endpoint(b) if b else None
            if endpoint:
                endpoints.add(endpoint)
    http_sys = []
    for key in sorted(endpoints):
        entry = state.http_sys.get(key)
        http_sys.append({"kind": key[0], "endpoint": key[1], "before": entry.as_dict() if entry else None})
    return {
        "version": 1,
        "host": state.name,
        "taken_at": utcnow_iso(),
        "bindings": bindings,
        "ftp": ftp,
        "http_sys": http_sys,
        "certificate": {"store": store, "thumbprint": thumbprint, "was_present": False},
        "chain_added": [],
    }


def _import_pfx(ctx: OpContext, data: bytes, password: str | None, store: str, friendly: str | None) -> dict[str, Any]:
    """X509Certificate2Collection.Import(bytes, password, MachineKeySet|PersistKeySet), then X509Store.Add."""
    state = ctx.state
    algorithms = pfx_algorithms(data)
    hint = (
        f" (Windows build {state.build} cannot read AES-256/PBES2 PFX files; export it with TripleDES-SHA1."
        " A wrong password gives the same error.)"
        if state.build < BUILD_2019
        else ""
    )
    if algorithms.error:
        raise WindowsError(
            "pfx_import_failed", f"PFX import failed: ASN1 bad tag value met. {algorithms.error}", "import"
        )
    if algorithms.uses_pbes2 and state.build < BUILD_2019:
        raise WindowsError("pfx_import_failed", f"PFX import failed: {PFX_PASSWORD_TEXT}{hint}", "import")
    try:
        loaded = load_pfx(data, password)
    except ValueError as exc:
        raise WindowsError("pfx_import_failed", f"PFX import failed: {PFX_PASSWORD_TEXT}{hint}", "import") from exc
    leaf_der = loaded.leaf.public_bytes(serialization.Encoding.DER)
    thumb = thumbprint_of(leaf_der)
    bucket = state.stores.setdefault(store, {})
    existing = bucket.get(thumb)
    added_keys: list[str] = []
    if existing is None:
        key_id = None
        provider = None
        if loaded.key is not None:
            key_id = f"key-{uuid.uuid4().hex[:16]}"
            state.keys[key_id] = loaded.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            added_keys.append(key_id)
            provider = CNG_PROVIDER if isinstance(loaded.key, ec.EllipticCurvePrivateKey) else CAPI_RSA_PROVIDER
        bucket[thumb] = StoredCertificate(
            thumbprint=thumb,
            der=leaf_der,
            friendly_name=friendly or loaded.friendly_name or "",
            key_id=key_id,
            key_provider=provider,
        )
    elif friendly:
        previous_name = existing.friendly_name
        existing.friendly_name = friendly

        def restore_name() -> None:
            existing.friendly_name = previous_name

        ctx.on_failure(restore_name)
    ctx.changed = True

    def undo_import() -> None:
        if existing is None:
            bucket.pop(thumb, None)
        for kid in added_keys:
            state.keys.pop(kid, None)

    ctx.on_failure(undo_import)
    return {"thumbprint": thumb, "imported": existing is None}


def _chain_params(params: dict[str, Any]) -> list[x509.Certificate]:
    """`chain_b64`: the issuer chain to install, base64 DER public certificates (New-Object X509Certificate2)."""
    items = params.get("chain_b64") or []
    if not isinstance(items, list):
        raise OpError("bad_params", "parameter 'chain_b64' must be a list", "validate")
    chain = []
    for item in items:
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(str(item), validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise OpError(
                "bad_params", "parameter 'chain_b64' holds something that is not a DER certificate", "validate"
            ) from exc
    return chain


def _install_chain(ctx: OpContext, chain: list[x509.Certificate], leaf: str) -> list[dict[str, Any]]:
    """X509Store(CA|Root, LocalMachine).Add for each chain certificate not already there: self-signed (issuer name =
    subject name) -> Root, else CA. Only what was added is returned (and undone if the operation fails later)."""
    state = ctx.state
    added: list[dict[str, Any]] = []
    for cert in chain:
        der = cert.public_bytes(serialization.Encoding.DER)
        thumb = thumbprint_of(der)
        if thumb == leaf:
            continue
        target = "Root" if cert.issuer.public_bytes() == cert.subject.public_bytes() else "CA"
        bucket = state.stores.setdefault(target, {})
        if thumb in bucket:
            continue
        bucket[thumb] = StoredCertificate(thumbprint=thumb, der=der, friendly_name="", key_id=None, key_provider=None)
        added.append({"store": target, "thumbprint": thumb, "subject": cert.subject.rfc4514_string()})
    if added:
        ctx.changed = True

        def undo_chain() -> None:
            for entry in added:
                state.stores[entry["store"]].pop(entry["thumbprint"], None)

        ctx.on_failure(undo_chain)
    return added


def _remove_chain(state: HostState, entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Remove the chain certificates a push added, except one that a certificate staying on the host names as its
    issuer (and, in turn, that one's issuers). Returns (removed, kept)."""
    candidates: dict[str, tuple[str, StoredCertificate]] = {}
    for entry in entries:
        store = store_name(str(entry.get("store") or ""))
        thumb = normalize_thumbprint(str(entry.get("thumbprint") or ""))
        found = state.stores.get(store, {}).get(thumb)
        if found is not None:
            candidates[thumb] = (store, found)
    others = [c for certs in state.stores.values() for t, c in certs.items() if t not in candidates]
    kept: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for thumb, (_, cert) in candidates.items():
            if thumb in kept:
                continue
            subject = cert.certificate.subject
            users = [c for c in others if c.certificate.issuer == subject and c.thumbprint != thumb]
            users += [candidates[t][1] for t in kept if t != thumb and candidates[t][1].certificate.issuer == subject]
            if users:
                kept[thumb] = users[0].certificate.subject.rfc4514_string()
                changed = True
    removed, kept_out = [], []
    for thumb in sorted(candidates):
        store, _ = candidates[thumb]
        if thumb in kept:
            kept_out.append({"store": store, "thumbprint": thumb, "reason": f"issuer of {kept[thumb]}"})
            continue
        del state.stores[store][thumb]
        removed.append({"store": store, "thumbprint": thumb})
    return removed, kept_out


def push_and_bind(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Import a PFX, then change the requested bindings in one commit; return the snapshot to undo it with."""
    state = ctx.state
    ctx.step("validate")
    data = _b64(params, "pfx_b64")
    password = params.get("pfx_password")
    if password is not None and not isinstance(password, str):
        raise OpError("bad_params", "parameter 'pfx_password' must be a string", "validate")
    store = store_name(_str(params, "store", required=False, default="My"))
    if store not in PUSH_STORES:
        raise OpError("bad_params", f"store must be one of {', '.join(PUSH_STORES)}", "validate")
    targets = params.get("bindings") or []
    if not isinstance(targets, list):
        raise OpError("bad_params", "parameter 'bindings' must be a list", "validate")
    friendly = params.get("friendly_name") or None
    expected = normalize_thumbprint(params.get("expected_thumbprint")) or None
    chain = _chain_params(params)
    # The leaf's thumbprint is only known after import; plan with a placeholder and fill it in.
    plans = _plan_bindings(ctx, targets, "0" * 40, store)
    ctx.step("snapshot")
    snapshot = _snapshot(state, plans, store, "")
    ctx.step("import")
    imported = _import_pfx(ctx, data, password, store, friendly)
    thumb = imported["thumbprint"]
    chain_added = _install_chain(ctx, chain, thumb)
    snapshot["certificate"] = {"store": store, "thumbprint": thumb, "was_present": not imported["imported"]}
    snapshot["chain_added"] = [{"store": e["store"], "thumbprint": e["thumbprint"]} for e in chain_added]
    ctx.step("verify")
    cert = state.find_certificate(store, thumb)
    if cert is None:
        raise OpError("import_not_found", f"Certificate {thumb} is not in LocalMachine\\{store} after import", "verify")
    if not state.has_private_key(cert):
        raise OpError(
            "no_private_key",
            f"Certificate {thumb} in LocalMachine\\{store} has no private key; IIS could not use it",
            "verify",
        )
    if expected and expected != thumb:
        raise OpError("thumbprint_mismatch", f"Imported certificate is {thumb}, expected {expected}", "verify")
    ctx.step("bind")
    tx = ConfigTransaction(state, step="bind")
    results: list[dict[str, Any]] = []
    for plan in plans:
        site = tx.site(plan.site.name)
        assert site is not None
        if plan.action == "ftp":
            previous = copy.deepcopy(site.ftp_ssl) if site.ftp_ssl else FtpSsl()
            site.ftp_ssl = FtpSsl(
                certificate_hash=thumb,
                certificate_store=store,
                control_channel_policy=previous.control_channel_policy,
                data_channel_policy=previous.data_channel_policy,
            )
            results.append({"site": site.name, "action": "ftp", "ftp_ssl": site.ftp_ssl.as_dict()})
            continue
        assert plan.new is not None
        new = copy.deepcopy(plan.new)
        if new.certificate_hash is not None:
            new.certificate_hash = thumb
        old_endpoint = None
        if plan.old is not None:
            old = next(b for b in site.bindings if b.as_dict() == plan.old.as_dict())
            old_endpoint = binding_endpoint(old)
            # Replace in one commit, keeping HTTP.sys entries that other bindings share (removeConfigOnly).
            tx.remove_binding(site, old, remove_config_only=True)
        tx.add_binding(site, new)
        new_endpoint = binding_endpoint(new)
        if old_endpoint and old_endpoint != new_endpoint:
            still_used = any(binding_endpoint(b) == old_endpoint for s in tx.sites for b in s.bindings)
            if not still_used:
                tx.delete_http_sys(old_endpoint)
        shared = [
            {"site": s.name, "binding_information": b.binding_information}
            for s in tx.sites
            for b in s.bindings
            if b is not new and new_endpoint is not None and binding_endpoint(b) == new_endpoint
        ]
        results.append({"site": site.name, "action": plan.action, "binding": _binding_view(new), "shared_with": shared})
    ctx.step("commit")
    committed = tx.commit()
    ctx.changed = True
    touched = {(e["kind"], e["endpoint"]) for e in snapshot["http_sys"]}
    return {
        "thumbprint": thumb,
        "store": store,
        "imported": imported["imported"],
        "has_private_key": True,
        "friendly_name": cert.friendly_name,
        "key_provider": cert.key_provider,
        "chain_added": chain_added,
        "bindings": results,
        "http_sys": [state.http_sys[k].as_dict() for k in sorted(touched) if k in state.http_sys],
        "sites_stopped": committed.sites_stopped,
        "snapshot": snapshot,
    }


def restore(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Put bindings, FTP settings and HTTP.sys entries back exactly as a push_and_bind snapshot recorded them."""
    state = ctx.state
    ctx.step("validate")
    snapshot = params.get("snapshot")
    if not isinstance(snapshot, dict) or snapshot.get("version") != 1:
        raise OpError("bad_params", "parameter 'snapshot' must be a snapshot from push_and_bind", "validate")
    remove_certificate = params.get("remove_certificate", False) is True
    remove_chain = params.get("remove_chain", True) is not False
    for item in snapshot.get("bindings") or []:
        if state.site_by_name(str(item.get("site"))) is None:
            raise OpError("site_not_found", f"Site '{item.get('site')}' does not exist", "validate")
    ctx.step("bind")
    tx = ConfigTransaction(state, step="bind")
    restored = 0
    for item in snapshot.get("bindings") or []:
        site = tx.site(item["site"])
        assert site is not None
        after = item.get("after")
        if after:
            info = parse_binding_information(after["binding_information"])
            current = _find_binding(site, str(after.get("protocol") or "https"), info)
            if current is not None:
                tx.remove_binding(site, current, remove_config_only=True)
        before = item.get("before")
        if before:
            original = Binding.from_dict(before)
            info = parse_binding_information(original.binding_information)
            if _find_binding(site, original.protocol.lower(), info) is None:
                tx.add_binding(site, original)
        restored += 1
    for item in snapshot.get("ftp") or []:
        site = tx.site(item["site"])
        if site is not None:
            site.ftp_ssl = FtpSsl.from_dict(item["before"]) if item.get("before") else None
            restored += 1
    ctx.step("http_sys")
    for item in snapshot.get("http_sys") or []:
        before = item.get("before")
        if before:
            tx.set_http_sys(HttpSysEntry.from_dict(before))
        else:
            tx.delete_http_sys((item["kind"], item["endpoint"]))
    ctx.step("commit")
    tx.commit()
    ctx.changed = True
    removed = False
    cert_info = snapshot.get("certificate") or {}
    if remove_certificate and cert_info.get("thumbprint") and not cert_info.get("was_present"):
        ctx.step("cleanup")
        removed = _remove_if_unused(state, store_name(cert_info.get("store")), cert_info["thumbprint"], True)["removed"]
    chain_removed: list[dict[str, Any]] = []
    chain_kept: list[dict[str, Any]] = []
    pending = [e for e in snapshot.get("chain_added") or [] if isinstance(e, dict) and e.get("thumbprint")]
    if remove_chain and pending:
        ctx.step("chain")
        chain_removed, chain_kept = _remove_chain(state, pending)
    return {
        "restored": restored,
        "http_sys": [e.as_dict() for _, e in sorted(state.http_sys.items())],
        "certificate_removed": removed,
        "chain_removed": chain_removed,
        "chain_kept": chain_kept,
    }


def _usage(state: HostState, thumbprint: str) -> list[dict[str, Any]]:
    used: list[dict[str, Any]] = []
    for site in state.sites:
        for b in site.bindings:
            if b.certificate_hash == thumbprint:
                used.append({"kind": "binding", "site": site.name, "binding_information": b.binding_information})
        if site.ftp_ssl and site.ftp_ssl.certificate_hash == thumbprint:
            used.append({"kind": "ftp", "site": site.name})
    for entry in state.http_sys.values():
        if entry.certificate_hash == thumbprint:
            used.append({"kind": "http_sys", "endpoint": entry.endpoint})
    return used


def _remove_if_unused(state: HostState, store: str, thumbprint: str, delete_key: bool) -> dict[str, Any]:
    cert = state.find_certificate(store, thumbprint)
    if cert is None:
        return {"removed": False, "reason": "not_found", "used_by": [], "key_deleted": False}
    used = _usage(state, cert.thumbprint)
    if used:
        return {"removed": False, "reason": "in_use", "used_by": used, "key_deleted": False}
    del state.stores[store][cert.thumbprint]
    key_deleted = False
    if delete_key and cert.key_id:
        shared = any(c.key_id == cert.key_id for certs in state.stores.values() for c in certs.values())
        if not shared:
            state.keys.pop(cert.key_id, None)
            key_deleted = True
    return {"removed": True, "reason": None, "used_by": [], "key_deleted": key_deleted}


def remove_certificate_if_unused(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    thumbprint = normalize_thumbprint(_str(params, "thumbprint"))
    store = store_name(_str(params, "store", required=False, default="My"))
    if store not in PUSH_STORES:
        raise OpError("bad_params", f"store must be one of {', '.join(PUSH_STORES)}", "validate")
    ctx.step("scan")
    ctx.step("remove")
    result = _remove_if_unused(ctx.state, store, thumbprint, params.get("delete_key", True) is not False)
    ctx.changed = bool(result["removed"])
    return {"thumbprint": thumbprint, "store": store, **result}


# -- files and scripts ---------------------------------------------------------------------------------------------


def write_file(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write via a temp file and a rename; the file it replaces is kept as `<path>.previous`."""
    path = _str(params, "path").replace("/", "\\")
    content = _b64(params, "content_b64")
    keep_previous = params.get("keep_previous", True) is not False
    ctx.step("connect")
    with ctx.host.shares.lock:
        tree = _tree_for(ctx, path, params.get("credential"), "connect")
        folder = path.rsplit("\\", 1)[0]
        if not folder or folder == path:
            raise OpError("bad_params", f"'{path}' has no folder", "validate")
        ctx.step("write_temp")
        temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        tree.write(temp, content)

        def drop_temp() -> None:
            tree.remove(temp)

        ctx.on_failure(drop_temp)
        ctx.step("rename")
        previous_path = None
        old = tree.read(path)
        if old is not None and keep_previous:
            previous_path = f"{path}.previous"
            tree.write(previous_path, old.content, old.modified)
        tree.remove(temp)
        tree.write(path, content)
        tree.add_folder(folder)
    ctx.changed = True
    return {
        "path": path,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "previous_path": previous_path,
        "replaced": old is not None,
    }


def remove_file(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a file a push created; with expected_sha256 only while it still holds those bytes."""
    path = _str(params, "path").replace("/", "\\")
    expected = _str(params, "expected_sha256", required=False).lower()
    ctx.step("connect")
    with ctx.host.shares.lock:
        tree = _tree_for(ctx, path, params.get("credential"), "connect")
        ctx.step("check")
        item = tree.read(path)
        if item is None:
            return {"path": path, "removed": False, "reason": "not_found"}
        if expected and hashlib.sha256(item.content).hexdigest() != expected:
            return {"path": path, "removed": False, "reason": "changed"}
        ctx.step("remove")
        tree.remove(path)
    ctx.changed = True
    return {"path": path, "removed": True, "reason": None}


def run_script(ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run a pre/post script present on the host; a non-zero exit code fails the operation."""
    path = _str(params, "path")
    arguments = params.get("arguments") or []
    if not isinstance(arguments, list):
        raise OpError("bad_params", "parameter 'arguments' must be a list", "validate")
    ctx.step("find")
    spec = ctx.state.scripts.get(norm_path(path))
    if spec is None:
        if ctx.state.files.read(path) is None:
            raise OpError("script_not_found", f"The script '{path}' does not exist.", "find")
        output, exit_code, delay = "", 0, 0
    else:
        output, exit_code, delay = spec.output, spec.exit_code, spec.delay_ms
    ctx.step("run")
    started = time.monotonic()
    if delay:
        time.sleep(delay / 1000)
    ctx.journal_extra["script"] = {"path": path, "arguments": [str(a) for a in arguments], "exit_code": exit_code}
    if exit_code != 0:
        tail = "\n".join(output.splitlines()[-5:])
        raise OpError("script_failed", f"Script '{path}' exited with code {exit_code}. {tail}".strip(), "run")
    return {
        "path": path,
        "exit_code": exit_code,
        "output": output,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


OPERATIONS: dict[str, Callable[[OpContext, dict[str, Any]], dict[str, Any]]] = {
    "host_facts": host_facts,
    "list_sites": list_sites,
    "list_store_certificates": list_store_certificates,
    "list_files": list_files,
    "discovery_snapshot": discovery_snapshot,
    "push_and_bind": push_and_bind,
    "restore": restore,
    "remove_certificate_if_unused": remove_certificate_if_unused,
    "write_file": write_file,
    "remove_file": remove_file,
    "run_script": run_script,
    "verify_served_on_host": verify_served_on_host,
}
