"""Acceptance of discovery (issue [discovery]) with the real parts: the demo lab over real WinRM, real Celery workers
on Redis, PostgreSQL, and the REST API as an integrator uses it.

- an on-demand discovery finds exactly the lab's certificates (count and thumbprints) with their locations and
  bindings (IPv6 parsed), reports the locked PFX, and a second run changes nothing;
- the in-use type leaves unbound certificates out;
- with a fault on one host (refused, authentication failure, timeout) the run completes, that host says why, and the
  others are recorded;
- a certificate removed on a host loses that location when rediscovered;
- a scheduled discovery gets its beat entry, runs when due (beat's own due-time logic, with its clock moved), and
  one that ends after 2 occurrences stops after two runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from certificates.models import CertificateBinding, CertificateLocation
from discovery.models import Discovery, DiscoveryRun
from iissim.lab import Lab
from tests.devices.labs import redis_broker_in_use, running_lab
from tests.discovery.labhelpers import LOCKED, expected_for, onboard_demo

pytestmark = pytest.mark.integration

RUN_DEADLINE = 180


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def worker(worker_factory: Any) -> Iterator[Any]:
    """One real worker for the `default` queue (batches, schedules) and the integrated gateway's `devices` queue."""
    with redis_broker_in_use() as url:
        yield worker_factory("discovery", ["default", "devices"], url, concurrency=3)


