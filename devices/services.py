"""State changes of gateways and devices: create, change, delete (onboarding), each validated field by field.

The browser form, the API and the CSV import all build a `DeviceInput` / `GatewayInput` and call these services, so
they share one set of rules. Field errors are raised as a `ValidationError` keyed by `DeviceInput` field names (the
new-gateway fields of a device prefixed `new_gateway_`). Secrets are write-only: None or "" keeps the current value.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.exceptions import ValidationError
from django.db import transaction

from clm.api.errors import Conflict
from clm.audit import audit_record
from devices.choices import (
    CertSync,
    CredentialType,
    DeviceStatus,
    FolderCredentialMode,
    FolderCredentialType,
    GatewayLocation,
    GatewayMode,
    GatewayType,
    WinrmAuth,
    WinrmScheme,
)
from devices.models import INTEGRATED_GATEWAY_NAME, Device, Gateway
from vaults.choices import VaultProvider
from vaults.models import Credential, PasswordVault
from vaults.services import vault_not_available_message

Errors = dict[str, list[str]]

GATEWAY_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
HOSTNAME_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
LOCAL_PATH_RE = re.compile(r"^[A-Za-z]:\\")
UNC_PATH_RE = re.compile(r"^\\\\[^\\/:*?\"<>|]+\\[^\\/:*?\"<>|]+(\\.*)?$")
BAD_PATH_CHARS = set('*?"<>|;\n\r\t')
MAX_CLIENT_CERTIFICATE_BYTES = 64 * 1024


# -- gateways --------------------------------------------------------------------------------------------------------


@dataclass
class GatewayInput:
    """What a user gives for an external gateway (reference Table 3) plus the optional gateway credential."""

    name: str = ""
    gateway_type: str = GatewayType.POWERSHELL
    location: str = GatewayLocation.REMOTE
    fqdn: str = ""
    port: int | None = None
    url: str = ""
    client_certificate: bytes | None = None  # PFX; None keeps the current one
    client_certificate_password: str | None = None
    username: str = ""
    password: str | None = None  # None or "" keeps the current one
    clear_client_certificate: bool = False


@dataclass(frozen=True)
class ClientCertificateInfo:
    subject: str
    thumbprint: str
    not_after: Any


def client_certificate_parse(data: bytes, password: str | None) -> ClientCertificateInfo:
    """Open a PFX with its password; ValueError with a readable reason when that fails."""
    if len(data) > MAX_CLIENT_CERTIFICATE_BYTES:
        raise ValueError("The file is too large for a client certificate (at most 64 KB).")
    try:
        _, cert, _ = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError as exc:
        raise ValueError("The file is not a PFX/P12 this password opens.") from exc
    if cert is None:
        raise ValueError("The PFX holds no certificate.")
    return ClientCertificateInfo(
        subject=cert.subject.rfc4514_string()[:500],
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Windows thumbprint, not security
        not_after=cert.not_valid_after_utc,
    )


def gateway_integrated() -> Gateway:
    """The one integrated gateway (created by a migration; re-created if someone removed it from the database)."""
    gateway, _ = Gateway.objects.get_or_create(
        name=INTEGRATED_GATEWAY_NAME,
        defaults={
            "mode": GatewayMode.INTEGRATED,
            "gateway_type": GatewayType.POWERSHELL,
            "location": GatewayLocation.REMOTE,
        },
    )
    return gateway


def _gateway_errors(data: GatewayInput, instance: Gateway | None) -> Errors:
    errors: Errors = {}
    name = data.name
    if not name:
        errors["name"] = ["Enter a name for the Windows gateway."]
    elif name == INTEGRATED_GATEWAY_NAME:
        errors["name"] = [f"{INTEGRATED_GATEWAY_NAME!r} is reserved for the integrated gateway."]
    elif not GATEWAY_NAME_RE.match(name):
        errors["name"] = ["Use lower-case letters, digits and hyphens (at most 63); it names the queue gw.<name>."]
    else:
        clash = Gateway.objects.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = [f"A gateway named {name!r} already exists; choose it under Select gateway = Existing."]
    if data.gateway_type not in GatewayType.values:
        errors["gateway_type"] = ["Choose PowerShell or WMI."]
    if data.location not in GatewayLocation.values:
        errors["location"] = ["Choose Remote or LocalSystem."]
    if data.location == GatewayLocation.LOCAL_SYSTEM:
        if not data.fqdn:
            errors["fqdn"] = ["Enter the FQDN of the system the gateway runs on."]
        elif not _valid_host(data.fqdn):
            errors["fqdn"] = ["Enter a host name (FQDN) or an IP address."]
        if data.port is None:
            errors["port"] = ["Enter the port of the gateway on that system."]
        elif not 0 < data.port < 65536:
            errors["port"] = ["Enter a port between 1 and 65535."]
    if not data.url:
        errors["url"] = ["Enter the URL of the Windows gateway endpoint."]
    elif not re.match(r"^https?://[^\s/]+", data.url):
        errors["url"] = ["Enter an http:// or https:// URL."]
    if data.client_certificate:
        try:
            client_certificate_parse(data.client_certificate, data.client_certificate_password)
        except ValueError as exc:
            errors["client_certificate"] = [str(exc)]
    if data.password and not data.username:
        errors["username"] = ["Enter the user name of the gateway credential."]
    if data.username and not data.password and not (instance is not None and instance.password):
        errors["password"] = ["Enter the password of the gateway credential."]
    return errors


def _gateway_normalize(data: GatewayInput) -> GatewayInput:
    data.name = (data.name or "").strip().lower()
    data.fqdn = (data.fqdn or "").strip()
    data.url = (data.url or "").strip()
    data.username = (data.username or "").strip()
    if data.location != GatewayLocation.LOCAL_SYSTEM:
        data.fqdn, data.port = "", None
    return data


def _gateway_apply(gateway: Gateway, data: GatewayInput) -> None:
    gateway.name = data.name
    gateway.gateway_type = data.gateway_type
    gateway.location = data.location
    gateway.fqdn = data.fqdn
    gateway.port = data.port
    gateway.url = data.url
    gateway.username = data.username
    if data.password:
        gateway.password = data.password
    if not data.username:
        gateway.password = None
    if data.clear_client_certificate and not data.client_certificate:
        gateway.client_certificate = None
        gateway.client_certificate_password = None
        gateway.client_certificate_subject = gateway.client_certificate_thumbprint = ""
        gateway.client_certificate_not_after = None
    if data.client_certificate:
        info = client_certificate_parse(data.client_certificate, data.client_certificate_password)
        # An encrypted binary column is a TextField underneath; its stub type is str.
        gateway.client_certificate = data.client_certificate
        gateway.client_certificate_password = data.client_certificate_password or None
        gateway.client_certificate_subject = info.subject
        gateway.client_certificate_thumbprint = info.thumbprint
        gateway.client_certificate_not_after = info.not_after


def gateway_check(*, data: GatewayInput, instance: Gateway | None = None) -> GatewayInput:
    """Normalize and validate a gateway input; ValidationError keyed by GatewayInput field names."""
    data = _gateway_normalize(data)
    errors = _gateway_errors(data, instance)
    if errors:
        raise ValidationError(errors)
    return data


@transaction.atomic
def gateway_create(*, data: GatewayInput, user: Any = None) -> Gateway:
    """Add an external gateway (nothing -> stored). Its devices' jobs go to queue gw.<name>."""
    data = gateway_check(data=data)
    gateway = Gateway(mode=GatewayMode.EXTERNAL, created_by=user if getattr(user, "is_authenticated", False) else None)
    _gateway_apply(gateway, data)
    gateway.save()
    audit_record(actor=user, action="gateway.create", summary=f"Added Windows gateway {gateway.name!r}", obj=gateway)
    return gateway


