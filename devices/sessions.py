"""The session factory: from a Device row to an open-able `IISSession` (and the folder credential for its share).

Every job that talks to a device (validation, discovery, push) builds its session here, in the worker, at job time:
credentials are decrypted only then and never travel in a Celery message.

    with device_session(device) as session:
        facts = operations.host_facts(session)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from devices.choices import CredentialType, FolderCredentialMode, FolderCredentialType, GatewayType
from devices.iis.operations import FolderCredential
from devices.iis.session import Endpoint, IISSession
from devices.models import Device, Gateway
from vaults.services import vault_not_available_message


class CredentialUnavailable(Exception):
    """The device's credential cannot be produced (an external vault, a gateway without a credential)."""


class GatewayUnsupported(Exception):
    """The device's gateway cannot run device work (the WMI gateway type)."""


@dataclass(frozen=True)
class ResolvedCredential:
    username: str
    password: str = field(repr=False)
    source: str  # "manual", "credential list 'name'", "gateway 'name'"


def _gateway_credential(gateway: Gateway) -> ResolvedCredential:
    if not gateway.has_credential:
        raise CredentialUnavailable(f"the gateway {gateway.name!r} has no gateway credential")
    return ResolvedCredential(gateway.username, gateway.password or "", f"gateway {gateway.name!r}")


def device_credential(device: Device) -> ResolvedCredential:
    """The user name and password the device's WinRM session signs in with."""
    kind = device.credential_type
    if kind == CredentialType.MANUAL:
        if not device.username or not device.password:
            raise CredentialUnavailable("the manual credential has no user name or password")
        return ResolvedCredential(device.username, device.password, "manual entry")
    if kind == CredentialType.CREDENTIAL_LIST:
        if device.credential is None:
            raise CredentialUnavailable("no credential chosen from the credential list")
        entry = device.credential
        return ResolvedCredential(entry.username, entry.password, f"credential list {entry.name!r}")
    if kind == CredentialType.GATEWAY:
        return _gateway_credential(device.gateway)
    if kind == CredentialType.VAULT:
        raise CredentialUnavailable(vault_not_available_message(device.vault_provider))
    raise CredentialUnavailable(f"unknown credential type {kind!r}")


def device_folder_credential(device: Device) -> FolderCredential | None:
    """The credential that opens the device's centralized file system location; None for a local folder, which the
    device session itself reads. A shared path needs one (Table 5: gateway, new, or the device's own)."""
    if not device.file_system_path or not device.file_system_is_share:
        return None
    mode = device.folder_credential_mode
    if mode == FolderCredentialMode.DEVICE:
        resolved = device_credential(device)
    elif mode == FolderCredentialMode.GATEWAY:
        resolved = _gateway_credential(device.gateway)
    elif device.folder_credential_type == FolderCredentialType.MANUAL:
        if not device.folder_username or not device.folder_password:
            raise CredentialUnavailable("the folder credential has no user name or password")
        resolved = ResolvedCredential(device.folder_username, device.folder_password, "manual entry")
    elif device.folder_credential_type == FolderCredentialType.CREDENTIAL_LIST:
        if device.folder_credential is None:
            raise CredentialUnavailable("no folder credential chosen from the credential list")
        entry = device.folder_credential
        resolved = ResolvedCredential(entry.username, entry.password, f"credential list {entry.name!r}")
    else:
        raise CredentialUnavailable(vault_not_available_message(device.folder_vault_provider))
    return FolderCredential(username=resolved.username, password=resolved.password)


def device_endpoint(device: Device, *, timeout: float | None = None) -> Endpoint:
    """The WinRM endpoint of a device, with its credential resolved now."""
    if device.gateway.gateway_type == GatewayType.WMI:
        raise GatewayUnsupported(
            f"the gateway {device.gateway.name!r} is of type WMI, which cannot run device operations yet; "
            "use a PowerShell gateway"
        )
    credential = device_credential(device)
    return Endpoint(
        host=device.hostname,
        scheme=device.winrm_scheme,  # type: ignore[arg-type]
        port=device.effective_port,
        auth=device.winrm_auth,  # type: ignore[arg-type]
        username=credential.username,
        password=credential.password,
        verify_tls=device.verify_tls,
        ca_bundle=device.ca_bundle or None,
        allow_basic_over_http=device.allow_basic_over_http,
        timeout=float(timeout if timeout is not None else settings.CLM_WINRM_TIMEOUT),
    )


def device_session(device: Device, *, timeout: float | None = None) -> IISSession:
    """An IISSession for the device (not yet connected: use it as a context manager, or call open())."""
    return IISSession(device_endpoint(device, timeout=timeout))
