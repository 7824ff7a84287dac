"""Forms of the discovery pages (the reference's Tables 6-10). They shape input into `DiscoveryInput`; the rules
live in discovery.services and come back as field errors."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms

from certificates.choices import KeyType
from certificates.models import CertificateGroup
from devices.models import Device
from discovery.choices import (
    DiscoveryFrom,
    DiscoveryType,
    Ends,
    MoveToInventory,
    Occurrence,
    RunType,
    Source,
    Weekday,
)
from discovery.models import Discovery, DiscoveryRule
from discovery.schedule import ScheduleSpec
from discovery.services import DiscoveryInput

# Service error keys (API names) -> form field names.
ERROR_FIELDS = {
    "batches.size": "batch_size",
    "batches.interval_minutes": "interval_minutes",
    "after_discover.move_to_inventory": "move_to_inventory",
    "after_discover.group": "group",
    "schedule.ends_after": "ends_after",
    "schedule.ends_on": "ends_on",
    "schedule.ends": "ends",
}


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


class DiscoveryForm(forms.Form):
    # Discover details (Tables 6-8)
    name = forms.CharField(max_length=100, label="Discovery Instance Name")
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
        help_text="Character limit: 2000 characters.",
    )
    run_type = forms.ChoiceField(
        choices=RunType.choices, widget=forms.RadioSelect, initial=RunType.ON_DEMAND, label="Discovery Run Type"
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices, required=False, initial="UTC", label="Time Zone")
    occurrence = forms.ChoiceField(
        choices=Occurrence.choices, required=False, initial=Occurrence.DAILY, label="Occurrence Type"
    )
    repeat_on = forms.MultipleChoiceField(
        choices=Weekday.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Repeat On"
    )
    time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    starts_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Starts On")
    ends = forms.ChoiceField(choices=Ends.choices, widget=forms.RadioSelect, initial=Ends.NEVER, required=False)
    ends_after = forms.IntegerField(required=False, min_value=1, label="Occurrences")
    ends_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="End date")
    # Discover by (Table 9)
    discovery_from = forms.ChoiceField(choices=DiscoveryFrom.choices, label="Discovery From")
    devices = forms.ModelMultipleChoiceField(
        queryset=Device.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )
    batch_size = forms.IntegerField(min_value=1, max_value=10000, initial=500, label="Batch size")
    sequential = forms.BooleanField(required=False, label="Execute Batches Sequentially")
    interval_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=1440, initial=0, label="Interval Between Batches (minutes)"
    )
    discovery_type = forms.ChoiceField(
        choices=DiscoveryType.choices, widget=forms.RadioSelect, initial=DiscoveryType.ALL, label="Discovery Type"
    )
    sources = forms.MultipleChoiceField(
        choices=Source.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Source.CERTIFICATE_STORE, Source.FILE_SYSTEM],
        help_text="A device's folder or share is read only when its onboarding names one.",
    )
    device_time_limit = forms.IntegerField(
        min_value=10, max_value=3600, initial=300, label="Time limit per device (seconds)"
    )
    # Discovery rules
    rule = forms.ModelChoiceField(
        queryset=DiscoveryRule.objects.all(), required=False, empty_label="No rule", label="Associate Rule"
    )
    # After discover (Table 10)
    move_to_inventory = forms.ChoiceField(
        choices=MoveToInventory.choices,
        initial=MoveToInventory.MANAGED,
        label="Move Certificate to Inventory with Status",
    )
    use_access_control_rule = forms.BooleanField(required=False, label="Use Access Control Rule")
    group = forms.ModelChoiceField(
        queryset=CertificateGroup.objects.all(),
        required=False,
        empty_label="Default group",
        label="Certificate Group",
        help_text="With access control rules, certificates no rule matches go to this group.",
    )

    @classmethod
    def initial_from(cls, discovery: Discovery) -> dict[str, Any]:
        return {
            "name": discovery.name,
            "description": discovery.description,
            "run_type": discovery.run_type,
            "time_zone": discovery.time_zone,
            "occurrence": discovery.occurrence or Occurrence.DAILY,
            "repeat_on": discovery.repeat_on,
            "time": discovery.time,
            "starts_on": discovery.starts_on,
            "ends": discovery.ends,
            "ends_after": discovery.ends_after,
            "ends_on": discovery.ends_on,
            "discovery_from": discovery.discovery_from,
            "devices": list(discovery.devices.values_list("id", flat=True)),
            "batch_size": discovery.batch_size,
            "sequential": discovery.sequential,
            "interval_minutes": discovery.interval_minutes,
            "discovery_type": discovery.discovery_type,
            "sources": discovery.sources,
            "device_time_limit": discovery.device_time_limit,
            "rule": discovery.rule_id,
            "move_to_inventory": discovery.move_to_inventory,
            "use_access_control_rule": discovery.use_access_control_rule,
            "group": discovery.group_id,
        }

    def schedule_spec(self) -> ScheduleSpec:
        data = self.cleaned_data
        return ScheduleSpec(
            time_zone=data.get("time_zone") or "UTC",
            occurrence=data.get("occurrence") or Occurrence.DAILY,
            repeat_on=list(data.get("repeat_on") or []),
            time=data.get("time"),
            starts_on=data.get("starts_on"),
            ends=data.get("ends") or Ends.NEVER,
            ends_after=data.get("ends_after"),
            ends_on=data.get("ends_on"),
        )

    def to_input(self) -> DiscoveryInput:
        data = self.cleaned_data
        scheduled = data["run_type"] == RunType.SCHEDULED
        return DiscoveryInput(
            name=data["name"],
            description=data.get("description") or "",
            run_type=data["run_type"],
            devices=[d.pk for d in data.get("devices") or []],
            discovery_type=data["discovery_type"],
            sources=list(data.get("sources") or []),
            batch_size=data["batch_size"],
            sequential=bool(data.get("sequential")),
            interval_minutes=data.get("interval_minutes") or 0,
            device_time_limit=data["device_time_limit"],
            rule=data["rule"].pk if data.get("rule") else None,
            move_to_inventory=data["move_to_inventory"],
            group=data["group"].pk if data.get("group") else None,
            use_access_control_rule=bool(data.get("use_access_control_rule")),
            schedule=self.schedule_spec() if scheduled else None,
        )

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            field = ERROR_FIELDS.get(key, key.split(".")[-1])
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    issuer_contains = forms.CharField(required=False, max_length=255, label="Issuer contains")
    subject_pattern = forms.CharField(
        required=False, max_length=255, label="Subject / SAN pattern", help_text="* is a wildcard: *.example.com"
    )
    key_types = forms.MultipleChoiceField(
        choices=[(KeyType.RSA, "RSA"), (KeyType.EC, "EC")],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Key types",
        help_text="None ticked: any key type.",
    )
    min_key_size = forms.IntegerField(required=False, min_value=1, label="Minimum key size")
    max_key_size = forms.IntegerField(required=False, min_value=1, label="Maximum key size")
    expires_within_days = forms.IntegerField(required=False, min_value=0, label="Expires within (days)")
    location_pattern = forms.CharField(
        required=False,
        max_length=500,
        label="Store or path",
        help_text="My, WebHosting, or a path with * wildcards: C:\\Certs\\*.pfx",
    )

    @classmethod
    def initial_from(cls, rule: Any) -> dict[str, Any]:
        return {name: getattr(rule, name) for name in cls.base_fields if hasattr(rule, name)}

    def to_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["key_types"] = list(data.get("key_types") or [])
        for name in ("issuer_contains", "subject_pattern", "location_pattern", "description"):
            if name in data:
                data[name] = data[name] or ""
        return data


class AccessRuleForm(RuleForm):
    description = None  # type: ignore[assignment]
    priority = forms.IntegerField(min_value=0, initial=100, help_text="Rules are tried from the lowest number up.")
    enabled = forms.BooleanField(required=False, initial=True)
    group = forms.ModelChoiceField(queryset=CertificateGroup.objects.all(), label="Certificate Group")

    field_order = ["name", "priority", "enabled", "group"]