@transaction.atomic
def gateway_update(*, gateway: Gateway, data: GatewayInput, user: Any = None) -> Gateway:
    """Change an external gateway (stored -> stored). The integrated gateway only takes a gateway credential; an
    external gateway with devices keeps its name (the name is its queue, and a worker consumes it)."""
    gateway = Gateway.objects.select_for_update().get(pk=gateway.pk)
    if gateway.is_integrated:
        data.username = (data.username or "").strip()
        errors: Errors = {}
        if data.password and not data.username:
            errors["username"] = ["Enter the user name of the gateway credential."]
        if data.username and not data.password and not gateway.password:
            errors["password"] = ["Enter the password of the gateway credential."]
        if errors:
            raise ValidationError(errors)
        gateway.username = data.username
        if data.password:
            gateway.password = data.password
        if not data.username:
            gateway.password = None
        gateway.save()
    else:
        data = gateway_check(data=data, instance=gateway)
        if data.name != gateway.name and gateway.devices.exists():
            raise ValidationError(
                {"name": ["A gateway with devices keeps its name (its worker consumes the queue of that name)."]}
            )
        _gateway_apply(gateway, data)
        gateway.save()
    audit_record(actor=user, action="gateway.update", summary=f"Changed Windows gateway {gateway.name!r}", obj=gateway)
    return gateway


