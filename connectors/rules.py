"""The rules of an application connector (the reference's Tables 27-29, issue rules 3 and 10): the input a form or
an API request gives, checked field by field into the targets the connector works on. An ApplicationError names
each field that breaks a rule; nothing is saved here (connectors.services does that)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from certificates.choices import KeyLocation
from certificates.models import Certificate, PrivateKey
from clm.api.errors import ApplicationError
from connectors.choices import (
    BindType,
    LocationType,
    PostScriptFailure,
    PushType,
    ScriptLocation,
    StoreChoice,
    TargetKind,
)
from connectors.models import AppConnector
from devices.models import Device
from devices.profiles import Profile, profile_name
from devices.selectors import device_profiles

Errors = dict[str, list[str]]


@dataclass
class NewBinding:
    """A binding to create (Create New Site Binding); `device` None: on every selected device."""

    site: str
    port: int = 443
    ip: str = "*"
    host: str = ""
    sni: bool = False
    device: int | None = None


@dataclass
class BindingChanges:
    """Update Site Binding: the new address, port and host (empty: unchanged) and the sslFlags switches to set or
    clear (None: keep what the binding has)."""

    ip: str = ""
    port: int | None = None
    host: str = ""
    sni: bool | None = None
    disable_http2: bool | None = None
    disable_ocsp_stapling: bool | None = None
    disable_quic: bool | None = None
    disable_tls13: bool | None = None
    disable_legacy_tls: bool | None = None

    def flag_bits(self) -> tuple[int, int]:
        """(bits to set, bits to clear)."""
        switches = {
            1: self.sni,
            4: self.disable_http2,
            8: self.disable_ocsp_stapling,
            16: self.disable_quic,
            32: self.disable_tls13,
            64: self.disable_legacy_tls,
        }
        set_bits = sum(bit for bit, value in switches.items() if value is True)
        clear_bits = sum(bit for bit, value in switches.items() if value is False)
        return set_bits, clear_bits


@dataclass
class ConnectorInput:
    """A connector as a form or an API request gives it (the API.md shape, flattened)."""

    name: str = ""
    description: str = ""
    push_type: str = PushType.PUSH_AND_BIND
    http_sites: bool = False
    devices: list[int] = field(default_factory=list)
    location_type: str = LocationType.CERTIFICATE_STORE
    store: str = StoreChoice.PERSONAL
    file_path: str = ""
    file_password: str | None = None  # None on update: keep the current one
    friendly_name: str = ""
    push_chain: bool = False
    bind_type: str = ""
    profiles: list[str | tuple[int, str]] = field(default_factory=list)
    new_bindings: list[NewBinding] = field(default_factory=list)
    changes: BindingChanges = field(default_factory=BindingChanges)
    script_location: str = ScriptLocation.NONE
    pre_script_name: str = ""
    pre_script_path: str = ""
    pre_script_text: str = ""
    post_script_name: str = ""
    post_script_path: str = ""
    post_script_text: str = ""
    post_script_failure: str = PostScriptFailure.ROLLBACK
    overwrite: bool = False
    push_automatically: bool = False
    secure_push: bool = True
    all_or_nothing: bool = False
    remove_previous: bool = False


SCALAR_FIELDS = (
    "name",
    "description",
    "push_type",
    "http_sites",
    "location_type",
    "store",
    "file_path",
    "friendly_name",
    "push_chain",
    "bind_type",
    "script_location",
    "pre_script_name",
    "pre_script_path",
    "pre_script_text",
    "post_script_name",
    "post_script_path",
    "post_script_text",
    "post_script_failure",
    "overwrite",
    "push_automatically",
    "secure_push",
    "all_or_nothing",
    "remove_previous",
)


def _add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


# --- rules about the certificate ------------------------------------------------------------------------------------


def push_key_problem(certificate: Certificate, location_type: str) -> tuple[str, str] | None:
    """(field, message) when the certificate's key rules out this push (issue rule 3), else None."""
    key = PrivateKey.objects.filter(certificate=certificate).only("location", "pkcs8").first()
    if key is not None and key.location == KeyLocation.ENDPOINT and location_type == LocationType.FILE_SYSTEM:
        return (
            "location",
            "This certificate's private key is held on an endpoint: it cannot be pushed to a centralized file system "
            "(only a certificate whose key the portal holds can be written to a PFX file).",
        )
    if key is None or key.location != KeyLocation.PORTAL or not key.pkcs8:
        where = "nowhere in the portal" if key is None else dict(KeyLocation.choices)[key.location].lower()
        return (
            "certificate",
            f"Only certificates whose private key is held in the portal can be pushed; this one's key is {where}.",
        )
    return None


