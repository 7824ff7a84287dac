"""Lab files: read the YAML, move its addresses to another 127.x.y.0/24, and build host states from it.

The format is documented in iissim/README.md ("Lab file").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

from iissim.contract import WinRMConfig
from iissim.model.bindings import IIS_APP_ID, httpsys_endpoint, parse_binding_information
from iissim.model.iis import start_sites_in_order
from iissim.model.state import (
    CAPI_RSA_PROVIDER,
    CNG_PROVIDER,
    Binding,
    FtpSsl,
    HostState,
    HttpSysEntry,
    ScriptSpec,
    Share,
    Site,
    StoredCertificate,
    norm_path,
    thumbprint_of,
)
from iissim.pki import LabCA, Material, key_der, load_given_material, new_key, when

_LOOPBACK = re.compile(r"\b127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b")
BUILD_ALIASES = {"2016": 14393, "2019": 17763, "2022": 20348}


class LabFileError(ValueError):
    pass


def read_lab_file(path: str | Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C safe loader: big generated labs parse fast
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(data, dict):
        raise LabFileError(f"{path}: a lab file is a mapping")
    return data


def lab_networks(spec: dict[str, Any]) -> list[str]:
    """The distinct 127.x.y.0/24 networks the lab's hosts and shares use, in order of first appearance."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            for m in _LOOPBACK.finditer(value):
                net = f"127.{m.group(1)}.{m.group(2)}"
                if net not in found:
                    found.append(net)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(spec.get("hosts"))
    walk(spec.get("shares"))
    return found


