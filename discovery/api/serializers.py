"""Serializers of the discovery API (API.md "Discovery"): nested `batches`, `after_discover` and `schedule`."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from discovery.choices import (
    DiscoveryType,
    Ends,
    MoveToInventory,
    Occurrence,
    RunState,
    RunType,
    Source,
    Weekday,
)
from discovery.models import AccessControlRule, Discovery, DiscoveryRule, DiscoveryRun, DiscoveryRunDevice
from discovery.schedule import ScheduleSpec, schedule_next, schedule_summary
from discovery.services import DiscoveryInput


class EndsSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Ends.choices, default=Ends.NEVER)
    occurrences = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    date = serializers.DateField(required=False, allow_null=True)


class ScheduleSerializer(serializers.Serializer):
    time_zone = serializers.CharField(default="UTC")
    occurrence = serializers.ChoiceField(choices=Occurrence.choices)
    repeat_on = serializers.ListField(child=serializers.ChoiceField(choices=Weekday.choices), required=False)
    time = serializers.TimeField(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"])
    starts_on = serializers.DateField()
    ends = EndsSerializer(required=False)
    summary = serializers.CharField(read_only=True)
    next_runs = serializers.ListField(child=serializers.DateTimeField(), read_only=True)
    occurrences_run = serializers.IntegerField(read_only=True)


class BatchesSerializer(serializers.Serializer):
    sequential = serializers.BooleanField(default=False)
    size = serializers.IntegerField(min_value=1, max_value=10000, default=500)
    interval_minutes = serializers.IntegerField(min_value=0, max_value=1440, default=0)


class AfterDiscoverSerializer(serializers.Serializer):
    move_to_inventory = serializers.ChoiceField(choices=MoveToInventory.choices, default=MoveToInventory.MANAGED)
    group = serializers.IntegerField(allow_null=True, required=False, default=None)
    use_access_control_rule = serializers.BooleanField(default=False)


class LastRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DiscoverySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_blank=True, required=False, default="", max_length=2000)
    run_type = serializers.ChoiceField(choices=RunType.choices, default=RunType.ON_DEMAND)
    discovery_from = serializers.CharField(read_only=True)
    devices = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=True)
    discovery_type = serializers.ChoiceField(choices=DiscoveryType.choices, default=DiscoveryType.ALL)
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=Source.choices),
        default=[Source.CERTIFICATE_STORE, Source.FILE_SYSTEM],
    )
    batches = BatchesSerializer(required=False)
    device_time_limit = serializers.IntegerField(min_value=10, max_value=3600, default=300)
    rule = serializers.IntegerField(allow_null=True, required=False, default=None)
    after_discover = AfterDiscoverSerializer(required=False)
    schedule = ScheduleSerializer(allow_null=True, required=False, default=None)
    last_run = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_last_run(self, obj: Discovery) -> dict[str, Any] | None:
        run = obj.runs.order_by("-created_at", "-id").first()
        return LastRunSerializer(run).data if run else None

    def to_representation(self, instance: Discovery) -> dict[str, Any]:
        spec = ScheduleSpec.of(instance) if instance.run_type == RunType.SCHEDULED else None
        schedule = None
        if spec is not None:
            schedule = {
                "time_zone": spec.time_zone,
                "occurrence": spec.occurrence,
                "repeat_on": spec.repeat_on,
                "time": spec.time.strftime("%H:%M") if spec.time else None,
                "starts_on": spec.starts_on.isoformat() if spec.starts_on else None,
                "ends": {"type": spec.ends, "occurrences": spec.ends_after, "date": spec.ends_on},
                "summary": schedule_summary(spec),
                "next_runs": [
                    t.isoformat()
                    for t in schedule_next(spec, after=timezone.now(), already_run=instance.occurrences_run)
                ],
                "occurrences_run": instance.occurrences_run,
                "beat_entry": instance.periodic_task.name if instance.periodic_task else None,
                "enabled": bool(instance.periodic_task and instance.periodic_task.enabled),
            }
        return {
            "id": instance.pk,
            "name": instance.name,
            "description": instance.description,
            "run_type": instance.run_type,
            "discovery_from": instance.discovery_from,
            "devices": sorted(d.pk for d in instance.devices.all()),
            "discovery_type": instance.discovery_type,
            "sources": list(instance.sources or []),
            "batches": {
                "sequential": instance.sequential,
                "size": instance.batch_size,
                "interval_minutes": instance.interval_minutes,
            },
            "device_time_limit": instance.device_time_limit,
            "rule": instance.rule_id,
            "after_discover": {
                "move_to_inventory": instance.move_to_inventory,
                "group": instance.group_id,
                "use_access_control_rule": instance.use_access_control_rule,
            },
            "schedule": schedule,
            "last_run": self.get_last_run(instance),
            "created_at": instance.created_at.isoformat() if instance.created_at else None,
            "updated_at": instance.updated_at.isoformat() if instance.updated_at else None,
        }

    def to_input(self) -> DiscoveryInput:
        data = self.validated_data
        batches = data.get("batches") or {}
        after = data.get("after_discover") or {}
        schedule = data.get("schedule")
        spec = None
        if schedule:
            ends = schedule.get("ends") or {}
            spec = ScheduleSpec(
                time_zone=schedule.get("time_zone") or "UTC",
                occurrence=schedule["occurrence"],
                repeat_on=list(schedule.get("repeat_on") or []),
                time=schedule["time"],
                starts_on=schedule["starts_on"],
                ends=ends.get("type", Ends.NEVER),
                ends_after=ends.get("occurrences"),
                ends_on=ends.get("date"),
            )
        return DiscoveryInput(
            name=data["name"],
            description=data.get("description", ""),
            run_type=data.get("run_type", RunType.ON_DEMAND),
            devices=list(data.get("devices") or []),
            discovery_type=data.get("discovery_type", DiscoveryType.ALL),
            sources=list(data.get("sources") or []),
            batch_size=batches.get("size", 500),
            sequential=batches.get("sequential", False),
            interval_minutes=batches.get("interval_minutes", 0),
            device_time_limit=data.get("device_time_limit", 300),
            rule=data.get("rule"),
            move_to_inventory=after.get("move_to_inventory", MoveToInventory.MANAGED),
            group=after.get("group"),
            use_access_control_rule=after.get("use_access_control_rule", False),
            schedule=spec,
        )


class RunCreatedSerializer(serializers.Serializer):
    run = serializers.IntegerField()


class RunDeviceSerializer(serializers.ModelSerializer):
    seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = DiscoveryRunDevice
        fields = [
            "device",
            "device_name",
            "batch",
            "state",
            "error_kind",
            "error",
            "sources",
            "certificates_found",
            "certificates_new",
            "locations_added",
            "locations_removed",
            "bindings_found",
            "locked_files",
            "filtered_out",
            "attempts",
            "started_at",
            "finished_at",
            "seconds",
        ]
        read_only_fields = fields


class DiscoveryRunSerializer(serializers.ModelSerializer):
    devices = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(choices=RunState.choices, read_only=True)

    class Meta:
        model = DiscoveryRun
        fields = [
            "id",
            "discovery",
            "discovery_name",
            "trigger",
            "state",
            "error",
            "percent",
            "batches_total",
            "batches_started",
            "devices_total",
            "devices_done",
            "devices_failed",
            "devices_skipped",
            "certificates_found",
            "certificates_new",
            "locations_added",
            "locations_removed",
            "bindings_found",
            "locked_files",
            "options",
            "created_at",
            "started_at",
            "finished_at",
            "devices",
        ]
        read_only_fields = fields

    def get_devices(self, obj: DiscoveryRun) -> list[dict[str, Any]]:
        if not self.context.get("with_devices", True):
            return []
        return list(RunDeviceSerializer(obj.device_rows.all(), many=True).data)


class RuleSerializer(serializers.ModelSerializer):
    key_types = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        model = DiscoveryRule
        fields = [
            "id",
            "name",
            "description",
            "issuer_contains",
            "subject_pattern",
            "key_types",
            "min_key_size",
            "max_key_size",
            "expires_within_days",
            "location_pattern",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}


class AccessRuleSerializer(RuleSerializer):
    class Meta:
        model = AccessControlRule
        fields = [
            "id",
            "name",
            "priority",
            "enabled",
            "group",
            "issuer_contains",
            "subject_pattern",
            "key_types",
            "min_key_size",
            "max_key_size",
            "expires_within_days",
            "location_pattern",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}
