"""Queries about devices used by more than one caller (pages, API, discovery, push)."""

from __future__ import annotations

from django.db.models import QuerySet

from devices.choices import DeviceStatus, ValidationState
from devices.models import Device, DeviceValidation, Gateway
from devices.profiles import Profile, binding_profiles, device_name_profile

# Statuses of a device that answered its last validation (discovery and push may work with it).
REACHABLE_STATUSES = (DeviceStatus.MANAGED, DeviceStatus.MONITORED, DeviceStatus.IGNORED)


def device_list() -> QuerySet[Device]:
    return Device.objects.select_related("gateway", "credential", "password_vault", "folder_credential")


def device_data_centers() -> list[str]:
    """The data centers in use, for the filter and the form's suggestions."""
    values = Device.objects.exclude(data_center="").values_list("data_center", flat=True).distinct()
    return sorted(set(values), key=str.lower)


def devices_for_discovery() -> QuerySet[Device]:
    """Devices whose certificates are discovered: Cert Sync Managed or Monitored (Ignored gets config fetch only)."""
    return device_list().exclude(cert_sync="ignored")


def device_profiles(*, device: Device, push_type: str = "push_and_bind", http_only: bool = False) -> list[Profile]:
    """Profiles a connector can select on this device: the device-name profile for a push without binding; the
    site-binding profiles (from the last configuration fetch) for push and bind, only the http ones if asked."""
    if push_type == "push":
        return [device_name_profile(device.name)]
    profiles = binding_profiles(device.sites or [])
    if http_only:
        profiles = [p for p in profiles if p.http]
    return profiles


def device_profile(*, device: Device, name: str) -> Profile | None:
    """One profile of a device by its exact name (the device-name profile included)."""
    if name == device.name:
        return device_name_profile(device.name)
    return next((p for p in binding_profiles(device.sites or []) if p.name == name), None)


def device_pending_validation(*, device: Device) -> DeviceValidation | None:
    """The validation queued or running for the device, if any (the page shows its progress)."""
    return (
        DeviceValidation.objects.filter(device=device, state__in=[ValidationState.QUEUED, ValidationState.RUNNING])
        .select_related("job")
        .order_by("-id")
        .first()
    )


def gateway_list() -> QuerySet[Gateway]:
    """Every gateway, the integrated one first (re-created if a database flush removed the migration's row)."""
    from devices.services import gateway_integrated

    gateway_integrated()
    return Gateway.objects.order_by("-mode", "name")


def external_gateways() -> QuerySet[Gateway]:
    return Gateway.objects.filter(mode="external").order_by("name")
