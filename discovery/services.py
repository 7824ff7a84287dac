"""State changes of discovery definitions, rules, access control rules and device favourites (runs: runs.py).

UI forms and API serializers both hand a plain dict to these services; every rule about the fields lives here and
is reported as field errors (ApplicationError), so both surfaces say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F

from certificates.choices import KeyType
from certificates.models import CertificateGroup
from clm.api.errors import ApplicationError, Conflict
from clm.audit import audit_record
from devices.models import Device
from discovery.choices import DiscoveryType, Ends, MoveToInventory, Occurrence, RunTrigger, RunType, Source
from discovery.models import AccessControlRule, DeviceFavourite, Discovery, DiscoveryRule, DiscoveryRun
from discovery.rules import FILTER_FIELDS
from discovery.runs import discovery_run_start
from discovery.schedule import (
    ScheduleSpec,
    discovery_schedule_disable,
    discovery_schedule_sync,
    schedule_errors,
)

Errors = dict[str, list[str]]
DESCRIPTION_LIMIT = 2000


@dataclass
class DiscoveryInput:
    """A discovery as the UI form and the API give it (API.md "Discovery"), already typed."""

    name: str
    description: str = ""
    run_type: str = RunType.ON_DEMAND
    devices: list[int] | None = None
    discovery_type: str = DiscoveryType.ALL
    sources: list[str] | None = None
    batch_size: int = 500
    sequential: bool = False
    interval_minutes: int = 0
    device_time_limit: int = 300
    rule: int | None = None
    move_to_inventory: str = MoveToInventory.MANAGED
    group: int | None = None
    use_access_control_rule: bool = False
    schedule: ScheduleSpec | None = None


def _check(data: DiscoveryInput, instance: Discovery | None) -> Errors:
    errors: Errors = {}
    name = data.name.strip()
    if not name:
        errors["name"] = ["This field is required."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    else:
        taken = Discovery.objects.filter(name__iexact=name)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            errors["name"] = ["A discovery with this name already exists."]
    if len(data.description) > DESCRIPTION_LIMIT:
        errors["description"] = [f"Use at most {DESCRIPTION_LIMIT} characters ({len(data.description)} given)."]
    if data.run_type not in RunType.values:
        errors["run_type"] = ["Choose on_demand or scheduled."]
    if data.discovery_type not in DiscoveryType.values:
        errors["discovery_type"] = ["Choose all or in_use."]
    sources = data.sources if data.sources is not None else [Source.CERTIFICATE_STORE, Source.FILE_SYSTEM]
    if not sources:
        errors["sources"] = ["Choose at least one source."]
    elif any(s not in Source.values for s in sources):
        errors["sources"] = ["Sources are certificate_store and file_system."]
    devices = data.devices or []
    if not devices:
        errors["devices"] = ["Select at least one device."]
    else:
        known = set(Device.objects.filter(pk__in=devices).values_list("id", flat=True))
        missing = [d for d in devices if d not in known]
        if missing:
            errors["devices"] = [f"No device with id {missing[0]}."]
    if not 1 <= data.batch_size <= 10000:
        errors["batches.size"] = ["Use a batch size from 1 to 10,000."]
    if data.sequential and not 0 <= data.interval_minutes <= 1440:
        errors["batches.interval_minutes"] = ["Use an interval from 0 to 1,440 minutes."]
    if not 10 <= data.device_time_limit <= 3600:
        errors["device_time_limit"] = ["Use a time limit from 10 to 3,600 seconds."]
    if data.rule is not None and not DiscoveryRule.objects.filter(pk=data.rule).exists():
        errors["rule"] = [f"No discovery rule with id {data.rule}."]
    if data.move_to_inventory not in MoveToInventory.values:
        errors["after_discover.move_to_inventory"] = ["Choose do_not_move, managed or monitored."]
    if data.group is not None and not CertificateGroup.objects.filter(pk=data.group).exists():
        errors["after_discover.group"] = [f"No certificate group with id {data.group}."]
    if data.run_type == RunType.SCHEDULED:
        if data.schedule is None:
            errors["schedule"] = ["A scheduled discovery needs a schedule."]
        else:
            errors.update({f"schedule.{k}": v for k, v in schedule_errors(data.schedule).items()})
    return errors


def _apply(discovery: Discovery, data: DiscoveryInput) -> None:
    discovery.name = data.name.strip()
    discovery.description = data.description
    discovery.run_type = data.run_type
    discovery.discovery_type = data.discovery_type
    discovery.sources = list(
        data.sources if data.sources is not None else [Source.CERTIFICATE_STORE, Source.FILE_SYSTEM]
    )
    discovery.batch_size = data.batch_size
    discovery.sequential = data.sequential
    discovery.interval_minutes = data.interval_minutes if data.sequential else 0
    discovery.device_time_limit = data.device_time_limit
    discovery.rule_id = data.rule
    discovery.move_to_inventory = data.move_to_inventory
    discovery.group_id = data.group
    discovery.use_access_control_rule = data.use_access_control_rule
    spec = data.schedule if data.run_type == RunType.SCHEDULED else None
    if spec is not None:
        changed = (
            discovery.occurrence,
            discovery.time,
            discovery.starts_on,
            list(discovery.repeat_on or []),
            discovery.time_zone,
        ) != (spec.occurrence, spec.time, spec.starts_on, list(spec.repeat_on), spec.time_zone)
        discovery.time_zone = spec.time_zone
        discovery.occurrence = spec.occurrence
        discovery.repeat_on = list(spec.repeat_on) if spec.occurrence == Occurrence.WEEKLY else []
        discovery.time = spec.time
        discovery.starts_on = spec.starts_on
        discovery.ends = spec.ends
        discovery.ends_after = spec.ends_after if spec.ends == Ends.AFTER else None
        discovery.ends_on = spec.ends_on if spec.ends == Ends.ON else None
        if changed:
            # A new schedule counts its occurrences afresh.
            discovery.occurrences_run = 0
    else:
        discovery.occurrence = ""
        discovery.repeat_on = []
        discovery.time = None
        discovery.starts_on = None
        discovery.ends = Ends.NEVER
        discovery.ends_after = None
        discovery.ends_on = None


def discovery_save(*, data: DiscoveryInput, user: Any, discovery: Discovery | None = None) -> Discovery:
    """Create a discovery (or update `discovery`) and its beat entry. Raises ApplicationError with field errors."""
    errors = _check(data, discovery)
    if errors:
        raise ApplicationError("The discovery is not valid.", errors=errors)
    with transaction.atomic():
        target = discovery or Discovery(created_by=user if getattr(user, "is_authenticated", False) else None)
        _apply(target, data)
        target.save()
        target.devices.set(data.devices or [])
        discovery_schedule_sync(discovery=target)
        audit_record(
            actor=user,
            action="discovery.update" if discovery else "discovery.create",
            obj=target,
            summary=f"Discovery {target.name} {'updated' if discovery else 'created'} ({target.run_type})",
        )
    return target


def discovery_delete(*, discovery: Discovery, user: Any) -> None:
    """Delete a definition and its beat entry; its past runs stay (with its name)."""
    if discovery.runs.filter(state__in=["queued", "running"]).exists():
        raise Conflict("The discovery has a run in progress; wait for it to finish.")
    with transaction.atomic():
        name, pk = discovery.name, discovery.pk
        task = discovery.periodic_task
        discovery.delete()
        if task is not None:
            task.delete()
        audit_record(
            actor=user,
            action="discovery.delete",
            object_type="discovery.discovery",
            object_id=str(pk),
            summary=f"Discovery {name} deleted",
        )


def discovery_run_now(*, discovery: Discovery, user: Any) -> DiscoveryRun:
    """Start a run on demand (allowed for scheduled discoveries too). Refused while one is in progress."""
    if discovery.runs.filter(state__in=["queued", "running"]).exists():
        raise Conflict("This discovery is already running; wait for the run to finish.")
    if not discovery.devices.exists():
        raise ApplicationError("The discovery has no devices.", errors={"devices": ["Select at least one device."]})
    return discovery_run_start(discovery=discovery, user=user, trigger=RunTrigger.MANUAL)


def discovery_run_scheduled(*, discovery_id: int) -> DiscoveryRun | None:
    """What beat's entry calls: count the occurrence and start a run, unless the discovery is gone, on demand now,
    before its start date, past its end, or out of occurrences (then its beat entry is switched off)."""
    from django.utils import timezone

    with transaction.atomic():
        discovery = Discovery.objects.select_for_update().filter(pk=discovery_id).first()
        if discovery is None or discovery.run_type != RunType.SCHEDULED:
            return None
        spec = ScheduleSpec.of(discovery)
        today = timezone.now().astimezone(_zone(spec.time_zone)).date()
        if spec.starts_on and today < spec.starts_on:
            return None
        if spec.ends == Ends.ON and spec.ends_on and today > spec.ends_on:
            discovery_schedule_disable(discovery=discovery)
            return None
        if spec.ends == Ends.AFTER and discovery.occurrences_run >= (spec.ends_after or 0):
            discovery_schedule_disable(discovery=discovery)
            return None
        Discovery.objects.filter(pk=discovery.pk).update(occurrences_run=F("occurrences_run") + 1)
        discovery.refresh_from_db(fields=["occurrences_run"])
        if spec.ends == Ends.AFTER and discovery.occurrences_run >= (spec.ends_after or 0):
            discovery_schedule_disable(discovery=discovery)
        if discovery.runs.filter(state__in=["queued", "running"]).exists():
            # The previous occurrence is still going: this one counts but does not pile up a second run.
            return None
        return discovery_run_start(discovery=discovery, user=None, trigger=RunTrigger.SCHEDULE)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# -- rules ---------------------------------------------------------------------------------------------------------


def _filter_errors(data: dict[str, Any]) -> Errors:
    errors: Errors = {}
    key_types = data.get("key_types") or []
    if any(t not in KeyType.values for t in key_types):
        errors["key_types"] = [f"Key types are among {', '.join(KeyType.values)}."]
    low, high = data.get("min_key_size"), data.get("max_key_size")
    if low is not None and high is not None and low > high:
        errors["max_key_size"] = ["The maximum key size is smaller than the minimum."]
    return errors


def _rule_save(
    model: type[Any], fields: tuple[str, ...], data: dict[str, Any], user: Any, instance: Any, action: str
) -> Any:
    from django.core.exceptions import ValidationError

    target = instance or model()
    for name in fields:
        if name in data:
            setattr(target, name, data[name])
    target.name = str(target.name or "").strip()
    errors: Errors = {}
    try:
        target.full_clean(validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    taken = model.objects.filter(name__iexact=target.name)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if target.name and taken.exists():
        errors["name"] = ["A rule with this name already exists."]
    for name, messages in _filter_errors({n: getattr(target, n) for n in FILTER_FIELDS}).items():
        errors.setdefault(name, messages)
    if errors:
        raise ApplicationError("The rule is not valid.", errors=errors)
    target.save()
    audit_record(
        actor=user,
        action=f"{action}.{'update' if instance else 'create'}",
        obj=target,
        summary=f"{model._meta.verbose_name.capitalize()} {target.name} {'updated' if instance else 'created'}",
    )
    return target


RULE_FIELDS = ("name", "description", *FILTER_FIELDS)
ACCESS_RULE_FIELDS = ("name", "priority", "enabled", "group", *FILTER_FIELDS)


def discovery_rule_save(*, data: dict[str, Any], user: Any, rule: DiscoveryRule | None = None) -> DiscoveryRule:
    """Create or update a discovery rule (a named set of filters)."""
    return _rule_save(DiscoveryRule, RULE_FIELDS, data, user, rule, "discovery_rule")


def discovery_rule_delete(*, rule: DiscoveryRule, user: Any) -> None:
    """Delete a rule no discovery uses."""
    users = list(rule.discoveries.values_list("name", flat=True))
    if users:
        raise Conflict(f"The rule is used by discovery(ies): {', '.join(users)}.")
    name, pk = rule.name, rule.pk
    rule.delete()
    audit_record(
        actor=user,
        action="discovery_rule.delete",
        object_type="discovery.discoveryrule",
        object_id=str(pk),
        summary=f"Discovery rule {name} deleted",
    )


def access_rule_save(*, data: dict[str, Any], user: Any, rule: AccessControlRule | None = None) -> AccessControlRule:
    """Create or update an access control rule (filters -> certificate group)."""
    if "group" in data and data["group"] is None:
        raise ApplicationError("Choose a group.", errors={"group": ["This field is required."]})
    return _rule_save(AccessControlRule, ACCESS_RULE_FIELDS, data, user, rule, "access_rule")


def access_rule_delete(*, rule: AccessControlRule, user: Any) -> None:
    name, pk = rule.name, rule.pk
    rule.delete()
    audit_record(
        actor=user,
        action="access_rule.delete",
        object_type="discovery.accesscontrolrule",
        object_id=str(pk),
        summary=f"Access control rule {name} deleted",
    )


# -- favourites ----------------------------------------------------------------------------------------------------


def device_favourite_set(*, user: Any, device: Device, favourite: bool) -> bool:
    """Mark or unmark a device as one of the user's favourites in the device picker. Returns the new state."""
    if favourite:
        DeviceFavourite.objects.get_or_create(user=user, device=device)
    else:
        DeviceFavourite.objects.filter(user=user, device=device).delete()
    return favourite