@transaction.atomic
def gateway_delete(*, gateway: Gateway, user: Any = None) -> None:
    """Remove an external gateway; refused (409) for the integrated one and while devices use it."""
    if gateway.is_integrated:
        raise Conflict("The integrated gateway cannot be deleted.")
    names = sorted(gateway.devices.values_list("name", flat=True))
    if names:
        raise Conflict(
            f"Gateway {gateway.name!r} is used by {len(names)} device(s): {', '.join(names[:5])}. "
            "Move or delete those devices first."
        )
    audit_record(actor=user, action="gateway.delete", summary=f"Deleted Windows gateway {gateway.name!r}", obj=gateway)
    gateway.delete()


# -- devices ---------------------------------------------------------------------------------------------------------


@dataclass
class DeviceInput:
    """Everything the onboarding form (reference Tables 1-5) and the API give for a device, as flat fields.

    `credential`, `gateway`, `password_vault` and `folder_credential` take an instance or an id. With
    gateway_mode=external and gateway_select=new, `new_gateway` describes the gateway to create with the device.
    """

    name: str = ""
    hostname: str = ""
    data_center: str = ""
    cert_sync: str = CertSync.MANAGED
    credential_type: str = CredentialType.MANUAL
    username: str = ""
    password: str | None = None
    credential: Credential | int | str | None = None
    vault_provider: str = ""
    vault_path: str = ""
    vault_key: str = ""
    gateway_mode: str = GatewayMode.INTEGRATED
    gateway_select: str = "existing"
    gateway: Gateway | int | str | None = None
    new_gateway: GatewayInput | None = None
    winrm_scheme: str = WinrmScheme.HTTPS
    winrm_port: int | None = None
    winrm_auth: str = WinrmAuth.NEGOTIATE
    verify_tls: bool = True
    ca_bundle: str = ""
    allow_basic_over_http: bool = False
    file_system_path: str = ""
    password_vault: PasswordVault | int | str | None = None
    folder_credential_mode: str = FolderCredentialMode.DEVICE
    folder_credential_type: str = FolderCredentialType.MANUAL
    folder_username: str = ""
    folder_password: str | None = None
    folder_credential: Credential | int | str | None = None
    folder_vault_provider: str = ""
    folder_vault_path: str = ""
    folder_vault_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_device(cls, device: Device) -> DeviceInput:
        """The current values of a device (secrets left empty = keep), as a starting point for an edit."""
        data = cls()
        for f in fields(cls):
            if f.name in {"password", "folder_password", "new_gateway", "extra", "gateway_select", "gateway_mode"}:
                continue
            if f.name in {"credential", "gateway", "password_vault", "folder_credential"}:
                setattr(data, f.name, getattr(device, f"{f.name}_id"))
                continue
            setattr(data, f.name, getattr(device, f.name))
        data.gateway_mode = device.gateway.mode
        data.gateway_select = "existing"
        return data


def _valid_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        pass
    if len(value) > 253:
        return False
    labels = value.rstrip(".").split(".")
    return all(HOSTNAME_LABEL_RE.match(label) for label in labels)


def _resolve(model: type[Any], value: Any, *, by_name: bool = False) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return model.objects.filter(pk=int(value)).first()
    if by_name and isinstance(value, str):
        return model.objects.filter(name__iexact=value.strip()).first()
    return None


def _check_ca_bundle(pem: str) -> str | None:
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return "Paste one or more PEM certificates (-----BEGIN CERTIFICATE-----)."
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return "The CA bundle is not valid PEM."
    if not certs:
        return "The CA bundle holds no certificate."
    return None


def check_file_system_path(path: str) -> str | None:
    """One location: an absolute local folder (C:\\certs) or a UNC share path (\\\\server\\share\\dir)."""
    if BAD_PATH_CHARS.intersection(path):
        return 'Enter one path only, without wildcards or separators (; * ? " < > |).'
    normalized = path.replace("/", "\\")
    if normalized.startswith("\\\\"):
        if not UNC_PATH_RE.match(normalized):
            return "Enter a shared path as \\\\server\\share or \\\\server\\share\\folder."
        return None
    if not LOCAL_PATH_RE.match(normalized):
        return "Enter an absolute local folder (C:\\Certs) or a shared path (\\\\server\\share)."
    return None


