"""Schedules of discoveries: validation, the plain-language summary, the next occurrences, and the
django-celery-beat entry that fires them (a CrontabSchedule in the discovery's time zone, a start time and, for
"ends on", an expiry). "Ends after N" is counted by the scheduled task itself, which disables the entry at N.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.db import transaction

from discovery.choices import CRON_WEEKDAY, WEEKDAY_ORDER, Ends, Occurrence, RunType, Weekday

SCHEDULED_TASK = "discovery.run_scheduled"
WEEKDAY_NAMES = dict(Weekday.choices)


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as the form and the API give it (strings already parsed)."""

    time_zone: str = "UTC"
    occurrence: str = Occurrence.DAILY
    repeat_on: list[str] = field(default_factory=list)
    time: time | None = None
    starts_on: date | None = None
    ends: str = Ends.NEVER
    ends_after: int | None = None
    ends_on: date | None = None

    @classmethod
    def of(cls, discovery: Any) -> ScheduleSpec:
        return cls(
            time_zone=discovery.time_zone or "UTC",
            occurrence=discovery.occurrence or Occurrence.DAILY,
            repeat_on=list(discovery.repeat_on or []),
            time=discovery.time,
            starts_on=discovery.starts_on,
            ends=discovery.ends or Ends.NEVER,
            ends_after=discovery.ends_after,
            ends_on=discovery.ends_on,
        )


def time_zone_valid(name: str) -> bool:
    if not name or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def schedule_errors(spec: ScheduleSpec) -> dict[str, list[str]]:
    """Field errors of a schedule (keys are the schedule's field names)."""
    errors: dict[str, list[str]] = {}
    if not time_zone_valid(spec.time_zone):
        errors["time_zone"] = ["Choose a time zone from the list (for example Europe/Paris)."]
    if spec.occurrence not in Occurrence.values:
        errors["occurrence"] = ["Choose daily, weekly, monthly or yearly."]
    if spec.occurrence == Occurrence.WEEKLY:
        if not spec.repeat_on:
            errors["repeat_on"] = ["Choose at least one day of the week."]
        elif any(day not in WEEKDAY_ORDER for day in spec.repeat_on):
            errors["repeat_on"] = ["Use mon, tue, wed, thu, fri, sat or sun."]
    if spec.time is None:
        errors["time"] = ["Give the time of day the discovery starts (HH:MM)."]
    if spec.starts_on is None:
        errors["starts_on"] = ["This field is required."]
    if spec.ends not in Ends.values:
        errors["ends"] = ["Choose never, after or on."]
    elif spec.ends == Ends.AFTER and (spec.ends_after is None or spec.ends_after < 1):
        errors["ends_after"] = ["Give the number of occurrences (1 or more)."]
    elif spec.ends == Ends.ON:
        if spec.ends_on is None:
            errors["ends_on"] = ["Give the date the discovery stops."]
        elif spec.starts_on is not None and spec.ends_on < spec.starts_on:
            errors["ends_on"] = ["The end date is before the start date."]
    return errors


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(value: date) -> str:
    return f"{value.day} {calendar.month_name[value.month]} {value.year}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def schedule_summary(spec: ScheduleSpec) -> str:
    """The reference's "Summary": the schedule in one plain sentence, e.g. "Every week on Monday and Thursday at
    02:00 (Europe/Paris), starting 1 December 2026, 5 times.". Incomplete schedules say what is missing."""
    if spec.time is None or spec.starts_on is None:
        return "Choose a start date and a time to see the schedule."
    at = f"at {spec.time:%H:%M} ({spec.time_zone})"
    start = spec.starts_on
    if spec.occurrence == Occurrence.WEEKLY:
        days = [WEEKDAY_NAMES[d] for d in WEEKDAY_ORDER if d in spec.repeat_on]
        if not days:
            return "Choose the days of the week to see the schedule."
        every = "Every day" if len(days) == 7 else f"Every week on {_join(days)}"
    elif spec.occurrence == Occurrence.MONTHLY:
        every = f"Every month on the {_ordinal(start.day)}"
        if start.day > 28:
            every += " (months without that day are skipped)"
    elif spec.occurrence == Occurrence.YEARLY:
        every = f"Every year on {start.day} {calendar.month_name[start.month]}"
    else:
        every = "Every day"
    text = f"{every} {at}, starting {_day(start)}"
    if spec.ends == Ends.AFTER and spec.ends_after:
        text += ", once only" if spec.ends_after == 1 else f", {spec.ends_after} times"
    elif spec.ends == Ends.ON and spec.ends_on:
        text += f", until {_day(spec.ends_on)}"
    return text + "."


def _fires_on(spec: ScheduleSpec, day: date) -> bool:
    start = spec.starts_on or day
    if spec.occurrence == Occurrence.WEEKLY:
        return WEEKDAY_ORDER[day.weekday()] in spec.repeat_on
    if spec.occurrence == Occurrence.MONTHLY:
        return day.day == start.day
    if spec.occurrence == Occurrence.YEARLY:
        return (day.month, day.day) == (start.month, start.day)
    return True


