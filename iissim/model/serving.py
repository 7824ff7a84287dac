"""What HTTP.sys serves: which endpoints listen, and which certificate a TLS handshake gets.

Listening: every http/https binding of a *started* site registers its endpoint; `*` means every IPv4 address of the
host. Certificate choice for a handshake on (local ip, port) with SNI name N, as HTTP.sys does it: the hostnameport
entry `N:port` (or the wildcard `*.parent:port`), else the Central Certificate Store (`N.pfx`, then `_.parent.pfx`)
when a ccs entry exists for the port, else the ipport entry for the exact address, else the wildcard ipport
(`0.0.0.0:port` / `[::]:port`). An entry whose certificate is missing from its store, or has no private key, fails
the handshake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from iissim.model.bindings import parse_binding_information
from iissim.model.errors import WindowsError
from iissim.model.pfx import load_pfx
from iissim.model.state import HostState, StoredCertificate, thumbprint_of


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # http | https
    ip: str  # the model's address (IPv4, or IPv6 without brackets)
    port: int

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.ip


@dataclass
class ServedMaterial:
    """A certificate as served: leaf and chain DER, and the PKCS#8 DER of its key."""

    leaf_der: bytes
    key_der: bytes
    chain_der: list[bytes] = field(default_factory=list)
    source: str = ""  # "hostnameport www.x.com:443", "ipport 0.0.0.0:443", "ccs www.x.com.pfx"

    @property
    def thumbprint(self) -> str:
        return thumbprint_of(self.leaf_der)

    @property
    def cache_key(self) -> str:
        return hashlib.sha256(self.leaf_der + self.key_der).hexdigest()


def listening_endpoints(state: HostState) -> dict[Endpoint, list[str]]:
    """Endpoints HTTP.sys listens on for this host, with the sites registered on each."""
    out: dict[Endpoint, list[str]] = {}
    for site in state.sites:
        if not site.started:
            continue
        for binding in site.bindings:
            scheme = binding.protocol.lower()
            if scheme not in ("http", "https"):
                continue
            try:
                info = parse_binding_information(binding.binding_information)
            except WindowsError:
                continue
            if info.ip == "*":
                ips = list(state.addresses)
            elif info.is_ipv6:
                ips = list(state.ipv6_addresses) if info.ip == "::" else [info.ip]
            else:
                ips = [info.ip] if info.ip in state.addresses else []
            for ip in ips:
                out.setdefault(Endpoint(scheme, ip, info.port), []).append(site.name)
    return out


def _chain_for(state: HostState, leaf: x509.Certificate) -> list[bytes]:
    """Intermediates from the CA store, issuer by issuer (self-signed roots are not sent)."""
    chain: list[bytes] = []
    current = leaf
    for _ in range(5):
        if current.issuer == current.subject:
            break
        issuer = next(
            (c for c in state.stores.get("CA", {}).values() if c.certificate.subject == current.issuer),
            None,
        )
        if issuer is None or issuer.certificate.issuer == issuer.certificate.subject:
            break
        chain.append(issuer.der)
        current = issuer.certificate
    return chain


def _material_from_store(state: HostState, cert: StoredCertificate | None, source: str) -> ServedMaterial | None:
    if cert is None or not state.has_private_key(cert) or cert.key_id is None:
        return None
    return ServedMaterial(
        leaf_der=cert.der,
        key_der=state.keys[cert.key_id],
        chain_der=_chain_for(state, cert.certificate),
        source=source,
    )


def _ccs_material(state: HostState, sni: str, read_file: object) -> ServedMaterial | None:
    ccs = state.ccs or {}
    folder = str(ccs.get("path") or "")
    if not folder or not callable(read_file):
        return None
    names = [sni]
    if "." in sni:
        names.append("_." + sni.split(".", 1)[1])
    for name in names:
        content = read_file(folder.rstrip("\\") + "\\" + name + ".pfx")
        if content is None:
            continue
        try:
            loaded = load_pfx(content, ccs.get("password"))
        except ValueError:
            return None
        if loaded.key is None:
            return None
        return ServedMaterial(
            leaf_der=loaded.leaf.public_bytes(serialization.Encoding.DER),
            key_der=loaded.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            chain_der=[c.public_bytes(serialization.Encoding.DER) for c in loaded.chain if c.issuer != c.subject],
            source=f"ccs {name}.pfx",
        )
    return None


def select_certificate(
    state: HostState, local_ip: str, port: int, sni: str | None, read_file: object = None
) -> ServedMaterial | None:
    """The certificate HTTP.sys presents on (local_ip, port) for SNI name `sni` (None when the client sent none)."""
    if sni:
        name = sni.lower()
        entry = state.http_sys.get(("hostnameport", f"{name}:{port}"))
        if entry is None and "." in name:
            # IIS 10's wildcard host bindings: `*.example.com:443` covers exactly one more label.
            entry = state.http_sys.get(("hostnameport", f"*.{name.split('.', 1)[1]}:{port}"))
        if entry is not None:
            return _material_from_store(
                state,
                state.find_certificate(entry.certificate_store, entry.certificate_hash),
                f"hostnameport {entry.endpoint}",
            )
        if ("ccs", str(port)) in state.http_sys:
            material = _ccs_material(state, sni.lower(), read_file)
            if material is not None:
                return material
    ipv6 = ":" in local_ip
    exact = f"[{local_ip}]:{port}" if ipv6 else f"{local_ip}:{port}"
    wildcard = f"[::]:{port}" if ipv6 else f"0.0.0.0:{port}"
    for endpoint in (exact, wildcard):
        entry = state.http_sys.get(("ipport", endpoint.lower()))
        if entry is not None:
            return _material_from_store(
                state,
                state.find_certificate(entry.certificate_store, entry.certificate_hash),
                f"ipport {entry.endpoint}",
            )
    return None