@dataclass
class _Clean:
    """A validated input with its references resolved."""

    data: DeviceInput
    credential: Credential | None = None
    gateway: Gateway | None = None
    password_vault: PasswordVault | None = None
    folder_credential: Credential | None = None


def _normalize(data: DeviceInput) -> DeviceInput:
    for name in ("name", "hostname", "data_center", "username", "folder_username", "vault_path", "vault_key"):
        setattr(data, name, (getattr(data, name) or "").strip())
    for name in ("folder_vault_path", "folder_vault_key", "file_system_path", "ca_bundle"):
        setattr(data, name, (getattr(data, name) or "").strip())
    data.file_system_path = data.file_system_path.replace("/", "\\") if data.file_system_path else ""
    return data


def _credential_errors(data: DeviceInput, instance: Device | None, gateway: Gateway | None, errors: Errors) -> Any:
    credential = None
    if data.credential_type not in CredentialType.values:
        errors["credential_type"] = ["Choose a credential type."]
    elif data.credential_type == CredentialType.MANUAL:
        if not data.username:
            errors["username"] = ["Enter the user name."]
        has_stored = instance is not None and instance.credential_type == CredentialType.MANUAL and instance.password
        if not data.password and not has_stored:
            errors["password"] = ["Enter the password."]
    elif data.credential_type == CredentialType.CREDENTIAL_LIST:
        credential = _resolve(Credential, data.credential, by_name=True)
        if credential is None:
            errors["credential"] = ["Choose a credential from the credential list."]
    elif data.credential_type == CredentialType.GATEWAY:
        if gateway is not None and not gateway.has_credential:
            errors["credential_type"] = [
                f"The gateway {gateway.name!r} has no gateway credential. Set one on the gateway (Settings > "
                "Gateways) or choose another credential type."
            ]
        elif gateway is None and data.new_gateway is not None and not data.new_gateway.username:
            errors["credential_type"] = ["The new gateway has no gateway credential: enter its user name and password."]
    elif data.credential_type == CredentialType.VAULT:
        if data.vault_provider not in VaultProvider.values:
            errors["vault_provider"] = ["Choose the external vault."]
        else:
            errors["credential_type"] = [vault_not_available_message(data.vault_provider)]
    return credential


def _gateway_choice(data: DeviceInput, errors: Errors) -> Gateway | None:
    if data.gateway_mode == GatewayMode.INTEGRATED:
        return gateway_integrated()
    if data.gateway_mode != GatewayMode.EXTERNAL:
        errors["gateway_mode"] = ["Choose External or Integrated."]
        return None
    if data.gateway_select == "new":
        new = data.new_gateway or GatewayInput()
        new = _gateway_normalize(new)
        for key, messages in _gateway_errors(new, None).items():
            errors[f"new_gateway_{key}"] = messages
        data.new_gateway = new
        return None
    if data.gateway_select != "existing":
        errors["gateway_select"] = ["Choose New or Existing."]
        return None
    gateway = _resolve(Gateway, data.gateway, by_name=True)
    if gateway is None:
        errors["gateway"] = ["Choose an existing Windows gateway."]
    elif gateway.is_integrated:
        errors["gateway"] = ["Choose an external gateway, or set Windows Gateway Mode to Integrated."]
    return gateway


def _winrm_errors(data: DeviceInput, errors: Errors) -> None:
    if data.winrm_scheme not in WinrmScheme.values:
        errors["winrm_scheme"] = ["Choose HTTPS or HTTP."]
    if data.winrm_port is not None and not 0 < int(data.winrm_port) < 65536:
        errors["winrm_port"] = ["Enter a port between 1 and 65535, or leave it empty for the default."]
    if data.winrm_auth not in WinrmAuth.values:
        errors["winrm_auth"] = ["Choose Negotiate, NTLM, Kerberos or Basic."]
    if data.ca_bundle:
        problem = _check_ca_bundle(data.ca_bundle)
        if problem:
            errors["ca_bundle"] = [problem]
    protected = data.winrm_scheme == WinrmScheme.HTTPS and data.verify_tls
    if data.winrm_auth == WinrmAuth.BASIC and not protected and not data.allow_basic_over_http:
        where = "plain HTTP" if data.winrm_scheme == WinrmScheme.HTTP else "HTTPS without certificate verification"
        errors["allow_basic_over_http"] = [
            f"Basic authentication over {where} sends the password unprotected. Use HTTPS with verification or "
            "NTLM/Negotiate/Kerberos, or tick this box to accept the risk for this device."
        ]


