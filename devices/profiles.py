"""Profiles: the names under which a device's IIS site bindings are offered to application connectors.

The reference's convention (push and bind):

    MS IIS::<siteName>::<host/IP>:<port>:<hostname (optional)>:CS[:(SNI or protocol)]

- `<host/IP>` is the binding's IP address as IIS keeps it: `*` for all unassigned, an IPv4 address, or an IPv6
  address in brackets (`[2001:db8::1]`), so that the colons of an IPv6 address cannot be confused with separators;
- `<hostname>` is the binding's host header (a wildcard host such as `*.apps.example.test` stays as it is); a binding
  without a host header has no hostname segment at all (`MS IIS::Default Web Site::*:443:CS`);
- `CS` (certificate store) is always present; `:(SNI)` follows for an https binding with the SNI flag and `:(http)`
  for an http binding.

A push without binding ("Push Certificate") offers only the device-name profile: the server name itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

PREFIX = "MS IIS"
BINDABLE_PROTOCOLS = ("http", "https")
SSL_FLAG_SNI = 1


@dataclass(frozen=True)
class Profile:
    """One profile: either a site binding (kind "binding") or the device-name profile (kind "device")."""

    name: str
    kind: str
    site: str | None = None
    site_id: int | None = None
    protocol: str | None = None
    ip: str | None = None
    port: int | None = None
    host: str = ""
    sni: bool = False
    http: bool = False
    certificate_hash: str | None = None
    certificate_store: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_ip(ip: str | None) -> str:
    """`*` for all unassigned; IPv6 addresses in brackets (compressed form); IPv4 as given."""
    text = (ip or "").strip()
    if text in ("", "*", "0.0.0.0"):  # noqa: S104 - an IIS binding value, not a socket bind
        return "*"
    text = text.strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    return f"[{address.compressed}]" if address.version == 6 else str(address)


def profile_name(*, site: str, ip: str | None, port: int, host: str, protocol: str, sni: bool) -> str:
    """The profile name of one site binding (see the module docstring for the convention)."""
    parts = [format_ip(ip), str(port)]
    if host:
        parts.append(host)
    parts.append("CS")
    if protocol == "http":
        parts.append("(http)")
    elif sni:
        parts.append("(SNI)")
    return f"{PREFIX}::{site}::{':'.join(parts)}"


def parse_binding_information(value: str) -> tuple[str, int | None, str]:
    """`ip:port:host` as IIS writes it (`*:443:`, `[2001:db8::1]:443:`, `:80:`) -> (ip, port, host)."""
    text = value.strip()
    if text.startswith("["):
        close = text.find("]")
        ip, rest = text[1:close], text[close + 2 :]
    else:
        ip, _, rest = text.partition(":")
    port_text, _, host = rest.partition(":")
    ip = ip or "*"
    return ip, int(port_text) if port_text.isdigit() else None, host.strip()


def normalize_binding(raw: dict[str, Any]) -> dict[str, Any]:
    """One binding as the portal keeps it, whatever optional keys the device layer sent."""
    protocol = str(raw.get("protocol") or "").lower()
    info = str(raw.get("binding_information") or raw.get("bindingInformation") or "")
    ip, port, host = raw.get("ip"), raw.get("port"), raw.get("host")
    if protocol in ("http", "https", "ftp") and info and (port is None or ip is None):
        ip, port, host = parse_binding_information(info)
    ssl_flags = int(raw.get("ssl_flags") or raw.get("sslFlags") or 0)
    sni = bool(raw.get("sni")) if raw.get("sni") is not None else bool(ssl_flags & SSL_FLAG_SNI)
    return {
        "protocol": protocol,
        "binding_information": info,
        "ip": "*" if ip in (None, "", "0.0.0.0") and protocol in ("http", "https", "ftp") else ip,  # noqa: S104
        "port": int(port) if port is not None else None,
        "host": str(host or ""),
        "ssl_flags": ssl_flags,
        "sni": sni if protocol == "https" else False,
        "certificate_hash": (str(raw.get("certificate_hash") or "").upper() or None),
        "certificate_store": raw.get("certificate_store") or None,
    }


def normalize_sites(raw_sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sites (id order) with normalized bindings, as stored on `Device.sites`."""
    sites = []
    for raw in raw_sites:
        sites.append(
            {
                "id": raw.get("id"),
                "name": str(raw.get("name") or ""),
                "state": str(raw.get("state") or "").lower(),
                "physical_path": str(raw.get("physical_path") or ""),
                "bindings": [normalize_binding(b) for b in raw.get("bindings") or []],
                "ftp_ssl": raw.get("ftp_ssl"),
            }
        )
    return sorted(sites, key=lambda s: (s["id"] is None, s["id"] or 0, s["name"]))


def binding_profiles(sites: list[dict[str, Any]]) -> list[Profile]:
    """The push-and-bind profiles of a device: one per http/https binding of every site, in site and binding order."""
    profiles: list[Profile] = []
    for site in sites:
        for binding in site.get("bindings") or []:
            protocol = binding.get("protocol")
            if protocol not in BINDABLE_PROTOCOLS or binding.get("port") is None:
                continue
            sni = bool(binding.get("sni")) and protocol == "https"
            profiles.append(
                Profile(
                    name=profile_name(
                        site=site["name"],
                        ip=binding.get("ip"),
                        port=int(binding["port"]),
                        host=binding.get("host") or "",
                        protocol=protocol,
                        sni=sni,
                    ),
                    kind="binding",
                    site=site["name"],
                    site_id=site.get("id"),
                    protocol=protocol,
                    ip=format_ip(binding.get("ip")),
                    port=int(binding["port"]),
                    host=binding.get("host") or "",
                    sni=sni,
                    http=protocol == "http",
                    certificate_hash=binding.get("certificate_hash"),
                    certificate_store=binding.get("certificate_store"),
                )
            )
    return profiles


def device_name_profile(device_name: str) -> Profile:
    """The only profile a "Push Certificate" (push without binding) connector offers: the server name."""
    return Profile(name=device_name, kind="device")