def _create(api: Any, admin: Any, devices: dict[str, Any], **fields: Any) -> int:
    body = {
        "name": fields.pop("name", "acceptance"),
        "description": "",
        "run_type": "on_demand",
        "devices": [d.pk for d in devices.values()],
        "discovery_type": "all",
        "sources": ["certificate_store", "file_system"],
        "batches": {"sequential": False, "size": 500, "interval_minutes": 0},
        "rule": None,
        "after_discover": {"move_to_inventory": "managed", "group": None, "use_access_control_rule": False},
        "schedule": None,
        **fields,
    }
    response = api(admin).post("/api/v1/discoveries/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def _run(api: Any, admin: Any, discovery_id: int, worker: Any) -> dict[str, Any]:
    response = api(admin).post(f"/api/v1/discoveries/{discovery_id}/run/")
    assert response.status_code == 202, response.json()
    return _wait(api, admin, response.json()["run"], worker)


def _wait(api: Any, admin: Any, run_id: int, worker: Any) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_DEADLINE
    while time.monotonic() < deadline:
        data = api(admin).get(f"/api/v1/discovery-runs/{run_id}/").json()
        if data["state"] in ("completed", "failed"):
            return data
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish: {data}\n{worker.log()[-4000:]}")


def _inventory(api: Any, user: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    url = "/api/v1/certificates/?page_size=500&ordering=common_name"
    while url:
        page = api(user).get(url).json()
        results.extend(page["results"])
        url = page["next"]
    return results


def test_an_on_demand_discovery_finds_exactly_the_lab_and_a_second_run_changes_nothing(
    lab: Lab, worker: Any, api: Any, admin_user: Any, auditor: Any
) -> None:
    devices = onboard_demo(lab)
    discovery_id = _create(api, admin_user, devices)
    run = _run(api, admin_user, discovery_id, worker)
    assert run["state"] == "completed", run
    assert run["devices_total"] == run["devices_done"] == 3 and run["devices_failed"] == 0
    assert {d["state"] for d in run["devices"]} == {"completed"}

    expected = {name: expected_for(lab, name) for name in devices}
    wanted = set().union(*(e.thumbprints for e in expected.values()))
    inventory = _inventory(api, auditor)
    assert len(inventory) == len(wanted) == run["certificates_found"]
    assert {c["thumbprint"] for c in inventory} == wanted

    by_device = {d.pk: name for name, d in devices.items()}
    for name, want in expected.items():
        seen_store = {
            (loc["store"], c["thumbprint"])
            for c in inventory
            for loc in c["locations"]
            if by_device[loc["device"]] == name and loc["kind"] == "store"
        }
        seen_files = {
            loc["path"]: c["thumbprint"]
            for c in inventory
            for loc in c["locations"]
            if by_device[loc["device"]] == name and loc["kind"] == "file"
        }
        assert seen_store == want.store, name
        assert seen_files == want.files, name

    v6 = next(c for c in inventory if c["common_name"] == "v6.lab.test")
    binding = v6["locations"][0]["bindings"][0]
    assert (binding["site"], binding["ip"], binding["port"], binding["protocol"]) == (
        "Intranet",
        "2001:db8:10::19",
        443,
        "https",
    )
    ftp = next(c for c in inventory if c["common_name"] == "ftp.lab.test")
    assert ftp["locations"][0]["bindings"][0]["kind"] == "ftp"

    locked = {(by_device[loc.device_id], loc.path) for loc in CertificateLocation.objects.filter(state="locked")}
    assert locked == LOCKED
    assert run["locked_files"] == 1
    iis2019 = next(d for d in run["devices"] if d["device_name"] == "IIS2019")
    assert iis2019["locked_files"] == 1

    def state() -> Any:
        return (
            sorted(
                (c["id"], c["sha256"], c["status"], c["group"], c["location_count"], c["binding_count"])
                for c in _inventory(api, auditor)
            ),
            sorted(CertificateLocation.objects.values_list("id", "key", "certificate_id", "state", "first_seen")),
            sorted(CertificateBinding.objects.values_list("id", "key", "location_id", "first_seen")),
        )

    before = state()
    again = _run(api, admin_user, discovery_id, worker)
    assert again["state"] == "completed"
    assert (again["certificates_new"], again["locations_added"], again["locations_removed"]) == (0, 0, 0)
    assert again["certificates_found"] == run["certificates_found"]
    assert state() == before


def test_the_in_use_type_leaves_unbound_certificates_out(lab: Lab, worker: Any, api: Any, admin_user: Any) -> None:
    devices = onboard_demo(lab)
    discovery_id = _create(api, admin_user, devices, name="in use", discovery_type="in_use")
    run = _run(api, admin_user, discovery_id, worker)
    assert run["state"] == "completed", run
    bound = set()
    everything = set()
    for name in devices:
        want = expected_for(lab, name)
        store_thumbs = {t for _, t in want.store}
        bound |= want.bound & store_thumbs
        everything |= want.thumbprints
    found = {c["thumbprint"] for c in _inventory(api, admin_user)}
    assert found == bound
    assert everything - bound, "the lab has unbound certificates, so this test can tell the types apart"
    assert all(c["in_use"] for c in _inventory(api, admin_user))


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"refuse_connections": True}, "unreachable"),
        ({"auth_failure": True}, "auth_failed"),
        ({"latency_ms": 15_000}, "timeout"),
    ],
    ids=["refused", "auth-failure", "timeout"],
)
def test_a_failing_host_does_not_stop_the_run(
    lab: Lab, worker: Any, api: Any, admin_user: Any, fault: dict[str, Any], kind: str
) -> None:
    from iissim.control import ControlClient

    devices = onboard_demo(lab)
    ControlClient(lab.control_url).set_faults("IIS2016", **fault)
    discovery_id = _create(api, admin_user, devices, name=f"fault {kind}", device_time_limit=10)
    run = _run(api, admin_user, discovery_id, worker)
    assert run["state"] == "completed", run
    rows = {d["device_name"]: d for d in run["devices"]}
    assert rows["IIS2016"]["state"] == "failed"
    assert rows["IIS2016"]["error_kind"] == kind, (rows["IIS2016"]["error"], worker.log()[-3000:])
    assert rows["IIS2016"]["error"]
    assert run["devices_failed"] == 1
    for name in ("IIS2019", "IIS2022"):
        assert rows[name]["state"] == "completed", rows[name]
        want = expected_for(lab, name).thumbprints
        have = set(
            CertificateLocation.objects.filter(device=devices[name], state="ok").values_list(
                "certificate__thumbprint", flat=True
            )
        )
        assert have == want, name
    assert not CertificateLocation.objects.filter(device=devices["IIS2016"]).exists()


def test_a_certificate_removed_on_a_host_loses_that_location(lab: Lab, worker: Any, api: Any, admin_user: Any) -> None:
    devices = onboard_demo(lab, hosts=("IIS2016",))
    discovery_id = _create(api, admin_user, devices, name="removal")
    assert _run(api, admin_user, discovery_id, worker)["state"] == "completed"
    host = lab.host("IIS2016")
    with host.lock:
        thumbprint, _stored = next(
            (t, c) for t, c in host.state.stores["My"].items() if "portal" in c.certificate.subject.rfc4514_string()
        )
        del host.state.stores["My"][thumbprint]
    assert CertificateLocation.objects.filter(certificate__thumbprint=thumbprint, store="My").exists()
    run = _run(api, admin_user, discovery_id, worker)
    assert run["locations_removed"] == 1
    assert not CertificateLocation.objects.filter(certificate__thumbprint=thumbprint).exists()
    detail = api(admin_user).get(f"/api/v1/certificates/?thumbprint={thumbprint}").json()["results"][0]
    assert detail["locations"] == [] and detail["location_count"] == 0