def _folder_errors(data: DeviceInput, gateway: Gateway | None, errors: Errors) -> tuple[Any, Any]:
    if data.extra.get("file_system_missing"):
        # The form's "Centralized file system" box was ticked without a path.
        errors["file_system_path"] = ["Enter the certificate location, or untick Centralized file system."]
    if not data.file_system_path:
        return None, None
    problem = check_file_system_path(data.file_system_path)
    if problem:
        errors["file_system_path"] = [problem]
    vault = None
    if data.password_vault not in (None, ""):
        vault = _resolve(PasswordVault, data.password_vault, by_name=True)
        if vault is None:
            errors["password_vault"] = ["Choose a password vault, or None."]
    credential = None
    mode = data.folder_credential_mode
    if mode not in FolderCredentialMode.values:
        errors["folder_credential_mode"] = ["Choose which credential opens the folder."]
    elif mode == FolderCredentialMode.GATEWAY:
        if gateway is not None and not gateway.has_credential:
            errors["folder_credential_mode"] = [f"The gateway {gateway.name!r} has no gateway credential."]
        elif gateway is None and data.new_gateway is not None and not data.new_gateway.username:
            errors["folder_credential_mode"] = ["The new gateway has no gateway credential."]
    elif mode == FolderCredentialMode.NEW:
        kind = data.folder_credential_type
        if kind not in FolderCredentialType.values:
            errors["folder_credential_type"] = ["Choose a credential type."]
        elif kind == FolderCredentialType.MANUAL:
            if not data.folder_username:
                errors["folder_username"] = ["Enter the user name."]
            if not data.folder_password and not data.extra.get("folder_password_stored"):
                errors["folder_password"] = ["Enter the password."]
        elif kind == FolderCredentialType.CREDENTIAL_LIST:
            credential = _resolve(Credential, data.folder_credential, by_name=True)
            if credential is None:
                errors["folder_credential"] = ["Choose a credential from the credential list."]
        elif kind == FolderCredentialType.VAULT:
            if data.folder_vault_provider not in VaultProvider.values:
                errors["folder_vault_provider"] = ["Choose the external vault."]
            else:
                errors["folder_credential_type"] = [vault_not_available_message(data.folder_vault_provider)]
    return vault, credential


