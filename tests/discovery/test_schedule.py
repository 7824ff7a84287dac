"""Schedules: the plain-language summary, the next occurrences, validation, and the django-celery-beat entry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from discovery.schedule import ScheduleSpec, crontab_fields, schedule_errors, schedule_next, schedule_summary


def spec(**overrides: Any) -> ScheduleSpec:
    values: dict[str, Any] = {
        "time_zone": "Europe/Paris",
        "occurrence": "daily",
        "time": time(2, 0),
        "starts_on": date(2026, 12, 1),
    }
    values.update(overrides)
    return ScheduleSpec(**values)


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({}, "Every day at 02:00 (Europe/Paris), starting 1 December 2026."),
        (
            {"occurrence": "weekly", "repeat_on": ["thu", "mon"], "ends": "after", "ends_after": 5},
            "Every week on Monday and Thursday at 02:00 (Europe/Paris), starting 1 December 2026, 5 times.",
        ),
        (
            {"occurrence": "weekly", "repeat_on": ["mon", "tue", "wed"]},
            "Every week on Monday, Tuesday and Wednesday at 02:00 (Europe/Paris), starting 1 December 2026.",
        ),
        (
            {"occurrence": "monthly", "starts_on": date(2027, 1, 31), "ends": "on", "ends_on": date(2027, 12, 31)},
            "Every month on the 31st (months without that day are skipped) at 02:00 (Europe/Paris), "
            "starting 31 January 2027, until 31 December 2027.",
        ),
        (
            {"occurrence": "yearly", "starts_on": date(2027, 3, 2), "ends": "after", "ends_after": 1},
            "Every year on 2 March at 02:00 (Europe/Paris), starting 2 March 2027, once only.",
        ),
        ({"time": None}, "Choose a start date and a time to see the schedule."),
    ],
)
def test_the_summary_says_the_schedule_in_one_sentence(overrides: dict, text: str) -> None:
    assert schedule_summary(spec(**overrides)) == text


def test_next_runs_follow_the_weekdays_the_time_zone_and_the_end() -> None:
    weekly = spec(occurrence="weekly", repeat_on=["mon", "thu"], ends="after", ends_after=3)
    runs = schedule_next(weekly, after=datetime(2026, 11, 1, tzinfo=UTC), count=5)
    assert [r.strftime("%a %d %H:%M %Z") for r in runs] == ["Thu 03 02:00 CET", "Mon 07 02:00 CET", "Thu 10 02:00 CET"]
    assert runs[0].astimezone(UTC).hour == 1  # 02:00 in Paris is 01:00 UTC in winter
    assert schedule_next(weekly, after=datetime(2026, 11, 1, tzinfo=UTC), already_run=3) == []
    until = spec(ends="on", ends_on=date(2026, 12, 2))
    assert len(schedule_next(until, after=datetime(2026, 11, 1, tzinfo=UTC), count=5)) == 2


def test_a_yearly_schedule_on_29_february_waits_for_a_leap_year() -> None:
    leap = spec(occurrence="yearly", starts_on=date(2028, 2, 29))
    runs = schedule_next(leap, after=datetime(2028, 3, 1, tzinfo=UTC), count=1)
    assert runs == [datetime(2032, 2, 29, 2, 0, tzinfo=ZoneInfo("Europe/Paris"))]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"occurrence": "weekly", "repeat_on": []}, "repeat_on"),
        ({"occurrence": "weekly", "repeat_on": ["funday"]}, "repeat_on"),
        ({"time": None}, "time"),
        ({"starts_on": None}, "starts_on"),
        ({"ends": "after", "ends_after": None}, "ends_after"),
        ({"ends": "on", "ends_on": date(2026, 11, 1)}, "ends_on"),
    ],
)
def test_an_incomplete_schedule_names_the_field(overrides: dict, field: str) -> None:
    assert field in schedule_errors(spec(**overrides))


def test_crontab_fields_per_occurrence() -> None:
    assert crontab_fields(spec(occurrence="weekly", repeat_on=["sun", "wed"]))["day_of_week"] == "3,0"
    monthly = crontab_fields(spec(occurrence="monthly", starts_on=date(2027, 1, 15), time=time(23, 45)))
    assert (monthly["minute"], monthly["hour"], monthly["day_of_month"], monthly["month_of_year"]) == (
        "45",
        "23",
        "15",
        "*",
    )
    yearly = crontab_fields(spec(occurrence="yearly", starts_on=date(2027, 6, 7)))
    assert (yearly["day_of_month"], yearly["month_of_year"]) == ("7", "6")


def test_saving_a_scheduled_discovery_creates_updates_and_removes_its_beat_entry(db: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    from discovery.services import DiscoveryInput, discovery_save
    from tests.certificates.factories import devices

    (device,) = devices(1)
    data = DiscoveryInput(
        name="nightly",
        run_type="scheduled",
        devices=[device.pk],
        schedule=spec(occurrence="weekly", repeat_on=["mon"], ends="on", ends_on=date(2027, 1, 31)),
    )
    discovery = discovery_save(data=data, user=None)
    task = PeriodicTask.objects.get(pk=discovery.periodic_task_id)
    assert task.task == "discovery.run_scheduled" and json.loads(task.kwargs) == {"discovery_id": discovery.pk}
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("2", "0", "1")
    assert str(task.crontab.timezone) == "Europe/Paris"
    assert task.start_time == datetime(2026, 12, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert task.expires == datetime(2027, 2, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert task.enabled and task.last_run_at is not None
    assert "Every week on Monday" in task.description

    data.schedule = spec(occurrence="daily", time=time(6, 30))
    discovery_save(data=data, user=None, discovery=discovery)
    task.refresh_from_db()
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week, task.expires) == ("6", "30", "*", None)

    data.run_type, data.schedule = "on_demand", None
    discovery_save(data=data, user=None, discovery=discovery)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
