"""Serializers of the devices API (API.md "Devices"). Writes are nested as in API.md and turned into the same
`DeviceInput` / `GatewayInput` the form builds; reads never contain a secret (only whether one is set)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

from clm.api.errors import ApplicationError
from devices.choices import (
    CertSync,
    CredentialType,
    FolderCredentialMode,
    FolderCredentialType,
    GatewayLocation,
    GatewayMode,
    GatewayType,
    WinrmAuth,
    WinrmScheme,
)
from devices.models import Device, DeviceValidation, Gateway
from devices.services import DeviceInput, GatewayInput
from vaults.choices import VaultProvider

# DeviceInput field -> API field path, for error messages that name the field the client sent.
API_FIELDS = {
    "credential_type": "credential.type",
    "username": "credential.username",
    "password": "credential.password",
    "credential": "credential.id",
    "vault_provider": "credential.vault",
    "vault_path": "credential.path",
    "vault_key": "credential.key",
    "gateway_mode": "gateway.mode",
    "gateway_select": "gateway.select",
    "gateway": "gateway.id",
    "winrm_scheme": "winrm.scheme",
    "winrm_port": "winrm.port",
    "winrm_auth": "winrm.auth",
    "verify_tls": "winrm.verify_tls",
    "ca_bundle": "winrm.ca_bundle",
    "allow_basic_over_http": "winrm.allow_basic_over_http",
    "file_system_path": "locations.file_system.path",
    "password_vault": "locations.file_system.password_vault",
    "folder_credential_mode": "folder_credential.mode",
    "folder_credential_type": "folder_credential.type",
    "folder_username": "folder_credential.username",
    "folder_password": "folder_credential.password",
    "folder_credential": "folder_credential.id",
    "folder_vault_provider": "folder_credential.vault",
    "folder_vault_path": "folder_credential.path",
    "folder_vault_key": "folder_credential.key",
}
GATEWAY_API_FIELDS = {"gateway_type": "type"}


def api_errors(exc: ValidationError) -> ApplicationError:
    """A service ValidationError as a 400 that names the API fields."""
    raw = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    errors: dict[str, list[str]] = {}
    for key, messages in raw.items():
        if key.startswith("new_gateway_"):
            sub = key.removeprefix("new_gateway_")
            path = f"gateway.{GATEWAY_API_FIELDS.get(sub, sub)}"
        else:
            path = API_FIELDS.get(key, key)
        errors[path] = list(messages)
    summary = "; ".join(f"{k}: {v[0]}" for k, v in list(errors.items())[:5])
    return ApplicationError(f"Invalid input. {summary}", errors=errors)


def _pfx(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise serializers.ValidationError("Send the PFX file base64-encoded.") from exc


# -- write side ------------------------------------------------------------------------------------------------------


class CredentialSpecSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CredentialType.choices, default=CredentialType.MANUAL)
    username = serializers.CharField(required=False, allow_blank=True, max_length=256)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    id = serializers.IntegerField(required=False, allow_null=True, help_text="credential_list: the entry's id")
    name = serializers.CharField(required=False, allow_blank=True, help_text="credential_list: or the entry's name")
    vault = serializers.ChoiceField(choices=VaultProvider.choices, required=False, allow_blank=True)
    path = serializers.CharField(required=False, allow_blank=True, max_length=500)
    key = serializers.CharField(required=False, allow_blank=True, max_length=200)


class WinrmSpecSerializer(serializers.Serializer):
    scheme = serializers.ChoiceField(choices=WinrmScheme.choices, default=WinrmScheme.HTTPS)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    auth = serializers.ChoiceField(choices=WinrmAuth.choices, default=WinrmAuth.NEGOTIATE)
    verify_tls = serializers.BooleanField(default=True)
    ca_bundle = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    allow_basic_over_http = serializers.BooleanField(default=False)


class GatewaySpecSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=GatewayMode.choices, default=GatewayMode.INTEGRATED)
    select = serializers.ChoiceField(choices=[("new", "New"), ("existing", "Existing")], default="existing")
    id = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=63)
    type = serializers.ChoiceField(choices=GatewayType.choices, default=GatewayType.POWERSHELL)
    location = serializers.ChoiceField(choices=GatewayLocation.choices, default=GatewayLocation.REMOTE)
    fqdn = serializers.CharField(required=False, allow_blank=True, max_length=255)
    port = serializers.IntegerField(required=False, allow_null=True)
    url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    client_certificate = serializers.CharField(required=False, allow_blank=True, write_only=True)
    client_certificate_password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, trim_whitespace=False
    )
    username = serializers.CharField(required=False, allow_blank=True, max_length=256)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)


class FileSystemSpecSerializer(serializers.Serializer):
    path = serializers.CharField(allow_blank=True, max_length=500)
    password_vault = serializers.IntegerField(required=False, allow_null=True)


class LocationsSpecSerializer(serializers.Serializer):
    certificate_store = serializers.BooleanField(default=True)
    file_system = FileSystemSpecSerializer(required=False, allow_null=True)

    def validate_certificate_store(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError("The certificate store is always a location of an IIS device.")
        return value


class FolderCredentialSpecSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=FolderCredentialMode.choices, default=FolderCredentialMode.DEVICE)
    type = serializers.ChoiceField(choices=FolderCredentialType.choices, default=FolderCredentialType.MANUAL)
    username = serializers.CharField(required=False, allow_blank=True, max_length=256)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=False)
    id = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True)
    vault = serializers.ChoiceField(choices=VaultProvider.choices, required=False, allow_blank=True)
    path = serializers.CharField(required=False, allow_blank=True, max_length=500)
    key = serializers.CharField(required=False, allow_blank=True, max_length=200)


class DeviceWriteSerializer(serializers.Serializer):
    """POST/PUT/PATCH devices/: the nested shape of API.md. Omitted parts keep their current values on update."""

    name = serializers.CharField(max_length=128, required=False)
    hostname = serializers.CharField(max_length=255, required=False)
    data_center = serializers.CharField(max_length=100, required=False, allow_blank=True)
    cert_sync = serializers.ChoiceField(choices=CertSync.choices, required=False)
    credential = CredentialSpecSerializer(required=False)
    winrm = WinrmSpecSerializer(required=False)
    gateway = GatewaySpecSerializer(required=False)
    locations = LocationsSpecSerializer(required=False)
    folder_credential = FolderCredentialSpecSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            missing = {k: ["This field is required."] for k in ("name", "hostname") if not attrs.get(k)}
            if missing:
                raise serializers.ValidationError(missing)
        gateway = attrs.get("gateway") or {}
        if gateway.get("client_certificate"):
            try:
                gateway["client_certificate_bytes"] = _pfx(gateway["client_certificate"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"gateway": {"client_certificate": exc.detail}}) from exc
        return attrs

    def to_input(self, instance: Device | None) -> DeviceInput:
        attrs = self.validated_data
        data = DeviceInput.from_device(instance) if instance is not None else DeviceInput()
        for key in ("name", "hostname", "data_center", "cert_sync"):
            if key in attrs:
                setattr(data, key, attrs[key])
        if "credential" in attrs:
            c = attrs["credential"]
            data.credential_type = c.get("type", CredentialType.MANUAL)
            data.username = c.get("username", data.username if instance is not None else "")
            data.password = c.get("password") or None
            data.credential = c.get("id") or c.get("name") or None
            data.vault_provider, data.vault_path, data.vault_key = (
                c.get("vault", ""),
                c.get("path", ""),
                c.get("key", ""),
            )
        if "winrm" in attrs:
            w = attrs["winrm"]
            data.winrm_scheme, data.winrm_auth = w["scheme"], w["auth"]
            data.winrm_port = w.get("port")
            data.verify_tls, data.allow_basic_over_http = w["verify_tls"], w["allow_basic_over_http"]
            data.ca_bundle = w.get("ca_bundle") or ""
        if "gateway" in attrs:
            g = attrs["gateway"]
            data.gateway_mode, data.gateway_select = g["mode"], g["select"]
            data.gateway = g.get("id") or g.get("name") or None
            if g["mode"] == GatewayMode.EXTERNAL and g["select"] == "new":
                data.new_gateway = GatewayInput(
                    name=g.get("name", ""),
                    gateway_type=g["type"],
                    location=g["location"],
                    fqdn=g.get("fqdn", ""),
                    port=g.get("port"),
                    url=g.get("url", ""),
                    client_certificate=g.get("client_certificate_bytes"),
                    client_certificate_password=g.get("client_certificate_password") or None,
                    username=g.get("username", ""),
                    password=g.get("password") or None,
                )
        if "locations" in attrs:
            fs = attrs["locations"].get("file_system") or {}
            data.file_system_path = fs.get("path", "")
            data.password_vault = fs.get("password_vault")
        if "folder_credential" in attrs:
            f = attrs["folder_credential"]
            data.folder_credential_mode, data.folder_credential_type = f["mode"], f["type"]
            data.folder_username = f.get("username", data.folder_username if instance is not None else "")
            data.folder_password = f.get("password") or None
            data.folder_credential = f.get("id") or f.get("name") or None
            data.folder_vault_provider = f.get("vault", "")
            data.folder_vault_path, data.folder_vault_key = f.get("path", ""), f.get("key", "")
        return data


# -- read side -------------------------------------------------------------------------------------------------------


class DeviceSerializer(serializers.ModelSerializer):
    """A device as the API returns it: no secret, only whether one is stored."""

    credential = serializers.SerializerMethodField()
    winrm = serializers.SerializerMethodField()
    gateway = serializers.SerializerMethodField()
    locations = serializers.SerializerMethodField()
    folder_credential = serializers.SerializerMethodField()
    facts = serializers.SerializerMethodField()
    status_log = serializers.SerializerMethodField()
    validation = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "name",
            "hostname",
            "vendor",
            "data_center",
            "cert_sync",
            "status",
            "status_reason",
            "validated_at",
            "credential",
            "winrm",
            "gateway",
            "locations",
            "folder_credential",
            "facts",
            "sites",
            "config_fetched_at",
            "status_log",
            "validation",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_credential(self, device: Device) -> dict[str, Any]:
        out: dict[str, Any] = {"type": device.credential_type}
        if device.credential_type == CredentialType.MANUAL:
            out.update(username=device.username, password_set=bool(device.password))
        elif device.credential_type == CredentialType.CREDENTIAL_LIST and device.credential is not None:
            out.update(id=device.credential_id, name=device.credential.name)
        elif device.credential_type == CredentialType.VAULT:
            out.update(vault=device.vault_provider, path=device.vault_path, key=device.vault_key)
        return out

    def get_winrm(self, device: Device) -> dict[str, Any]:
        return {
            "scheme": device.winrm_scheme,
            "port": device.effective_port,
            "auth": device.winrm_auth,
            "verify_tls": device.verify_tls,
            "ca_bundle": device.ca_bundle or None,
            "allow_basic_over_http": device.allow_basic_over_http,
        }

    def get_gateway(self, device: Device) -> dict[str, Any]:
        g = device.gateway
        return {"id": g.pk, "name": g.name, "mode": g.mode, "type": g.gateway_type, "queue": g.queue}

    def get_locations(self, device: Device) -> dict[str, Any]:
        fs = None
        if device.file_system_path:
            fs = {
                "path": device.file_system_path,
                "kind": "share" if device.file_system_is_share else "local",
                "password_vault": device.password_vault_id,
            }
        return {"certificate_store": True, "file_system": fs}

    def get_folder_credential(self, device: Device) -> dict[str, Any] | None:
        if not device.file_system_path:
            return None
        out: dict[str, Any] = {"mode": device.folder_credential_mode}
        if device.folder_credential_mode == FolderCredentialMode.NEW:
            out["type"] = device.folder_credential_type
            if device.folder_credential_type == FolderCredentialType.MANUAL:
                out.update(username=device.folder_username, password_set=bool(device.folder_password))
            elif device.folder_credential_type == FolderCredentialType.CREDENTIAL_LIST:
                out.update(id=device.folder_credential_id)
            else:
                out.update(
                    vault=device.folder_vault_provider, path=device.folder_vault_path, key=device.folder_vault_key
                )
        return out

    def get_facts(self, device: Device) -> dict[str, Any]:
        return {
            "os_build": device.os_build,
            "os_caption": device.os_caption,
            "os_version": device.os_version,
            "iis_version": device.iis_version,
            "powershell_version": device.powershell_version,
            "hostname": device.reported_hostname,
        }

    def get_status_log(self, device: Device) -> list[dict[str, Any]]:
        return device.status_log

    def get_validation(self, device: Device) -> dict[str, Any] | None:
        """The latest validation (queued, running or finished): its state and job."""
        latest: DeviceValidation | None = device.validations.order_by("-id").first()
        if latest is None:
            return None
        return {
            "id": latest.pk,
            "state": latest.state,
            "job": latest.job_id,
            "queue": latest.queue,
            "worker": latest.worker,
            "status": latest.status or None,
            "finished_at": latest.finished_at,
        }


class ProfileSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    site = serializers.CharField(allow_null=True)
    site_id = serializers.IntegerField(allow_null=True)
    protocol = serializers.CharField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    port = serializers.IntegerField(allow_null=True)
    host = serializers.CharField(allow_blank=True)
    sni = serializers.BooleanField()
    http = serializers.BooleanField()
    certificate_hash = serializers.CharField(allow_null=True)
    certificate_store = serializers.CharField(allow_null=True)


class BulkValidateSerializer(serializers.Serializer):
    devices = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=1000)


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    gateway = serializers.CharField(help_text="The external gateway (id or name) the servers are reached through.")


class ValidationQueuedSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    validation = serializers.IntegerField()


# -- gateways --------------------------------------------------------------------------------------------------------


class GatewaySerializer(serializers.ModelSerializer):
    """A gateway as the API returns it; writes take the same names plus write-only secrets."""

    type = serializers.ChoiceField(source="gateway_type", choices=GatewayType.choices, default=GatewayType.POWERSHELL)
    queue = serializers.CharField(read_only=True)
    client_certificate = serializers.CharField(write_only=True, required=False, allow_blank=True)
    client_certificate_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    password_set = serializers.SerializerMethodField()
    devices = serializers.SerializerMethodField()

    class Meta:
        model = Gateway
        fields = [
            "id",
            "name",
            "mode",
            "type",
            "location",
            "fqdn",
            "port",
            "url",
            "queue",
            "client_certificate",
            "client_certificate_password",
            "client_certificate_subject",
            "client_certificate_thumbprint",
            "client_certificate_not_after",
            "username",
            "password",
            "password_set",
            "devices",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "mode",
            "queue",
            "client_certificate_subject",
            "client_certificate_thumbprint",
            "client_certificate_not_after",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "name": {"validators": [], "required": False},
            "location": {"required": False},
            "url": {"required": False},
        }

    def get_password_set(self, gateway: Gateway) -> bool:
        return bool(gateway.password)

    def get_devices(self, gateway: Gateway) -> int:
        return gateway.devices.count()

    def to_input(self, instance: Gateway | None) -> GatewayInput:
        attrs = self.validated_data
        base = instance
        pfx = None
        if attrs.get("client_certificate"):
            try:
                pfx = _pfx(attrs["client_certificate"])
            except serializers.ValidationError as exc:
                raise ApplicationError(
                    "Invalid input. client_certificate: send the PFX base64-encoded.",
                    errors={"client_certificate": [str(exc.detail[0])]},  # type: ignore[index]
                ) from exc
        return GatewayInput(
            name=attrs.get("name", base.name if base else ""),
            gateway_type=attrs.get("gateway_type", base.gateway_type if base else GatewayType.POWERSHELL),
            location=attrs.get("location", base.location if base else GatewayLocation.REMOTE),
            fqdn=attrs.get("fqdn", base.fqdn if base else ""),
            port=attrs.get("port", base.port if base else None),
            url=attrs.get("url", base.url if base else ""),
            client_certificate=pfx,
            client_certificate_password=attrs.get("client_certificate_password") or None,
            username=attrs.get("username", base.username if base else ""),
            password=attrs.get("password") or None,
        )