def device_check(*, data: DeviceInput, instance: Device | None = None) -> _Clean:
    """Normalize and validate a device input against every rule of the onboarding tables.

    Raises ValidationError keyed by DeviceInput field names; returns the input with its references resolved.
    """
    data = _normalize(data)
    errors: Errors = {}
    if not data.name:
        errors["name"] = ["Enter the server name."]
    elif len(data.name) > 128:
        errors["name"] = ["Use at most 128 characters."]
    else:
        clash = Device.objects.filter(name__iexact=data.name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = [f"A server named {data.name!r} already exists."]
    if not data.hostname:
        errors["hostname"] = ["Enter the hostname (FQDN preferred) or IP address."]
    elif not _valid_host(data.hostname):
        errors["hostname"] = ["Enter a host name or IP address only (no scheme, port or path)."]
    if len(data.data_center) > 100:
        errors["data_center"] = ["Use at most 100 characters."]
    if data.cert_sync not in CertSync.values:
        errors["cert_sync"] = ["Choose Managed, Monitored or Ignored."]
    gateway = _gateway_choice(data, errors)
    if instance is not None and gateway is not None and gateway.pk != instance.gateway_id:
        data.extra["gateway_changed"] = True
    credential = _credential_errors(data, instance, gateway, errors)
    _winrm_errors(data, errors)
    if (
        instance is not None
        and instance.folder_credential_mode == FolderCredentialMode.NEW
        and instance.folder_password
    ):
        data.extra["folder_password_stored"] = True
    vault, folder_credential = _folder_errors(data, gateway, errors)
    if errors:
        raise ValidationError(errors)
    return _Clean(
        data=data, credential=credential, gateway=gateway, password_vault=vault, folder_credential=folder_credential
    )


def _apply(device: Device, clean: _Clean) -> None:
    data = clean.data
    device.name, device.hostname = data.name, data.hostname
    device.data_center, device.cert_sync = data.data_center, data.cert_sync
    device.credential_type = data.credential_type
    manual = data.credential_type == CredentialType.MANUAL
    device.username = data.username if manual else ""
    if manual and data.password:
        device.password = data.password
    if not manual:
        device.password = None
    device.credential = clean.credential if data.credential_type == CredentialType.CREDENTIAL_LIST else None
    vault = data.credential_type == CredentialType.VAULT
    device.vault_provider = data.vault_provider if vault else ""
    device.vault_path = data.vault_path if vault else ""
    device.vault_key = data.vault_key if vault else ""
    assert clean.gateway is not None
    device.gateway = clean.gateway
    device.winrm_scheme = data.winrm_scheme
    device.winrm_port = int(data.winrm_port) if data.winrm_port else None
    device.winrm_auth = data.winrm_auth
    device.verify_tls = bool(data.verify_tls)
    device.ca_bundle = data.ca_bundle if data.winrm_scheme == WinrmScheme.HTTPS else ""
    device.allow_basic_over_http = bool(data.allow_basic_over_http) and data.winrm_auth == WinrmAuth.BASIC
    device.certificate_store = True
    device.file_system_path = data.file_system_path
    has_folder = bool(data.file_system_path)
    device.password_vault = clean.password_vault if has_folder else None
    mode = data.folder_credential_mode if has_folder else FolderCredentialMode.DEVICE
    device.folder_credential_mode = mode
    new = mode == FolderCredentialMode.NEW
    kind = data.folder_credential_type if new else FolderCredentialType.MANUAL
    device.folder_credential_type = kind
    folder_manual = new and kind == FolderCredentialType.MANUAL
    device.folder_username = data.folder_username if folder_manual else ""
    if folder_manual and data.folder_password:
        device.folder_password = data.folder_password
    if not folder_manual:
        device.folder_password = None
    device.folder_credential = clean.folder_credential if new and kind == FolderCredentialType.CREDENTIAL_LIST else None
    folder_vault = new and kind == FolderCredentialType.VAULT
    device.folder_vault_provider = data.folder_vault_provider if folder_vault else ""
    device.folder_vault_path = data.folder_vault_path if folder_vault else ""
    device.folder_vault_key = data.folder_vault_key if folder_vault else ""


def _new_gateway(clean: _Clean, user: Any) -> None:
    data = clean.data
    if clean.gateway is None and data.gateway_mode == GatewayMode.EXTERNAL and data.gateway_select == "new":
        assert data.new_gateway is not None
        clean.gateway = gateway_create(data=data.new_gateway, user=user)


@transaction.atomic
def device_create(*, data: DeviceInput, user: Any = None, validate: bool = True) -> Device:
    """Onboard a device (nothing -> pending), creating its new gateway if asked, then queue its validation through
    the gateway's queue once the transaction commits (unless validate=False)."""
    clean = device_check(data=data)
    _new_gateway(clean, user)
    device = Device(created_by=user if getattr(user, "is_authenticated", False) else None)
    _apply(device, clean)
    device.status = DeviceStatus.PENDING
    device.save()
    audit_record(
        actor=user,
        action="device.create",
        summary=f"Onboarded server {device.name!r} ({device.hostname}) through gateway {device.gateway.name!r}",
        obj=device,
    )
    if validate:
        from devices.validation import device_validation_request

        device_validation_request(device=device, user=user)
    return device


@transaction.atomic
def device_update(*, device: Device, data: DeviceInput, user: Any = None, validate: bool = True) -> Device:
    """Change a device (any status -> pending when validation is queued): secrets left empty are kept."""
    device = Device.objects.select_for_update().get(pk=device.pk)
    clean = device_check(data=data, instance=device)
    _new_gateway(clean, user)
    _apply(device, clean)
    device.save()
    audit_record(actor=user, action="device.update", summary=f"Changed server {device.name!r}", obj=device)
    if validate:
        from devices.validation import device_validation_request

        device_validation_request(device=device, user=user)
    return device


@transaction.atomic
def device_delete(*, device: Device, user: Any = None, comment: str = "") -> None:
    """Remove a device from the inventory with its validation history (stored -> deleted)."""
    name = device.name
    note = f": {comment.strip()[:300]}" if comment and comment.strip() else ""
    audit_record(actor=user, action="device.delete", summary=f"Deleted server {name!r}{note}", obj=device)
    device.delete()