def _certificate_errors(certificate: Certificate, data: ConnectorInput, errors: Errors) -> None:
    if certificate.is_client and data.push_type == PushType.PUSH_AND_BIND:
        _add(errors, "push_type", "A client certificate is pushed to a store without a binding: use Push Certificate.")
    problem = push_key_problem(certificate, data.location_type)
    if problem is not None:
        _add(errors, problem[0], problem[1])


# --- targets --------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    device: Device
    kind: str
    profile: str
    site: str = ""
    protocol: str = ""
    ip: str = ""
    port: int | None = None
    host: str = ""
    sni: bool = False
    new_ip: str = ""
    new_port: int | None = None
    new_host: str = ""
    ssl_flags_set: int = 0
    ssl_flags_clear: int = 0


def _profile_target(device: Device, profile: Profile, data: ConnectorInput, errors: Errors) -> Target | None:
    if data.bind_type == BindType.CREATE_BINDING:
        if profile.protocol != "http":
            _add(errors, "profiles", f"{profile.name}: Create New Site Binding starts from an http site's profile.")
            return None
        # An https binding for the http site's host name, SNI when there is a host (the usual way to add HTTPS).
        host = profile.host
        return Target(
            device,
            TargetKind.NEW_BINDING,
            profile_name(site=profile.site or "", ip="*", port=443, host=host, protocol="https", sni=bool(host)),
            site=profile.site or "",
            protocol="https",
            ip="*",
            port=443,
            host=host,
            sni=bool(host),
        )
    if profile.protocol != "https":
        _add(errors, "profiles", f"{profile.name}: an http binding has no certificate; use Create New Site Binding.")
        return None
    target = Target(
        device,
        TargetKind.PROFILE,
        profile.name,
        site=profile.site or "",
        protocol="https",
        ip=profile.ip or "*",
        port=profile.port,
        host=profile.host,
        sni=profile.sni,
    )
    if data.bind_type == BindType.UPDATE_BINDING:
        changes = data.changes
        target.new_ip = changes.ip.strip()
        target.new_port = changes.port
        target.new_host = changes.host.strip()
        target.ssl_flags_set, target.ssl_flags_clear = changes.flag_bits()
    return target


def _targets(data: ConnectorInput, devices: list[Device], errors: Errors) -> list[Target]:
    if data.push_type == PushType.PUSH:
        return [Target(d, TargetKind.DEVICE, d.name) for d in devices]
    targets: list[Target] = []
    if data.bind_type in (BindType.UPDATE_CERTIFICATE, BindType.UPDATE_BINDING) or (
        data.bind_type == BindType.CREATE_BINDING and data.profiles
    ):
        if not data.profiles and data.bind_type != BindType.CREATE_BINDING:
            _add(errors, "profiles", "Select at least one profile (site binding) to update.")
        by_device = {d.pk: {p.name: p for p in device_profiles(device=d, http_only=data.http_sites)} for d in devices}
        for entry in data.profiles:
            device_id, name = entry if isinstance(entry, tuple) else (None, entry)
            hits = [
                (d, by_device[d.pk][name])
                for d in devices
                if (device_id is None or d.pk == device_id) and name in by_device[d.pk]
            ]
            if not hits:
                known = "" if any(by_device.values()) else " (no site bindings are known: validate the servers first)"
                _add(errors, "profiles", f"No selected server has the profile {name!r}{known}.")
            for device, profile in hits:
                target = _profile_target(device, profile, data, errors)
                if target is not None:
                    targets.append(target)
    if data.bind_type == BindType.CREATE_BINDING:
        for spec in data.new_bindings:
            _new_binding_targets(spec, devices, targets, errors)
        if not targets and "profiles" not in errors and "bindings" not in errors:
            _add(errors, "bindings", "Give the binding to create (site, port, host) or choose an http site profile.")
    moves = data.changes.ip or data.changes.port or data.changes.host
    if data.bind_type == BindType.UPDATE_BINDING and moves and len({t.device.pk for t in targets}) < len(targets):
        _add(errors, "changes", "A new address, port or host can be given for one binding per server only.")
    return targets


