"""Serializers of the inventory API (API.md "Inventory", groups and policies)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from certificates.choices import INVENTORY_STATUSES, LocationKind
from certificates.compliance import certificate_compliance
from certificates.models import Certificate, CertificateBinding, CertificateGroup, CertificateLocation, Policy


class BindingSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site_name")

    class Meta:
        model = CertificateBinding
        fields = [
            "kind",
            "site",
            "site_id",
            "protocol",
            "ip",
            "port",
            "host",
            "sni",
            "ssl_flags",
            "binding_information",
            "http_sys_endpoint",
        ]
        read_only_fields = fields


class LocationSerializer(serializers.ModelSerializer):
    device_name = serializers.CharField(source="device.name", read_only=True)
    bindings = BindingSerializer(many=True, read_only=True)

    class Meta:
        model = CertificateLocation
        fields = [
            "device",
            "device_name",
            "kind",
            "store",
            "path",
            "state",
            "friendly_name",
            "has_private_key",
            "last_seen",
            "bindings",
        ]
        read_only_fields = fields

    def to_representation(self, instance: CertificateLocation) -> dict[str, Any]:
        return location_as_dict(instance)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def binding_as_dict(binding: CertificateBinding) -> dict[str, Any]:
    return {
        "kind": binding.kind,
        "site": binding.site_name,
        "site_id": binding.site_id,
        "protocol": binding.protocol,
        "ip": binding.ip,
        "port": binding.port,
        "host": binding.host,
        "sni": binding.sni,
        "ssl_flags": binding.ssl_flags,
        "binding_information": binding.binding_information,
        "http_sys_endpoint": binding.http_sys_endpoint,
    }


def location_as_dict(location: CertificateLocation) -> dict[str, Any]:
    """The API shape of a location, built directly: DRF's generic field machinery costs more than the query on a
    page of a million-row list. API.md: a location names either its store or its file path."""
    data: dict[str, Any] = {
        "device": location.device_id,
        "device_name": location.device.name if location.device_id else None,
        "kind": location.kind,
    }
    if location.kind == LocationKind.STORE:
        data["store"] = location.store
    else:
        data["path"] = location.path
    data.update(
        state=location.state,
        friendly_name=location.friendly_name,
        has_private_key=location.has_private_key,
        last_seen=_iso(location.last_seen),
        bindings=[binding_as_dict(b) for b in location.bindings.all()],
    )
    return data


class CertificateSerializer(serializers.ModelSerializer):
    group = serializers.SerializerMethodField()
    group_name = serializers.SerializerMethodField()
    has_private_key = serializers.SerializerMethodField()
    key_location = serializers.SerializerMethodField()
    sans = serializers.SerializerMethodField()
    locations = LocationSerializer(many=True, read_only=True)
    connectors = serializers.SerializerMethodField()
    compliance = serializers.SerializerMethodField()
    in_use = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "common_name",
            "subject",
            "issuer",
            "issuer_common_name",
            "serial",
            "sans",
            "key_type",
            "key_size",
            "signature_hash",
            "not_before",
            "not_after",
            "thumbprint",
            "sha256",
            "has_private_key",
            "key_location",
            "status",
            "group",
            "group_name",
            "parent",
            "is_client",
            "is_ca",
            "extended_key_usage",
            "source",
            "location_count",
            "binding_count",
            "in_use",
            "compliance",
            "locations",
            "connectors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _default_group(self) -> CertificateGroup:
        group = self.context.get("default_group")
        if group is None:
            from certificates.selectors import group_default

            group = group_default()
            self.context["default_group"] = group  # type: ignore[index]  # a dict at runtime, cached per request
        return group

    def get_group(self, obj: Certificate) -> int:
        return obj.group_id or self._default_group().pk

    def get_group_name(self, obj: Certificate) -> str:
        return obj.group.name if obj.group is not None else self._default_group().name

    def get_has_private_key(self, obj: Certificate) -> bool:
        return hasattr(obj, "private_key")

    def get_key_location(self, obj: Certificate) -> str | None:
        return obj.private_key.location if hasattr(obj, "private_key") else None

    def get_sans(self, obj: Certificate) -> dict[str, list[str]]:
        sans = obj.sans or {}
        return {"dns": list(sans.get("dns", [])), "ip": list(sans.get("ip", []))}

    def get_connectors(self, obj: Certificate) -> list[dict[str, Any]]:
        return list(self.context.get("connectors", {}).get(obj.pk, []))

    def get_compliance(self, obj: Certificate) -> dict[str, Any]:
        return certificate_compliance(obj, self._default_group()).as_dict()

    def get_in_use(self, obj: Certificate) -> bool:
        return obj.binding_count > 0

    def to_representation(self, instance: Certificate) -> dict[str, Any]:
        """Built directly (same fields as declared above, which also document the schema): a page of 500
        certificates with their locations is serialised in a few milliseconds instead of tens."""
        sans = instance.sans or {}
        key = getattr(instance, "private_key", None) if hasattr(instance, "private_key") else None
        return {
            "id": instance.pk,
            "common_name": instance.common_name,
            "subject": instance.subject,
            "issuer": instance.issuer,
            "issuer_common_name": instance.issuer_common_name,
            "serial": instance.serial,
            "sans": {"dns": list(sans.get("dns", [])), "ip": list(sans.get("ip", []))},
            "key_type": instance.key_type,
            "key_size": instance.key_size,
            "signature_hash": instance.signature_hash,
            "not_before": _iso(instance.not_before),
            "not_after": _iso(instance.not_after),
            "thumbprint": instance.thumbprint,
            "sha256": instance.sha256,
            "has_private_key": key is not None,
            "key_location": key.location if key is not None else None,
            "status": instance.status,
            "group": self.get_group(instance),
            "group_name": self.get_group_name(instance),
            "parent": instance.parent_id,
            "is_client": instance.is_client,
            "is_ca": instance.is_ca,
            "extended_key_usage": list(instance.extended_key_usage or []),
            "source": instance.source,
            "location_count": instance.location_count,
            "binding_count": instance.binding_count,
            "in_use": instance.binding_count > 0,
            "compliance": self.get_compliance(instance),
            "locations": [location_as_dict(loc) for loc in instance.locations.all()],
            "connectors": self.get_connectors(instance),
            "created_at": _iso(instance.created_at),
            "updated_at": _iso(instance.updated_at),
        }


class CertificateMoveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[(s.value, s.label) for s in INVENTORY_STATUSES])
    group = serializers.PrimaryKeyRelatedField(queryset=CertificateGroup.objects.all(), allow_null=True, default=None)


class CertificateBulkMoveSerializer(CertificateMoveSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=5000)


class MovedSerializer(serializers.Serializer):
    moved = serializers.IntegerField()


class InventoryPageSerializer(serializers.Serializer):
    results = CertificateSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class GroupSerializer(serializers.ModelSerializer):
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.all(), allow_null=True, required=False)
    policy_name = serializers.CharField(source="policy.name", read_only=True, default=None)
    certificate_count = serializers.SerializerMethodField()

    class Meta:
        model = CertificateGroup
        fields = [
            "id",
            "name",
            "description",
            "policy",
            "policy_name",
            "is_default",
            "renew_automatically",
            "regenerate_automatically",
            "push_automatically",
            "certificate_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "is_default", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}

    def get_certificate_count(self, obj: CertificateGroup) -> int:
        counts = self.context.get("group_counts")
        if counts is not None:
            return int(counts.get(obj.pk, 0))
        return obj.certificates.count()


class PolicySerializer(serializers.ModelSerializer):
    allowed_key_types = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_rsa_sizes = serializers.ListField(child=serializers.IntegerField(), required=False)
    allowed_ec_curves = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_hashes = serializers.ListField(child=serializers.CharField(), required=False)
    groups: serializers.SlugRelatedField = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "description",
            "allowed_key_types",
            "allowed_rsa_sizes",
            "allowed_ec_curves",
            "allowed_hashes",
            "max_validity_days",
            "default_key_type",
            "default_key_size",
            "default_hash",
            "organization",
            "organizational_unit",
            "locality",
            "state",
            "country",
            "approval_levels",
            "groups",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "groups", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}