def _beat_tick(at: datetime) -> list[str]:
    """Run django-celery-beat's own due-time logic for the discovery entries as if the clock read `at`, and send
    what is due the way beat does (to the broker, for the real worker). Returns the names of the entries sent."""
    from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
    from django_celery_beat.tzcrontab import TzAwareCrontab

    from clm.celery import app

    sent = []
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(ModelEntry, "_default_now", lambda self: at))
        stack.enter_context(mock.patch.object(TzAwareCrontab, "nowfunc", lambda self: at.astimezone(self.tz)))
        # The scheduler only loads crontab entries within two hours of the server's clock: that clock travels too.
        stack.enter_context(mock.patch("django_celery_beat.schedulers.aware_now", lambda: at))
        scheduler = DatabaseScheduler(app=app, lazy=True)
        for name, entry in scheduler.all_as_schedule().items():
            if not name.startswith("discovery:"):
                continue
            due, _ = entry.is_due()
            if due:
                with app.producer_or_acquire() as producer:
                    scheduler.apply_async(entry, producer=producer, advance=False)
                advanced = next(entry)
                advanced.save()
                sent.append(name)
    return sent


def _runs_of(discovery_id: int) -> list[DiscoveryRun]:
    return list(DiscoveryRun.objects.filter(discovery_id=discovery_id).order_by("id"))


def _wait_runs(api: Any, admin: Any, discovery_id: int, count: int, worker: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + RUN_DEADLINE
    while time.monotonic() < deadline and len(_runs_of(discovery_id)) < count:
        time.sleep(0.5)
    runs = _runs_of(discovery_id)
    assert len(runs) == count, worker.log()[-4000:]
    return [_wait(api, admin, run.pk, worker) for run in runs]


def test_a_scheduled_discovery_runs_when_due_and_ends_after_two(
    lab: Lab, worker: Any, api: Any, admin_user: Any
) -> None:
    from django_celery_beat.models import PeriodicTask

    devices = onboard_demo(lab, hosts=("IIS2022",))
    today = timezone.now().date()
    schedule = {
        "time_zone": "UTC",
        "occurrence": "daily",
        "repeat_on": [],
        "time": "00:05",
        "starts_on": today.isoformat(),
        "ends": {"type": "after", "occurrences": 2, "date": None},
    }
    discovery_id = _create(api, admin_user, devices, name="nightly", run_type="scheduled", schedule=schedule)
    discovery = Discovery.objects.get(pk=discovery_id)
    task = PeriodicTask.objects.get(pk=discovery.periodic_task_id)
    assert (task.task, task.enabled, task.crontab.minute, task.crontab.hour) == (
        "discovery.run_scheduled",
        True,
        "5",
        "0",
    )
    described = api(admin_user).get(f"/api/v1/discoveries/{discovery_id}/").json()["schedule"]
    assert described["summary"] == f"Every day at 00:05 (UTC), starting {today.day} {today:%B} {today.year}, 2 times."

    # The first occurrence is the first 00:05 UTC after now (today's if it is still ahead, else tomorrow's).
    first = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=5)
    if first <= timezone.now():
        first += timedelta(days=1)
    assert described["next_runs"][0] == first.isoformat()
    assert _beat_tick(first - timedelta(minutes=1)) == []  # not yet due
    assert _beat_tick(first + timedelta(seconds=30)) == [task.name]
    runs = _wait_runs(api, admin_user, discovery_id, 1, worker)
    assert runs[0]["state"] == "completed" and runs[0]["trigger"] == "schedule"

    assert _beat_tick(first + timedelta(hours=12)) == []  # once a day
    assert _beat_tick(first + timedelta(days=1, seconds=30)) == [task.name]
    runs = _wait_runs(api, admin_user, discovery_id, 2, worker)
    assert runs[1]["state"] == "completed"

    # Beat saves its entry right after sending (last run, count): when the worker switched the entry off in between,
    # that save can switch it on again. The task itself refuses a third occurrence and switches it off once more.
    third = _beat_tick(first + timedelta(days=2, seconds=30))
    if third:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and PeriodicTask.objects.get(pk=task.pk).enabled:
            time.sleep(0.5)
    from discovery.services import discovery_run_scheduled

    assert discovery_run_scheduled(discovery_id=discovery_id) is None
    assert PeriodicTask.objects.get(pk=task.pk).enabled is False
    assert _beat_tick(first + timedelta(days=3, seconds=30)) == []
    assert len(_runs_of(discovery_id)) == 2
    assert Discovery.objects.get(pk=discovery_id).occurrences_run == 2
