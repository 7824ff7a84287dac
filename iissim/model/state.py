"""The state of one simulated Windows/IIS host: sites and bindings, HTTP.sys, certificate stores, files, scripts.

Everything here is plain data; `to_dict`/`from_dict` give the persisted form (with private keys) and `dump` the
inspection form of the control API (no secrets, stable order so that two dumps compare equal when nothing changed).
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

STORE_NAMES = ("My", "WebHosting", "CA", "Root")
CNG_PROVIDER = "Microsoft Software Key Storage Provider"
CAPI_RSA_PROVIDER = "Microsoft Enhanced Cryptographic Provider v1.0"
SAN_OID = x509.ObjectIdentifier("2.5.29.17")


def utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def thumbprint_of(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def normalize_thumbprint(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isalnum()).upper()


def store_name(value: str | None) -> str:
    """Canonical store name, case-insensitive as Windows treats it; an empty store means My."""
    for name in STORE_NAMES:
        if (value or "My").lower() == name.lower():
            return name
    return value or "My"


@dataclass
class StoredCertificate:
    """One entry of a LocalMachine certificate store (the key lives in HostState.keys under key_id)."""

    thumbprint: str
    der: bytes
    friendly_name: str = ""
    key_id: str | None = None
    key_provider: str | None = None
    _parsed: x509.Certificate | None = field(default=None, repr=False, compare=False)
    _facts: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> StoredCertificate:
        # The parsed certificate and its facts are caches (and not copyable); bytes are immutable and shared.
        return StoredCertificate(self.thumbprint, self.der, self.friendly_name, self.key_id, self.key_provider)

    @property
    def certificate(self) -> x509.Certificate:
        if self._parsed is None:
            self._parsed = x509.load_der_x509_certificate(self.der)
        return self._parsed

    def _der_facts(self) -> dict[str, Any]:
        """What the DER says (computed once: a lab of 1,000 hosts lists 50,000 certificates per discovery, and the
        simulator shares its CPUs with the portal under test, which real hosts do not)."""
        if self._facts is not None:
            return self._facts
        cert = self.certificate
        try:
            san = cert.extensions.get_extension_for_oid(SAN_OID).value
            dns = list(san.get_values_for_type(x509.DNSName)) if isinstance(san, x509.SubjectAlternativeName) else []
        except x509.ExtensionNotFound:
            dns = []
        try:
            eku_ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            eku = [oid.dotted_string for oid in eku_ext]
        except x509.ExtensionNotFound:
            eku = []
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            algorithm, size = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            algorithm, size = "ECDSA", key.curve.key_size
        else:
            algorithm, size = type(key).__name__, 0
        self._facts = {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial_number": format(cert.serial_number, "X"),
            "not_before": iso(cert.not_valid_before_utc),
            "not_after": iso(cert.not_valid_after_utc),
            "key_algorithm": algorithm,
            "key_size": size,
            "dns_names": tuple(dns),
            "enhanced_key_usages": tuple(eku),
            "der_b64": base64.b64encode(self.der).decode("ascii"),
        }
        return self._facts

    def describe(self, store: str, *, has_private_key: bool, include_der: bool) -> dict[str, Any]:
        facts = self._der_facts()
        out: dict[str, Any] = {
            "store": store,
            "thumbprint": self.thumbprint,
            "subject": facts["subject"],
            "issuer": facts["issuer"],
            "serial_number": facts["serial_number"],
            "not_before": facts["not_before"],
            "not_after": facts["not_after"],
            "friendly_name": self.friendly_name,
            "has_private_key": has_private_key,
            "key_provider": self.key_provider if has_private_key else None,
            "key_algorithm": facts["key_algorithm"],
            "key_size": facts["key_size"],
            "dns_names": list(facts["dns_names"]),
            "enhanced_key_usages": list(facts["enhanced_key_usages"]),
        }
        if include_der:
            out["der_b64"] = facts["der_b64"]
        return out


@dataclass
class Binding:
    """One `<binding>` of a site; `attributes` holds attributes the portal does not own (kept on every change)."""

    protocol: str
    binding_information: str
    ssl_flags: int = 0
    certificate_hash: str | None = None
    certificate_store: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "binding_information": self.binding_information,
            "ssl_flags": self.ssl_flags,
            "certificate_hash": self.certificate_hash,
            "certificate_store": self.certificate_store,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binding:
        return cls(
            protocol=str(data["protocol"]),
            binding_information=str(data["binding_information"]),
            ssl_flags=int(data.get("ssl_flags") or 0),
            certificate_hash=normalize_thumbprint(data.get("certificate_hash")) or None,
            certificate_store=store_name(data["certificate_store"]) if data.get("certificate_store") else None,
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass
class FtpSsl:
    """`ftpServer/security/ssl` of an FTP site: the certificate is here, not on the binding."""

    certificate_hash: str | None = None
    certificate_store: str | None = "My"
    control_channel_policy: str = "SslAllow"
    data_channel_policy: str = "SslAllow"

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate_hash": self.certificate_hash,
            "certificate_store": self.certificate_store,
            "control_channel_policy": self.control_channel_policy,
            "data_channel_policy": self.data_channel_policy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FtpSsl:
        return cls(
            certificate_hash=normalize_thumbprint(data.get("certificate_hash")) or None,
            certificate_store=store_name(data.get("certificate_store")),
            control_channel_policy=str(data.get("control_channel_policy") or "SslAllow"),
            data_channel_policy=str(data.get("data_channel_policy") or "SslAllow"),
        )


@dataclass
class Site:
    id: int
    name: str
    state: str = "Started"  # Started | Stopped
    physical_path: str = ""
    app_pool: str = "DefaultAppPool"
    bindings: list[Binding] = field(default_factory=list)
    ftp_ssl: FtpSsl | None = None
    start_error: str | None = None

    @property
    def started(self) -> bool:
        return self.state == "Started"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "physical_path": self.physical_path,
            "app_pool": self.app_pool,
            "bindings": [b.as_dict() for b in self.bindings],
            "ftp_ssl": self.ftp_ssl.as_dict() if self.ftp_ssl else None,
            "start_error": self.start_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Site:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            state=str(data.get("state") or "Started"),
            physical_path=str(data.get("physical_path") or ""),
            app_pool=str(data.get("app_pool") or "DefaultAppPool"),
            bindings=[Binding.from_dict(b) for b in data.get("bindings") or []],
            ftp_ssl=FtpSsl.from_dict(data["ftp_ssl"]) if data.get("ftp_ssl") else None,
            start_error=data.get("start_error"),
        )


@dataclass
class HttpSysEntry:
    """One HTTP.sys ssl binding (`netsh http show sslcert`): ipport, hostnameport, or ccs."""

    kind: str
    endpoint: str
    certificate_hash: str | None
    certificate_store: str | None
    app_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.endpoint.lower())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "certificate_hash": self.certificate_hash,
            "certificate_store": self.certificate_store,
            "app_id": self.app_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HttpSysEntry:
        return cls(
            kind=str(data["kind"]),
            endpoint=str(data["endpoint"]),
            certificate_hash=normalize_thumbprint(data.get("certificate_hash")) or None,
            certificate_store=store_name(data["certificate_store"]) if data.get("certificate_store") else None,
            app_id=str(data.get("app_id") or ""),
        )


def norm_path(path: str) -> str:
    """Windows paths compare case-insensitively, with either slash, without a trailing separator."""
    text = path.replace("/", "\\")
    while len(text) > 3 and text.endswith("\\"):
        text = text[:-1]
    return text.lower()


class FileItem:
    """A file; its content may be produced on first read (large generated labs create PFX files lazily)."""

    __slots__ = ("_content", "_factory", "modified", "path")

    def __init__(
        self, path: str, content: bytes | None, modified: str, factory: Callable[[], bytes] | None = None
    ) -> None:
        self.path = path
        self._content = content
        self._factory = factory
        self.modified = modified

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = self._factory() if self._factory else b""
            self._factory = None
        return self._content


class FileTree:
    """Files by Windows path (case-insensitive); folders exist when created or when they hold a file."""

    def __init__(self) -> None:
        self.files: dict[str, FileItem] = {}
        self.folders: dict[str, str] = {}

    def add_folder(self, path: str) -> None:
        self.folders[norm_path(path)] = path.rstrip("\\/") or path

    def folder_exists(self, path: str) -> bool:
        key = norm_path(path)
        return key in self.folders or any(k.startswith(key + "\\") for k in self.files)

    def write(self, path: str, content: bytes, modified: str | None = None) -> None:
        self.files[norm_path(path)] = FileItem(path.replace("/", "\\"), content, modified or utcnow_iso())

    def write_lazy(self, path: str, factory: Callable[[], bytes], modified: str | None = None) -> None:
        self.files[norm_path(path)] = FileItem(path.replace("/", "\\"), None, modified or utcnow_iso(), factory)

    def read(self, path: str) -> FileItem | None:
        return self.files.get(norm_path(path))

    def remove(self, path: str) -> FileItem | None:
        return self.files.pop(norm_path(path), None)

    def list(self, folder: str, patterns: list[str], recurse: bool) -> list[FileItem]:
        prefix = norm_path(folder) + "\\"
        out = []
        for key, item in self.files.items():
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if not recurse and "\\" in rest:
                continue
            name = rest.rsplit("\\", 1)[-1]
            if any(fnmatch.fnmatch(name, p.lower()) for p in patterns):
                out.append(item)
        return sorted(out, key=lambda i: i.path.lower())

    def as_dict(self) -> dict[str, Any]:
        return {
            "folders": sorted(self.folders.values(), key=str.lower),
            "files": [
                {"path": f.path, "content_b64": base64.b64encode(f.content).decode("ascii"), "modified": f.modified}
                for f in sorted(self.files.values(), key=lambda i: i.path.lower())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileTree:
        tree = cls()
        for folder in data.get("folders") or []:
            tree.add_folder(folder)
        for f in data.get("files") or []:
            tree.write(f["path"], base64.b64decode(f["content_b64"]), f.get("modified"))
        return tree

    def dump(self) -> dict[str, Any]:
        return {
            "folders": sorted(self.folders.values(), key=str.lower),
            "files": [
                {
                    "path": f.path,
                    "size": len(f.content),
                    "sha256": hashlib.sha256(f.content).hexdigest(),
                    "modified": f.modified,
                }
                for f in sorted(self.files.values(), key=lambda i: i.path.lower())
            ],
        }


@dataclass
class ScriptSpec:
    """A pre/post script present on the host: what running it prints and exits with (the control API can change it)."""

    path: str
    exit_code: int = 0
    output: str = ""
    delay_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "exit_code": self.exit_code, "output": self.output, "delay_ms": self.delay_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptSpec:
        return cls(
            path=str(data["path"]),
            exit_code=int(data.get("exit_code") or 0),
            output=str(data.get("output") or ""),
            delay_ms=int(data.get("delay_ms") or 0),
        )


@dataclass
class HostState:
    """Everything a simulated host knows about itself (the lock lives on SimHost)."""

    name: str
    fqdn: str
    build: int
    edition: str = "Datacenter"
    iis_version: str = "10.0"
    ps_version: str = "5.1"
    ccs: dict[str, Any] | None = None  # {"path": UNC or folder, "password": PFX password} when CCS is installed
    addresses: list[str] = field(default_factory=list)
    ipv6_addresses: list[str] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    http_sys: dict[tuple[str, str], HttpSysEntry] = field(default_factory=dict)
    stores: dict[str, dict[str, StoredCertificate]] = field(default_factory=lambda: {n: {} for n in STORE_NAMES})
    keys: dict[str, bytes] = field(default_factory=dict)  # key id -> PKCS#8 DER
    files: FileTree = field(default_factory=FileTree)
    scripts: dict[str, ScriptSpec] = field(default_factory=dict)

    def site_by_name(self, name: str) -> Site | None:
        for site in self.sites:
            if site.name.lower() == name.lower():
                return site
        return None

    def find_certificate(self, store: str | None, thumbprint: str | None) -> StoredCertificate | None:
        return self.stores.get(store_name(store), {}).get(normalize_thumbprint(thumbprint))

    def has_private_key(self, cert: StoredCertificate) -> bool:
        return cert.key_id is not None and cert.key_id in self.keys

    def add_http_sys(self, entry: HttpSysEntry) -> None:
        self.http_sys[entry.key] = entry

    def clone(self) -> HostState:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """The persisted form, private keys included (for --state-dir files only, never for the control API)."""
        return {
            "name": self.name,
            "fqdn": self.fqdn,
            "build": self.build,
            "edition": self.edition,
            "iis_version": self.iis_version,
            "ps_version": self.ps_version,
            "ccs": self.ccs,
            "addresses": list(self.addresses),
            "ipv6_addresses": list(self.ipv6_addresses),
            "sites": [s.as_dict() for s in self.sites],
            "http_sys": [e.as_dict() for e in self.http_sys.values()],
            "stores": {
                store: [
                    {
                        "thumbprint": c.thumbprint,
                        "der_b64": base64.b64encode(c.der).decode("ascii"),
                        "friendly_name": c.friendly_name,
                        "key_id": c.key_id,
                        "key_provider": c.key_provider,
                    }
                    for c in certs.values()
                ]
                for store, certs in self.stores.items()
            },
            "keys": {kid: base64.b64encode(der).decode("ascii") for kid, der in self.keys.items()},
            "files": self.files.as_dict(),
            "scripts": [s.as_dict() for s in self.scripts.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostState:
        state = cls(
            name=data["name"],
            fqdn=data["fqdn"],
            build=int(data["build"]),
            edition=data.get("edition", "Datacenter"),
            iis_version=data.get("iis_version", "10.0"),
            ps_version=data.get("ps_version", "5.1"),
            ccs=data.get("ccs"),
            addresses=list(data.get("addresses") or []),
            ipv6_addresses=list(data.get("ipv6_addresses") or []),
            sites=[Site.from_dict(s) for s in data.get("sites") or []],
        )
        for entry in data.get("http_sys") or []:
            state.add_http_sys(HttpSysEntry.from_dict(entry))
        for store, certs in (data.get("stores") or {}).items():
            bucket = state.stores.setdefault(store_name(store), {})
            for c in certs:
                der = base64.b64decode(c["der_b64"])
                bucket[thumbprint_of(der)] = StoredCertificate(
                    thumbprint=thumbprint_of(der),
                    der=der,
                    friendly_name=c.get("friendly_name") or "",
                    key_id=c.get("key_id"),
                    key_provider=c.get("key_provider"),
                )
        state.keys = {kid: base64.b64decode(v) for kid, v in (data.get("keys") or {}).items()}
        state.files = FileTree.from_dict(data.get("files") or {})
        state.scripts = {norm_path(s["path"]): ScriptSpec.from_dict(s) for s in data.get("scripts") or []}
        return state

    def dump(self) -> dict[str, Any]:
        """The control API's view: no private keys, no file contents, sorted so equal states dump equal."""
        return {
            "name": self.name,
            "fqdn": self.fqdn,
            "build": self.build,
            "addresses": list(self.addresses),
            "ipv6_addresses": list(self.ipv6_addresses),
            "sites": [s.as_dict() for s in sorted(self.sites, key=lambda s: s.id)],
            "http_sys": [e.as_dict() for _, e in sorted(self.http_sys.items())],
            "stores": {
                store: [
                    {
                        "thumbprint": c.thumbprint,
                        "subject": c.certificate.subject.rfc4514_string(),
                        "friendly_name": c.friendly_name,
                        "has_private_key": self.has_private_key(c),
                        "key_provider": c.key_provider,
                        "not_after": iso(c.certificate.not_valid_after_utc),
                    }
                    for _, c in sorted(certs.items())
                ]
                for store, certs in sorted(self.stores.items())
            },
            "files": self.files.dump(),
            "scripts": [s.as_dict() for _, s in sorted(self.scripts.items())],
        }


@dataclass
class Share:
    """A UNC share (`\\\\server\\share`) with its own credentials; lab-wide, so every host sees the same files."""

    unc: str
    username: str
    password: str
    files: FileTree = field(default_factory=FileTree)

    def as_dict(self) -> dict[str, Any]:
        return {"unc": self.unc, "username": self.username, "password": self.password, "files": self.files.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Share:
        return cls(
            unc=data["unc"],
            username=data["username"],
            password=data["password"],
            files=FileTree.from_dict(data.get("files") or {}),
        )