def schedule_next(spec: ScheduleSpec, *, after: datetime, count: int = 3, already_run: int = 0) -> list[datetime]:
    """The next `count` times (aware, in the schedule's time zone) after `after`, honouring start and end."""
    if spec.time is None or spec.starts_on is None or not time_zone_valid(spec.time_zone):
        return []
    tz = ZoneInfo(spec.time_zone)
    remaining = None
    if spec.ends == Ends.AFTER and spec.ends_after:
        remaining = max(0, spec.ends_after - already_run)
        count = min(count, remaining)
    out: list[datetime] = []
    day = max(spec.starts_on, after.astimezone(tz).date())
    # Yearly schedules need up to four years of days (29 February), the rest much less.
    for _ in range(366 * 4 + 1):
        if len(out) >= count:
            break
        if spec.ends == Ends.ON and spec.ends_on and day > spec.ends_on:
            break
        if _fires_on(spec, day):
            moment = datetime.combine(day, spec.time, tzinfo=tz)
            if moment > after:
                out.append(moment)
        day += timedelta(days=1)
    return out


def crontab_fields(spec: ScheduleSpec) -> dict[str, str]:
    assert spec.time is not None and spec.starts_on is not None
    fields = {
        "minute": str(spec.time.minute),
        "hour": str(spec.time.hour),
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
    }
    if spec.occurrence == Occurrence.WEEKLY:
        fields["day_of_week"] = ",".join(str(CRON_WEEKDAY[d]) for d in WEEKDAY_ORDER if d in spec.repeat_on)
    elif spec.occurrence == Occurrence.MONTHLY:
        fields["day_of_month"] = str(spec.starts_on.day)
    elif spec.occurrence == Occurrence.YEARLY:
        fields["day_of_month"] = str(spec.starts_on.day)
        fields["month_of_year"] = str(spec.starts_on.month)
    return fields


def periodic_task_name(discovery: Any) -> str:
    return f"discovery:{discovery.pk}"


@transaction.atomic
def discovery_schedule_sync(*, discovery: Any) -> None:
    """Make the beat entry match the discovery: created or updated for a scheduled discovery (enabled while it has
    occurrences left), removed for an on-demand one. Beat reads entries from the database, so they survive restarts.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    task = discovery.periodic_task
    if discovery.run_type != RunType.SCHEDULED:
        if task is not None:
            discovery.periodic_task = None
            discovery.save(update_fields=["periodic_task"])
            task.delete()
        return
    spec = ScheduleSpec.of(discovery)
    tz = ZoneInfo(spec.time_zone)
    crontab, _ = CrontabSchedule.objects.get_or_create(**crontab_fields(spec), timezone=tz)
    assert spec.starts_on is not None
    start = datetime.combine(spec.starts_on, time.min, tzinfo=tz)
    expires = None
    if spec.ends == Ends.ON and spec.ends_on:
        expires = datetime.combine(spec.ends_on + timedelta(days=1), time.min, tzinfo=tz)
    left = spec.ends != Ends.AFTER or (spec.ends_after or 0) > discovery.occurrences_run
    # django-celery-beat treats an entry that never ran as due at once (it backdates last_run_at 30 years): a new
    # or rescheduled discovery "last ran" at its start instead, so the first run is the first scheduled time.
    last_run_at = (
        max(start - timedelta(minutes=1), datetime.now(tz))
        if task is None or _schedule_changed(task, crontab, start)
        else None
    )
    values: dict[str, Any] = {
        "name": periodic_task_name(discovery),
        "task": SCHEDULED_TASK,
        "crontab": crontab,
        "interval": None,
        "kwargs": json.dumps({"discovery_id": discovery.pk}),
        "start_time": start,
        "expires": expires,
        "enabled": left,
        "description": schedule_summary(spec),
    }
    if last_run_at is not None:
        values["last_run_at"] = last_run_at
    if task is None:
        task = PeriodicTask.objects.create(**values)
        discovery.periodic_task = task
        discovery.save(update_fields=["periodic_task"])
    else:
        for name, value in values.items():
            setattr(task, name, value)
        task.save()


def _schedule_changed(task: Any, crontab: Any, start: datetime) -> bool:
    return task.crontab_id != crontab.pk or task.start_time != start


def discovery_schedule_disable(*, discovery: Any) -> None:
    """Switch the beat entry off (the schedule has run its course)."""
    from django_celery_beat.models import PeriodicTask

    if discovery.periodic_task_id:
        PeriodicTask.objects.filter(pk=discovery.periodic_task_id).update(enabled=False)
        # django-celery-beat notices changed entries through its change tracker.
        from django_celery_beat.models import PeriodicTasks

        PeriodicTasks.update_changed()