def relocate(spec: dict[str, Any], target: str) -> dict[str, Any]:
    """Move every 127.a.b.c of the hosts and shares to consecutive /24 networks starting at `target` (127.x.y.0)."""
    base = ipaddress.IPv4Address(target.split("/")[0])
    if not base.is_loopback or int(base) & 0xFF:
        raise LabFileError(f"relocation target {target} must be a 127.x.y.0 network")
    mapping: dict[str, str] = {}
    for index, net in enumerate(lab_networks(spec)):
        moved = ipaddress.IPv4Address(int(base) + (index << 8))
        if not moved.is_loopback:
            raise LabFileError("relocation runs past 127.255.255.0")
        mapping[net] = ".".join(str(moved).split(".")[:3])

    def sub(text: str) -> str:
        return _LOOPBACK.sub(
            lambda m: (
                f"{mapping.get(f'127.{m.group(1)}.{m.group(2)}', '127.' + m.group(1) + '.' + m.group(2))}.{m.group(3)}"
            ),
            text,
        )

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return sub(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = dict(spec)
    out["hosts"] = walk(spec.get("hosts") or [])
    out["shares"] = walk(spec.get("shares") or [])
    return out


@dataclass
class HostBuild:
    state: HostState
    winrm: WinRMConfig
    users: dict[str, str]
    spec: dict[str, Any] = field(default_factory=dict)


class LabBuilder:
    """Turns a lab spec into host states, generating every certificate it names from the lab CA (once per id)."""

    def __init__(self, spec: dict[str, Any], ca: LabCA, base_dir: Path) -> None:
        self.spec = spec
        self.ca = ca
        self.base_dir = base_dir
        self.domain = str((spec.get("lab") or {}).get("domain") or "lab.test")
        self.cert_specs: dict[str, dict[str, Any]] = dict(spec.get("certificates") or {})
        self._materials: dict[str, Material] = {}
        self._key_groups: dict[str, Any] = {}

    # -- certificates ---------------------------------------------------------------------------------------------

    def material(self, cert_id: str) -> Material:
        if cert_id == "lab-root":
            return self.ca.root
        if cert_id == "lab-issuing":
            return self.ca.issuing
        if cert_id in self._materials:
            return self._materials[cert_id]
        spec = self.cert_specs.get(cert_id)
        if spec is None:
            raise LabFileError(f"certificate '{cert_id}' is not defined under certificates:")
        if "pem" in spec or "pfx" in spec:
            material = load_given_material(spec, self.base_dir)
            material.friendly_name = str(spec.get("friendly_name") or "")
        else:
            import datetime as dt

            now = dt.datetime.now(dt.UTC)
            subject = str(spec.get("subject") or cert_id)
            common_name = subject[3:] if subject.upper().startswith("CN=") else subject
            key_type = str(spec.get("key") or "rsa2048")
            key = None
            group = spec.get("key_group")
            if group:
                # Certificates of one key group share a key (renewals often do; large generated labs need it).
                key = self._key_groups.get(str(group))
                if key is None:
                    key = self._key_groups[str(group)] = new_key(key_type)
            material = self.ca.issue(
                common_name=common_name,
                dns_names=[str(d) for d in spec.get("dns") or [common_name]],
                ip_addresses=[str(i) for i in spec.get("ips") or []],
                key=key,
                key_type=key_type,
                not_before=when(spec["not_before"], now) if "not_before" in spec else None,
                not_after=when(spec["not_after"], now) if "not_after" in spec else None,
                self_signed=str(spec.get("issuer") or "lab") == "self",
                friendly_name=str(spec.get("friendly_name") or ""),
                organization=spec.get("organization"),
            )
        self._materials[cert_id] = material
        return material

    def materials(self) -> dict[str, Material]:
        return dict(self._materials)

    # -- hosts ----------------------------------------------------------------------------------------------------

    def build(self, host: dict[str, Any]) -> HostBuild:
        name = str(host["name"])
        fqdn = str(host.get("fqdn") or f"{name.lower()}.{self.domain}")
        build = host.get("build", 20348)
        build = BUILD_ALIASES.get(str(build), build)
        address = str(host["address"])
        addresses = [address] + [str(a) for a in host.get("addresses") or [] if str(a) != address]
        state = HostState(
            name=name,
            fqdn=fqdn,
            build=int(build),
            edition=str(host.get("edition") or "Datacenter"),
            ccs=host.get("ccs"),
            addresses=addresses,
            ipv6_addresses=[str(ipaddress.IPv6Address(a)) for a in host.get("ipv6") or []],
        )
        state.stores["Root"][thumbprint_of(self.ca.root.der)] = StoredCertificate(
            thumbprint_of(self.ca.root.der), self.ca.root.der, "Lab Root CA"
        )
        state.stores["CA"][thumbprint_of(self.ca.issuing.der)] = StoredCertificate(
            thumbprint_of(self.ca.issuing.der), self.ca.issuing.der, "Lab Issuing CA"
        )
        for store, refs in (host.get("stores") or {}).items():
            for ref in refs or []:
                self._add_to_store(state, str(store), ref)
        for site_spec in host.get("sites") or []:
            state.sites.append(self._site(state, site_spec))
        self._derive_http_sys(state)
        for override in host.get("http_sys") or []:
            self._http_sys_override(state, override)
        for folder in host.get("folders") or []:
            state.files.add_folder(str(folder))
        for file_spec in host.get("files") or []:
            self._file(state.files, file_spec)
        for script in host.get("scripts") or []:
            spec = ScriptSpec.from_dict(script)
            state.scripts[norm_path(spec.path)] = spec
            state.files.write(spec.path, str(script.get("body") or "# pre/post script\r\n").encode())
        start_sites_in_order(state)
        users = {str(u["name"]): str(u["password"]) for u in host.get("users") or []}
        return HostBuild(state=state, winrm=self._winrm(host, state, users), users=users, spec=host)

    def _winrm(self, host: dict[str, Any], state: HostState, users: dict[str, str]) -> WinRMConfig:
        cfg = host.get("winrm") or {}
        material = self.ca.issue(
            common_name=state.fqdn,
            dns_names=[state.fqdn, state.name.lower(), "localhost"],
            ip_addresses=list(state.addresses),
            key_type="ec256",
            friendly_name="WinRM HTTPS listener",
        )
        assert material.key is not None
        cert_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [material.cert, *material.chain])
        key_pem = material.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        auth = tuple(str(a).lower() for a in cfg.get("auth") or ("negotiate", "ntlm"))
        return WinRMConfig(
            address=state.addresses[0],
            http_port=cfg.get("http_port", 5985),
            https_port=cfg.get("https_port", 5986),
            https_cert_pem=cert_chain,
            https_key_pem=key_pem,
            users=dict(users),
            auth_methods=auth,  # type: ignore[arg-type]
            allow_unencrypted=bool(cfg.get("allow_unencrypted", False)),
            cbt=str(cfg.get("cbt") or "relaxed"),  # type: ignore[arg-type]
        )

    def _add_to_store(self, state: HostState, store: str, ref: Any) -> StoredCertificate:
        spec = {"certificate": ref} if isinstance(ref, str) else dict(ref)
        cert_id = str(spec["certificate"])
        material = self.material(cert_id)
        der = material.der
        thumb = thumbprint_of(der)
        key_id = None
        provider = None
        if material.key is not None and spec.get("private_key", True):
            group = (self.cert_specs.get(cert_id) or {}).get("key_group")
            key_id = f"lab-group-{group}" if group else f"lab-{cert_id}"
            if key_id not in state.keys:
                state.keys[key_id] = key_der(material.key)
            is_ec = "EllipticCurve" in type(material.key).__name__
            provider = str(spec.get("provider") or (CNG_PROVIDER if is_ec else CAPI_RSA_PROVIDER))
        entry = StoredCertificate(
            thumbprint=thumb,
            der=der,
            friendly_name=str(spec.get("friendly_name") or material.friendly_name or ""),
            key_id=key_id,
            key_provider=provider,
        )
        state.stores.setdefault(store, {})[thumb] = entry
        for chain_cert in material.chain:
            chain_der = chain_cert.public_bytes(serialization.Encoding.DER)
            if chain_cert.issuer != chain_cert.subject:
                state.stores["CA"].setdefault(
                    thumbprint_of(chain_der), StoredCertificate(thumbprint_of(chain_der), chain_der)
                )
        return entry

    def _binding(self, state: HostState, raw: Any) -> Binding:
        if isinstance(raw, str):
            protocol, _, info = raw.strip().partition(" ")
            return Binding(protocol=protocol.lower(), binding_information=info.strip())
        protocol = str(raw.get("protocol") or "https").lower()
        info = str(raw["info"])
        binding = Binding(protocol=protocol, binding_information=info, ssl_flags=int(raw.get("ssl_flags") or 0))
        if raw.get("attributes"):
            binding.attributes = {str(k): str(v) for k, v in raw["attributes"].items()}
        cert_id = raw.get("certificate")
        if cert_id:
            store = str(raw.get("store") or "My")
            thumb = thumbprint_of(self.material(str(cert_id)).der)
            if state.find_certificate(store, thumb) is None:
                self._add_to_store(state, store, str(cert_id))
            binding.certificate_hash = thumb
            binding.certificate_store = store
        return binding

    def _site(self, state: HostState, spec: dict[str, Any]) -> Site:
        site = Site(
            id=int(spec["id"]),
            name=str(spec["name"]),
            state="Stopped" if str(spec.get("state") or "started").lower() == "stopped" else "Started",
            physical_path=str(spec.get("path") or f"C:\\inetpub\\sites\\{spec['name']}"),
            app_pool=str(spec.get("app_pool") or spec["name"]),
        )
        site.bindings = [self._binding(state, b) for b in spec.get("bindings") or []]
        ftp = spec.get("ftp")
        if ftp is not None:
            site.ftp_ssl = FtpSsl(
                control_channel_policy=str(ftp.get("control_channel_policy") or "SslAllow"),
                data_channel_policy=str(ftp.get("data_channel_policy") or "SslAllow"),
            )
            if ftp.get("certificate"):
                store = str(ftp.get("store") or "My")
                thumb = thumbprint_of(self.material(str(ftp["certificate"])).der)
                if state.find_certificate(store, thumb) is None:
                    self._add_to_store(state, store, str(ftp["certificate"]))
                site.ftp_ssl.certificate_hash = thumb
                site.ftp_ssl.certificate_store = store
        state.files.add_folder(site.physical_path)
        for item in spec.get("content") or []:
            self._file(state.files, {**item, "path": site.physical_path.rstrip("\\") + "\\" + str(item["name"])})
        return site

    def _derive_http_sys(self, state: HostState) -> None:
        """The HTTP.sys entries IIS created when these https bindings were made (sites in id order)."""
        for site in sorted(state.sites, key=lambda s: s.id):
            for b in site.bindings:
                if b.protocol != "https":
                    continue
                info = parse_binding_information(b.binding_information)
                kind, endpoint = httpsys_endpoint(info, b.ssl_flags)
                if kind == "ccs":
                    state.add_http_sys(HttpSysEntry("ccs", endpoint, None, None, IIS_APP_ID))
                elif b.certificate_hash:
                    state.add_http_sys(
                        HttpSysEntry(kind, endpoint, b.certificate_hash, b.certificate_store, IIS_APP_ID)
                    )

    def _http_sys_override(self, state: HostState, spec: dict[str, Any]) -> None:
        kind = str(spec["kind"])
        endpoint = str(spec["endpoint"])
        if spec.get("absent"):
            state.http_sys.pop((kind, endpoint.lower()), None)
            return
        thumb = thumbprint_of(self.material(str(spec["certificate"])).der) if spec.get("certificate") else None
        state.add_http_sys(
            HttpSysEntry(
                kind,
                endpoint,
                thumb,
                str(spec.get("store") or "My") if thumb else None,
                str(spec.get("app_id") or IIS_APP_ID),
            )
        )

    def _file(self, tree: Any, spec: dict[str, Any]) -> None:
        path = str(spec["path"])
        if "pfx" in spec:
            pfx = spec["pfx"]
            material = self.material(str(pfx["certificate"]))
            password = pfx.get("password")
            encryption = str(pfx.get("encryption") or "legacy")
            rounds = int(pfx.get("kdf_rounds") or 2000)
            if spec.get("lazy"):
                # Serialising thousands of PFX files takes minutes; a generated lab makes each on first read.
                tree.write_lazy(path, lambda: material.pfx(password, encryption, kdf_rounds=rounds))
            else:
                tree.write(path, material.pfx(password, encryption, kdf_rounds=rounds))
        elif "cer" in spec:
            tree.write(path, self.material(str(spec["cer"]["certificate"])).der)
        elif "pem" in spec:
            tree.write(
                path, self.material(str(spec["pem"]["certificate"])).cert.public_bytes(serialization.Encoding.PEM)
            )
        elif "text" in spec:
            tree.write(path, str(spec["text"]).encode("utf-8"))
        elif "base64" in spec:
            import base64

            tree.write(path, base64.b64decode(str(spec["base64"])))
        else:
            raise LabFileError(f"file {path}: give pfx, cer, pem, text or base64")

    def shares(self) -> list[Share]:
        out = []
        for spec in self.spec.get("shares") or []:
            share = Share(unc=str(spec["unc"]), username=str(spec["username"]), password=str(spec["password"]))
            share.files.add_folder(share.unc)
            for folder in spec.get("folders") or []:
                share.files.add_folder(share.unc.rstrip("\\") + "\\" + str(folder))
            for file_spec in spec.get("files") or []:
                rel = str(file_spec["path"]).lstrip("\\")
                self._file(share.files, {**file_spec, "path": share.unc.rstrip("\\") + "\\" + rel})
            out.append(share)
        return out