def _new_binding_targets(spec: NewBinding, devices: list[Device], targets: list[Target], errors: Errors) -> None:
    if not spec.site.strip():
        _add(errors, "bindings", "A new binding needs its site.")
        return
    if not 1 <= int(spec.port or 0) <= 65535:
        _add(errors, "bindings", f"Port {spec.port} is not a TCP port (1-65535).")
        return
    ip = spec.ip.strip() or "*"
    if ip != "*":
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            _add(errors, "bindings", f"{ip!r} is not an IP address (or * for all unassigned).")
            return
    host = spec.host.strip().lower()
    if spec.sni and not host:
        _add(errors, "bindings", "SNI needs a host name: give the host, or turn SNI off.")
        return
    chosen = [d for d in devices if spec.device is None or d.pk == spec.device]
    if spec.device is not None and not chosen:
        _add(errors, "bindings", f"Server {spec.device} is not among the selected servers.")
    for device in chosen:
        known_sites = {s.get("name", "").lower() for s in device.sites or []}
        if known_sites and spec.site.lower() not in known_sites:
            _add(errors, "bindings", f"{device.name} has no site named {spec.site!r}.")
            continue
        name = profile_name(site=spec.site, ip=ip, port=int(spec.port), host=host, protocol="https", sni=spec.sni)
        targets.append(
            Target(
                device,
                TargetKind.NEW_BINDING,
                name,
                site=spec.site,
                protocol="https",
                ip=ip.strip("[]"),
                port=int(spec.port),
                host=host,
                sni=spec.sni,
            )
        )


def _script_errors(data: ConnectorInput, errors: Errors) -> None:
    if data.script_location == ScriptLocation.NONE:
        return
    if data.script_location not in ScriptLocation.values:
        _add(errors, "script_location", "Choose In portal or In device.")
        return
    if not (data.pre_script_name or data.post_script_name):
        _add(errors, "pre_script_name", "Give a pre-push or a post-push script (or choose no scripts).")
    for phase in ("pre", "post"):
        name = getattr(data, f"{phase}_script_name").strip()
        if not name:
            continue
        if any(c in name for c in '\\/:*?"<>|'):
            _add(errors, f"{phase}_script_name", "A file name only (the path goes in the path field).")
        if data.script_location == ScriptLocation.DEVICE and not getattr(data, f"{phase}_script_path").strip():
            _add(errors, f"{phase}_script_path", "Where the script is on the server, e.g. C:\\scripts.")
        if data.script_location == ScriptLocation.PORTAL and not getattr(data, f"{phase}_script_text").strip():
            _add(errors, f"{phase}_script_text", "The script to run on the server.")


def connector_check(
    *, certificate: Certificate, data: ConnectorInput, instance: AppConnector | None = None
) -> list[Target]:
    """Every rule of Tables 27-29 for this certificate; returns the targets, or raises ApplicationError."""
    errors: Errors = {}
    data.name = data.name.strip()
    if not data.name:
        _add(errors, "name", "Enter a name for this connector.")
    elif (
        AppConnector.objects.filter(certificate=certificate, name__iexact=data.name)
        .exclude(pk=instance.pk if instance else 0)
        .exists()
    ):
        _add(errors, "name", "This certificate already has a connector with this name.")
    if data.push_type not in PushType.values:
        _add(errors, "push_type", "Choose Push Certificate or Push and Bind Certificate.")
    if data.location_type not in LocationType.values:
        _add(errors, "location", "Choose Certificate Store or Centralized file system.")
    if data.store not in StoreChoice.values:
        _add(errors, "store", "Choose the Personal or the Web hosting store.")
    if data.push_type == PushType.PUSH_AND_BIND:
        if data.location_type != LocationType.CERTIFICATE_STORE:
            _add(errors, "location", "Push and Bind Certificate binds from a certificate store, not a file system.")
        if data.bind_type not in BindType.values:
            _add(errors, "bind_type", "Choose a bind type.")
    else:
        data.bind_type = ""
    if data.location_type == LocationType.FILE_SYSTEM:
        path = data.file_path.strip()
        if not path or not (path.startswith("\\\\") or (len(path) > 2 and path[1] == ":")):
            _add(errors, "file_path", "Give a folder (C:\\Certs) or a share (\\\\server\\share).")
        has_password = data.file_password or (instance is not None and instance.file_password)
        if not has_password:
            _add(errors, "file_password", "Give the password the PFX files on the file system use.")
    if data.post_script_failure not in PostScriptFailure.values:
        _add(errors, "post_script_failure", "Choose roll back or warn.")
    _script_errors(data, errors)
    _certificate_errors(certificate, data, errors)
    devices = list(Device.objects.filter(pk__in=data.devices).select_related("gateway").order_by("name"))
    if not data.devices:
        _add(errors, "devices", "Select at least one server.")
    elif len(devices) != len(set(data.devices)):
        _add(errors, "devices", "Some selected servers do not exist.")
    if data.all_or_nothing and len({d.gateway_id for d in devices}) > 1:
        _add(errors, "all_or_nothing", "All or nothing needs every server behind the same gateway.")
    targets = _targets(data, devices, errors) if devices and "push_type" not in errors else []
    if errors:
        raise ApplicationError("The connector has errors.", errors=errors)
    return targets
