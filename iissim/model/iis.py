"""IIS configuration changes as Microsoft.Web.Administration.ServerManager makes them: edits are made on copies and
`commit()` applies them together with the HTTP.sys ssl bindings that IIS maintains for https bindings.

Windows' behaviour kept here (iis-peers.md §4 and §6):
- an https binding added with a certificate creates or replaces its HTTP.sys entry (ipport for non-SNI, hostnameport
  for SNI, ccs for the Central Certificate Store); for a non-SNI binding that entry is shared by every binding on the
  same ip:port, so its certificate changes for all of them;
- removing an https binding deletes that HTTP.sys entry too, even when other sites still use it (KB 2405568),
  unless the removal is `removeConfigOnly`;
- SNI or CCS without a host name, and sslFlags bits the build does not know, are refused;
- a binding whose ip:port:host duplicates one of another started site makes its site fail to start.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from iissim.model.bindings import (
    HRESULT_ALREADY_EXISTS,
    IIS_APP_ID,
    BindingInfo,
    check_ssl_flags,
    httpsys_endpoint,
    parse_binding_information,
)
from iissim.model.errors import WindowsError
from iissim.model.state import Binding, HostState, HttpSysEntry, Site

WEB_PROTOCOLS = ("http", "https")


def binding_key(binding: Binding) -> tuple[str, int, str] | None:
    """The ip:port:host identity of a web binding (None for ftp, net.tcp, ...)."""
    if binding.protocol.lower() not in WEB_PROTOCOLS:
        return None
    try:
        return parse_binding_information(binding.binding_information).key()
    except WindowsError:
        return None


def binding_endpoint(binding: Binding) -> tuple[str, str] | None:
    """The HTTP.sys entry key an https binding uses, or None."""
    if binding.protocol.lower() != "https":
        return None
    try:
        info = parse_binding_information(binding.binding_information)
    except WindowsError:
        return None
    kind, endpoint = httpsys_endpoint(info, binding.ssl_flags)
    return (kind, endpoint.lower())


def conflicting_binding(sites: list[Site], site: Site, binding: Binding) -> tuple[Site, Binding] | None:
    """Another started site's web binding with the same ip:port:host."""
    key = binding_key(binding)
    if key is None:
        return None
    for other in sites:
        if other.id == site.id or not other.started:
            continue
        for b in other.bindings:
            if binding_key(b) == key:
                return other, b
    return None


def duplicate_message(binding: Binding, other: Site) -> str:
    return f"Binding '{binding.binding_information}' duplicates site '{other.name}': {HRESULT_ALREADY_EXISTS}"


@dataclass
class CommitResult:
    sites_stopped: list[dict[str, str]] = field(default_factory=list)
    http_sys_changed: list[tuple[str, str]] = field(default_factory=list)


class ConfigTransaction:
    """One ServerManager: edit `sites` (copies), then `commit()` once."""

    def __init__(self, state: HostState, step: str = "commit") -> None:
        self.state = state
        self.step = step
        self.sites = copy.deepcopy(state.sites)
        self._http_sys: list[tuple[str, tuple[str, str], HttpSysEntry | None]] = []
        self._added: list[tuple[int, Binding]] = []

    def site(self, name: str) -> Site | None:
        for site in self.sites:
            if site.name.lower() == name.lower():
                return site
        return None

    def remove_binding(self, site: Site, binding: Binding, *, remove_config_only: bool) -> None:
        site.bindings.remove(binding)
        endpoint = binding_endpoint(binding)
        if endpoint is not None and not remove_config_only and (binding.certificate_hash or endpoint[0] == "ccs"):
            self._http_sys.append(("delete", endpoint, None))

    def add_binding(self, site: Site, binding: Binding) -> None:
        if binding.protocol.lower() in WEB_PROTOCOLS:
            info: BindingInfo = parse_binding_information(binding.binding_information)
            if binding.protocol.lower() == "https":
                check_ssl_flags(info, binding.ssl_flags, self.state.build, self.step)
        site.bindings.append(binding)
        self._added.append((site.id, binding))
        endpoint = binding_endpoint(binding)
        if endpoint is None:
            return
        if endpoint[0] == "ccs":
            entry = HttpSysEntry("ccs", endpoint[1], None, None, IIS_APP_ID)
            self._http_sys.append(("set", endpoint, entry))
        elif binding.certificate_hash:
            kind, display = httpsys_endpoint(parse_binding_information(binding.binding_information), binding.ssl_flags)
            entry = HttpSysEntry(kind, display, binding.certificate_hash, binding.certificate_store or "My", IIS_APP_ID)
            self._http_sys.append(("set", endpoint, entry))

    def set_http_sys(self, entry: HttpSysEntry) -> None:
        """`netsh http add/update sslcert` (outside IIS's config, applied at commit with the rest)."""
        self._http_sys.append(("set", entry.key, entry))

    def delete_http_sys(self, key: tuple[str, str]) -> None:
        self._http_sys.append(("delete", (key[0], key[1].lower()), None))

    def commit(self) -> CommitResult:
        result = CommitResult()
        self.state.sites = self.sites
        for action, key, entry in self._http_sys:
            if action == "delete":
                if self.state.http_sys.pop(key, None) is not None:
                    result.http_sys_changed.append(key)
            elif entry is not None:
                self.state.http_sys[key] = entry
                result.http_sys_changed.append(key)
        # The site that registers a duplicate ip:port:host second cannot start (HTTP.sys refuses the URL).
        for site_id, binding in self._added:
            site = next((s for s in self.sites if s.id == site_id), None)
            if site is None or not site.started or binding not in site.bindings:
                continue
            clash = conflicting_binding(self.sites, site, binding)
            if clash is not None:
                site.state = "Stopped"
                site.start_error = duplicate_message(binding, clash[0])
                result.sites_stopped.append({"site": site.name, "reason": site.start_error})
        return result


def start_site(state: HostState, site: Site) -> None:
    """Start a site as IIS does: refused when one of its bindings is already registered by a started site."""
    for binding in site.bindings:
        clash = conflicting_binding(state.sites, site, binding)
        if clash is not None:
            site.state = "Stopped"
            site.start_error = duplicate_message(binding, clash[0])
            raise WindowsError("site_start_failed", f"Cannot start site '{site.name}'. {site.start_error}", "start")
    site.state = "Started"
    site.start_error = None


def start_sites_in_order(state: HostState) -> list[str]:
    """At service start sites come up in id order; a later site with a duplicate binding stays stopped."""
    stopped: list[str] = []
    wanted = [s for s in sorted(state.sites, key=lambda s: s.id) if s.started]
    for site in wanted:
        site.state = "Stopped"
    for site in wanted:
        try:
            start_site(state, site)
        except WindowsError:
            stopped.append(site.name)
    return stopped
