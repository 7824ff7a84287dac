"""Reading and changing the General Settings (one row, created on first use)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from clm.audit import audit_record
from connectors.models import GeneralSettings

SINGLETON_ID = 1
PUSH_VALIDATION_TASK = "connectors: push validation"


def general_settings_get() -> GeneralSettings:
    settings, _ = GeneralSettings.objects.get_or_create(pk=SINGLETON_ID)
    return settings


@transaction.atomic
def general_settings_update(*, actor: Any, **changes: Any) -> GeneralSettings:
    """Apply validated changes to the General Settings and record what changed in the audit trail."""
    settings = GeneralSettings.objects.select_for_update().get_or_create(pk=SINGLETON_ID)[0]
    changed = {name: value for name, value in changes.items() if getattr(settings, name) != value}
    if not changed:
        return settings
    for name, value in changed.items():
        setattr(settings, name, value)
    settings.full_clean()
    settings.save()
    if "push_validation_interval_minutes" in changed:
        push_validation_schedule_sync(minutes=settings.push_validation_interval_minutes)
    summary = ", ".join(f"{name}={value}" for name, value in changed.items())
    audit_record(
        actor=actor, action="settings.general.updated", summary=f"general settings changed: {summary}", obj=settings
    )
    return settings


def push_validation_schedule_sync(*, minutes: int) -> None:
    """Point beat's push-validation entry at the configured interval (the entry is created by a migration)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.update_or_create(
        name=PUSH_VALIDATION_TASK,
        defaults={"task": "connectors.push_validation", "interval": interval, "enabled": True},
    )
