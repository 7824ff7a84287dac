"""Connector API shapes (API.md "Application connectors and push"). The write serializer only shapes the request
into a ConnectorInput; every rule is in connectors.services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from connectors.choices import BindType, LocationType, PostScriptFailure, PushType, ScriptLocation, StoreChoice
from connectors.models import AppConnector, ConnectorTarget, GeneralSettings, PushDevice
from connectors.rules import BindingChanges, ConnectorInput, NewBinding


class GeneralSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = GeneralSettings
        fields = ["pkcs12_encryption", "push_validation_interval_minutes", "push_validation_concurrency", "updated_at"]
        read_only_fields = ["updated_at"]


class LocationSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=LocationType.choices, default=LocationType.CERTIFICATE_STORE)
    store = serializers.ChoiceField(choices=StoreChoice.choices, default=StoreChoice.PERSONAL)
    path = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    password = serializers.CharField(
        required=False, allow_null=True, default=None, write_only=True, trim_whitespace=False
    )


class NewBindingSerializer(serializers.Serializer):
    site = serializers.CharField(max_length=255)
    ip = serializers.CharField(required=False, default="*", max_length=64)
    port = serializers.IntegerField(required=False, default=443, min_value=1, max_value=65535)
    host = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    sni = serializers.BooleanField(required=False, default=False)
    device = serializers.IntegerField(required=False, allow_null=True, default=None)


class ChangesSerializer(serializers.Serializer):
    ip = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    port = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=65535)
    host = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    sni = serializers.BooleanField(required=False, allow_null=True, default=None)
    disable_http2 = serializers.BooleanField(required=False, allow_null=True, default=None)
    disable_ocsp_stapling = serializers.BooleanField(required=False, allow_null=True, default=None)
    disable_quic = serializers.BooleanField(required=False, allow_null=True, default=None)
    disable_tls13 = serializers.BooleanField(required=False, allow_null=True, default=None)
    disable_legacy_tls = serializers.BooleanField(required=False, allow_null=True, default=None)


class BindSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=BindType.choices)
    profiles = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    changes = ChangesSerializer(required=False, default=None, allow_null=True)

    def validate_profiles(self, value: list[Any]) -> list[Any]:
        for item in value:
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or ("name" not in item and "site" not in item):
                raise serializers.ValidationError(
                    'Each profile is a profile name, {"device", "name"}, or a new binding {"site", "ip", '
                    '"port", "host", "sni"}.'
                )
        return value


class ScriptSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")
    path = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    text = serializers.CharField(allow_blank=True, required=False, default="", trim_whitespace=False)


class ScriptsSerializer(serializers.Serializer):
    location = serializers.ChoiceField(choices=[ScriptLocation.PORTAL, ScriptLocation.DEVICE])
    pre = ScriptSerializer(required=False, allow_null=True, default=None)
    post = ScriptSerializer(required=False, allow_null=True, default=None)
    on_post_failure = serializers.ChoiceField(choices=PostScriptFailure.choices, default=PostScriptFailure.ROLLBACK)


class ConnectorWriteSerializer(serializers.Serializer):
    certificate = serializers.IntegerField()
    name = serializers.CharField(max_length=128)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    category = serializers.ChoiceField(choices=["server"], default="server")
    vendor = serializers.ChoiceField(choices=["iis"], default="iis")
    push_type = serializers.ChoiceField(choices=PushType.choices)
    http_sites = serializers.BooleanField(required=False, default=False)
    devices = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    location = LocationSerializer(required=False, default=None, allow_null=True)
    friendly_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    push_chain = serializers.BooleanField(required=False, default=False)
    bind = BindSerializer(required=False, allow_null=True, default=None)  # type: ignore[assignment]
    scripts = ScriptsSerializer(required=False, allow_null=True, default=None)
    overwrite = serializers.BooleanField(required=False, default=False)
    push_automatically = serializers.BooleanField(required=False, default=False)
    secure_push = serializers.BooleanField(required=False, default=True)
    all_or_nothing = serializers.BooleanField(required=False, default=False)
    remove_previous = serializers.BooleanField(required=False, default=False)

    def to_input(self) -> ConnectorInput:
        d = self.validated_data
        location = d.get("location") or {}
        bind = d.get("bind") or {}
        scripts = d.get("scripts") or {}
        data = ConnectorInput(
            name=d["name"],
            description=d["description"],
            push_type=d["push_type"],
            http_sites=d["http_sites"],
            devices=list(d["devices"]),
            location_type=location.get("type", LocationType.CERTIFICATE_STORE),
            store=location.get("store", StoreChoice.PERSONAL),
            file_path=location.get("path", ""),
            file_password=location.get("password"),
            friendly_name=d["friendly_name"],
            push_chain=d["push_chain"],
            bind_type=bind.get("type", ""),
            overwrite=d["overwrite"],
            push_automatically=d["push_automatically"],
            secure_push=d["secure_push"],
            all_or_nothing=d["all_or_nothing"],
            remove_previous=d["remove_previous"],
        )
        for item in bind.get("profiles") or []:
            if isinstance(item, str):
                data.profiles.append(item)
            elif "name" in item:
                device = item.get("device")
                data.profiles.append((int(device), str(item["name"])) if device is not None else str(item["name"]))
            else:
                spec = NewBindingSerializer(data=item)
                spec.is_valid(raise_exception=True)
                data.new_bindings.append(NewBinding(**spec.validated_data))
        if bind.get("changes"):
            data.changes = BindingChanges(**bind["changes"])
        if scripts:
            data.script_location = scripts["location"]
            data.post_script_failure = scripts["on_post_failure"]
            for phase in ("pre", "post"):
                script = scripts.get(phase) or {}
                setattr(data, f"{phase}_script_name", script.get("name", ""))
                setattr(data, f"{phase}_script_path", script.get("path", ""))
                setattr(data, f"{phase}_script_text", script.get("text", ""))
        return data


class TargetSerializer(serializers.ModelSerializer):
    device_name = serializers.CharField(source="device.name", read_only=True)

    class Meta:
        model = ConnectorTarget
        fields = [
            "device",
            "device_name",
            "kind",
            "profile",
            "site",
            "ip",
            "port",
            "host",
            "sni",
            "new_ip",
            "new_port",
            "new_host",
            "ssl_flags_set",
            "ssl_flags_clear",
        ]
        read_only_fields = fields


class ConnectorSerializer(serializers.ModelSerializer):
    devices = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    bind = serializers.SerializerMethodField()  # type: ignore[assignment]
    scripts = serializers.SerializerMethodField()
    targets = TargetSerializer(many=True, read_only=True)

    class Meta:
        model = AppConnector
        fields = [
            "id",
            "certificate",
            "name",
            "description",
            "category",
            "vendor",
            "push_type",
            "http_sites",
            "devices",
            "location",
            "friendly_name",
            "push_chain",
            "bind",
            "scripts",
            "overwrite",
            "push_automatically",
            "secure_push",
            "all_or_nothing",
            "remove_previous",
            "source",
            "sync_status",
            "sync_reason",
            "sync_checked_at",
            "last_push",
            "last_validation",
            "targets",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_devices(self, obj: AppConnector) -> list[int]:
        return sorted({t.device_id for t in obj.targets.all()})

    def get_location(self, obj: AppConnector) -> dict[str, Any]:
        if obj.location_type == LocationType.FILE_SYSTEM:
            return {"type": obj.location_type, "path": obj.file_path, "password_set": bool(obj.file_password)}
        return {"type": obj.location_type, "store": obj.store}

    def get_bind(self, obj: AppConnector) -> dict[str, Any] | None:
        if obj.push_type != PushType.PUSH_AND_BIND:
            return None
        profiles: list[Any] = []
        for t in obj.targets.all():
            if t.kind == "new_binding":
                profiles.append(
                    {"device": t.device_id, "site": t.site, "ip": t.ip, "port": t.port, "host": t.host, "sni": t.sni}
                )
            else:
                profiles.append({"device": t.device_id, "name": t.profile})
        return {"type": obj.bind_type, "profiles": profiles}

    def get_scripts(self, obj: AppConnector) -> dict[str, Any] | None:
        if obj.script_location == ScriptLocation.NONE:
            return None
        return {
            "location": obj.script_location,
            "pre": {"name": obj.pre_script_name, "path": obj.pre_script_path, "text": obj.pre_script_text},
            "post": {"name": obj.post_script_name, "path": obj.post_script_path, "text": obj.post_script_text},
            "on_post_failure": obj.post_script_failure,
        }


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class PushDeviceSerializer(serializers.ModelSerializer):
    device_name = serializers.CharField(source="device.name", read_only=True)

    class Meta:
        model = PushDevice
        fields = [
            "device",
            "device_name",
            "step",
            "thumbprint",
            "preview",
            "refusals",
            "evidence",
            "operations",
            "round_trips",
            "warnings",
            "error",
            "snapshot_source",
            "previewed_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
