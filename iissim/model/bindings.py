"""IIS `bindingInformation` strings, sslFlags bits per Windows build, and the HTTP.sys endpoint a binding uses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from iissim.model.errors import WindowsError

SSL_SNI = 1
SSL_CCS = 2
SSL_DISABLE_HTTP2 = 4
SSL_DISABLE_OCSP_STAPLING = 8
SSL_DISABLE_QUIC = 16
SSL_DISABLE_TLS13_TCP = 32
SSL_DISABLE_LEGACY_TLS = 64

BUILD_2016 = 14393
BUILD_2019 = 17763
BUILD_2022 = 20348

# IIS's own application id for the HTTP.sys ssl bindings it creates.
IIS_APP_ID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"

HRESULT_INVALID_INDEX = "Invalid index. (Exception from HRESULT: 0x80070585)"
HRESULT_INVALID_PARAMETER = "The parameter is incorrect. (Exception from HRESULT: 0x80070057)"
HRESULT_INVALID_IP = "Invalid IP address. (Exception from HRESULT: 0x80072550)"
HRESULT_ALREADY_EXISTS = "Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)"


def valid_ssl_flags_mask(build: int) -> int:
    """The sslFlags bits IIS accepts on a build: 0-3 everywhere, HTTP/2 and OCSP from 1809, QUIC/TLS from 2022."""
    mask = SSL_SNI | SSL_CCS
    if build >= BUILD_2019:
        mask |= SSL_DISABLE_HTTP2 | SSL_DISABLE_OCSP_STAPLING
    if build >= BUILD_2022:
        mask |= SSL_DISABLE_QUIC | SSL_DISABLE_TLS13_TCP | SSL_DISABLE_LEGACY_TLS
    return mask


@dataclass(frozen=True)
class BindingInfo:
    """A parsed `bindingInformation`: ip ("*" for all unassigned, or an address; IPv6 without brackets), port, host."""

    ip: str
    port: int
    host: str

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.ip

    def format(self) -> str:
        ip = f"[{self.ip}]" if self.is_ipv6 else self.ip
        return f"{ip}:{self.port}:{self.host}"

    def key(self) -> tuple[str, int, str]:
        """What makes two bindings the same endpoint for IIS: ip, port and host (host case-insensitive)."""
        return (self.ip.lower(), self.port, self.host.lower())


def parse_binding_information(value: str) -> BindingInfo:
    """Parse `ip:port:host`, `[v6]:port:host`, `*:443:`, or `:443:` (normalised to `*`), as IIS accepts them."""
    text = value.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise WindowsError("invalid_binding", f"'{value}': {HRESULT_INVALID_IP}", "validate")
        ip_text = text[1:close]
        rest = text[close + 2 :]
        try:
            ip = str(ipaddress.IPv6Address(ip_text))
        except ValueError as exc:
            raise WindowsError("invalid_binding", f"'{value}': {HRESULT_INVALID_IP}", "validate") from exc
    else:
        parts = text.split(":", 1)
        if len(parts) != 2:
            raise WindowsError("invalid_binding", f"'{value}': {HRESULT_INVALID_PARAMETER}", "validate")
        ip_text, rest = parts
        if ip_text in ("", "*"):
            ip = "*"
        else:
            try:
                ip = str(ipaddress.IPv4Address(ip_text))
            except ValueError as exc:
                # An unbracketed IPv6 address lands here too, which is the error Windows gives (win-acme #1532).
                raise WindowsError("invalid_binding", f"'{value}': {HRESULT_INVALID_IP}", "validate") from exc
    port_text, sep, host = rest.partition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise WindowsError("invalid_binding", f"'{value}': {HRESULT_INVALID_PARAMETER}", "validate")
    return BindingInfo(ip=ip, port=int(port_text), host=host.strip())


def parse_net_tcp(value: str) -> tuple[int | None, str]:
    """net.tcp bindings look like `808:*`."""
    port, _, host = value.partition(":")
    return (int(port) if port.isdigit() else None, host)


def httpsys_endpoint(info: BindingInfo, ssl_flags: int) -> tuple[str, str]:
    """The HTTP.sys ssl binding of an https binding: hostnameport `host:port`, ipport `ip:port`, or ccs `port`."""
    if ssl_flags & SSL_CCS:
        return ("ccs", str(info.port))
    if ssl_flags & SSL_SNI:
        return ("hostnameport", f"{info.host.lower()}:{info.port}")
    if info.ip == "*":
        return ("ipport", f"0.0.0.0:{info.port}")
    if info.is_ipv6:
        return ("ipport", f"[{info.ip}]:{info.port}")
    return ("ipport", f"{info.ip}:{info.port}")


def check_ssl_flags(info: BindingInfo, ssl_flags: int, build: int, step: str) -> None:
    """Windows' refusals for sslFlags: unknown bits on this build, SNI or CCS without a host name."""
    if ssl_flags < 0 or ssl_flags & ~valid_ssl_flags_mask(build):
        raise WindowsError(
            "invalid_ssl_flags",
            f"sslFlags {ssl_flags} is not valid on build {build} (valid mask {valid_ssl_flags_mask(build)}): "
            f"{HRESULT_INVALID_INDEX}",
            step,
        )
    if ssl_flags & SSL_SNI and not info.host:
        raise WindowsError(
            "sni_requires_host",
            f"The SNI flag needs a host name on binding '{info.format()}': {HRESULT_INVALID_PARAMETER}",
            step,
        )
    if ssl_flags & SSL_CCS and not info.host:
        raise WindowsError(
            "ccs_requires_host",
            f"The Central Certificate Store flag needs a host name on binding '{info.format()}': "
            f"{HRESULT_INVALID_PARAMETER}",
            step,
        )
