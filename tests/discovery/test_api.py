"""The discovery API (API.md "Discovery"): definitions as the contract writes them, field errors, runs and their
per-device rows, and who may do what. The Celery side is in test_acceptance.py; here tasks are only queued."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from clm.models import AuditEvent
from devices.models import Device
from discovery.models import Discovery, DiscoveryRun, DiscoveryRunDevice
from tests.certificates.factories import devices


def body(device_ids: list[int], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "nightly",
        "description": "",
        "run_type": "on_demand",
        "devices": device_ids,
        "discovery_type": "all",
        "sources": ["certificate_store", "file_system"],
        "batches": {"sequential": False, "size": 500, "interval_minutes": 0},
        "rule": None,
        "after_discover": {"move_to_inventory": "managed", "group": 3, "use_access_control_rule": False},
        "schedule": None,
    }
    data.update(changes)
    return data


@pytest.fixture
def hosts(db: Any) -> list[Device]:
    return devices(3)


def test_the_contract_example_creates_a_discovery(api: Any, admin_user: Any, hosts: list[Device]) -> None:
    from certificates.models import CertificateGroup

    group = CertificateGroup.objects.create(name="Web")
    payload = body(
        [hosts[0].pk, hosts[1].pk],
        after_discover={"move_to_inventory": "managed", "group": group.pk, "use_access_control_rule": False},
    )
    response = api(admin_user).post("/api/v1/discoveries/", payload, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["devices"] == [hosts[0].pk, hosts[1].pk]
    assert data["batches"] == {"sequential": False, "size": 500, "interval_minutes": 0}
    assert data["after_discover"] == {
        "move_to_inventory": "managed",
        "group": group.pk,
        "use_access_control_rule": False,
    }
    assert data["schedule"] is None and data["discovery_from"] == "managed_servers"
    assert AuditEvent.objects.filter(action="discovery.create").exists()
    fetched = api(admin_user).get(f"/api/v1/discoveries/{data['id']}/").json()
    assert fetched == data


def test_a_scheduled_discovery_round_trips_its_schedule_with_a_summary(
    api: Any, admin_user: Any, hosts: list[Device]
) -> None:
    schedule = {
        "time_zone": "America/New_York",
        "occurrence": "weekly",
        "repeat_on": ["mon", "fri"],
        "time": "02:00",
        "starts_on": "2026-12-01",
        "ends": {"type": "after", "occurrences": 5, "date": None},
    }
    response = api(admin_user).post(
        "/api/v1/discoveries/",
        body([hosts[0].pk], run_type="scheduled", schedule=schedule, after_discover={"move_to_inventory": "monitored"}),
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()["schedule"]
    assert (data["time_zone"], data["occurrence"], data["repeat_on"], data["time"]) == (
        "America/New_York",
        "weekly",
        ["mon", "fri"],
        "02:00",
    )
    assert data["ends"] == {"type": "after", "occurrences": 5, "date": None}
    assert data["summary"] == (
        "Every week on Monday and Friday at 02:00 (America/New_York), starting 1 December 2026, 5 times."
    )
    assert len(data["next_runs"]) == 3 and data["enabled"] is True


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"devices": []}, "devices"),
        ({"devices": [987654]}, "devices"),
        ({"run_type": "sometimes"}, "run_type"),
        ({"discovery_type": "some"}, "discovery_type"),
        ({"sources": ["carrier_pigeon"]}, "sources"),
        ({"sources": []}, "sources"),
        ({"batches": {"size": 0}}, "batches.size"),
        ({"batches": {"sequential": True, "interval_minutes": 5000}}, "batches.interval_minutes"),
        ({"rule": 987654}, "rule"),
        ({"after_discover": {"move_to_inventory": "someday"}}, "after_discover.move_to_inventory"),
        ({"after_discover": {"move_to_inventory": "managed", "group": 987654}}, "after_discover.group"),
        ({"run_type": "scheduled", "schedule": None}, "schedule"),
        (
            {"run_type": "scheduled", "schedule": {"occurrence": "weekly", "time": "02:00", "starts_on": "2026-12-01"}},
            "schedule.repeat_on",
        ),
        (
            {"run_type": "scheduled", "schedule": {"occurrence": "daily", "time": "25:00", "starts_on": "2026-12-01"}},
            "schedule.time",
        ),
        (
            {
                "run_type": "scheduled",
                "schedule": {
                    "time_zone": "Nowhere/Land",
                    "occurrence": "daily",
                    "time": "02:00",
                    "starts_on": "2026-12-01",
                },
            },
            "schedule.time_zone",
        ),
        (
            {
                "run_type": "scheduled",
                "schedule": {
                    "occurrence": "daily",
                    "time": "02:00",
                    "starts_on": "2026-12-01",
                    "ends": {"type": "on", "date": "2026-01-01"},
                },
            },
            "schedule.ends_on",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    api: Any, admin_user: Any, hosts: list[Device], changes: dict, field: str
) -> None:
    payload = body([hosts[0].pk], after_discover={"move_to_inventory": "managed"})
    payload.update(changes)
    response = api(admin_user).post("/api/v1/discoveries/", payload, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(key == field or key.startswith(field) for key in errors), errors
    assert not Discovery.objects.exists()


def test_names_are_unique(api: Any, admin_user: Any, hosts: list[Device]) -> None:
    payload = body([hosts[0].pk], after_discover={"move_to_inventory": "managed"})
    assert api(admin_user).post("/api/v1/discoveries/", payload, format="json").status_code == 201
    again = api(admin_user).post("/api/v1/discoveries/", {**payload, "name": "NIGHTLY"}, format="json")
    assert again.status_code == 400 and "name" in again.json()["errors"]


def test_running_returns_202_with_the_run_and_its_device_rows(
    api: Any, admin_user: Any, hosts: list[Device], django_capture_on_commit_callbacks: Any
) -> None:
    hosts[2].cert_sync = "ignored"
    hosts[2].save(update_fields=["cert_sync"])
    payload = body([h.pk for h in hosts], after_discover={"move_to_inventory": "managed"}, batches={"size": 2})
    discovery_id = api(admin_user).post("/api/v1/discoveries/", payload, format="json").json()["id"]
    with (
        mock.patch("discovery.tasks.run_batch.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api(admin_user).post(f"/api/v1/discoveries/{discovery_id}/run/")
    assert response.status_code == 202
    run_id = response.json()["run"]
    assert [c.kwargs["args"] for c in send.call_args_list] == [[run_id, 0], [run_id, 1]]
    run = api(admin_user).get(f"/api/v1/discovery-runs/{run_id}/").json()
    assert (run["state"], run["devices_total"], run["devices_done"], run["batches_total"]) == ("queued", 3, 1, 2)
    rows = {d["device_name"]: d for d in run["devices"]}
    assert rows[hosts[2].name]["state"] == "skipped" and "Ignored" in rows[hosts[2].name]["error"]
    assert {rows[h.name]["state"] for h in hosts[:2]} == {"queued"}
    again = api(admin_user).post(f"/api/v1/discoveries/{discovery_id}/run/")
    assert again.status_code == 409


def test_a_sequential_discovery_queues_only_its_first_batch(
    api: Any, admin_user: Any, hosts: list[Device], django_capture_on_commit_callbacks: Any
) -> None:
    payload = body(
        [h.pk for h in hosts],
        after_discover={"move_to_inventory": "managed"},
        batches={"sequential": True, "size": 1, "interval_minutes": 15},
    )
    discovery_id = api(admin_user).post("/api/v1/discoveries/", payload, format="json").json()["id"]
    with (
        mock.patch("discovery.tasks.run_batch.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        run_id = api(admin_user).post(f"/api/v1/discoveries/{discovery_id}/run/").json()["run"]
    assert [c.kwargs["args"] for c in send.call_args_list] == [[run_id, 0]]
    assert DiscoveryRun.objects.get(pk=run_id).batches_started == 1

    from discovery import runs

    with (
        mock.patch("discovery.tasks.run_batch.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        row = DiscoveryRunDevice.objects.get(run_id=run_id, batch=0)
        runs.run_device_begin(row_id=row.pk)
        runs.run_device_fail(row_id=row.pk, kind="unreachable", error="refused")
    assert send.call_args_list[0].kwargs == {"args": [run_id, 1], "countdown": 15 * 60}


def test_runs_are_listed_without_their_device_rows(
    api: Any, auditor: Any, admin_user: Any, hosts: list[Device]
) -> None:
    from discovery.runs import discovery_run_start
    from discovery.services import DiscoveryInput, discovery_save

    discovery = discovery_save(data=DiscoveryInput(name="listed", devices=[hosts[0].pk]), user=None)
    discovery_run_start(discovery=discovery, user=admin_user)
    listed = api(auditor).get("/api/v1/discovery-runs/").json()["results"]
    assert listed[0]["discovery_name"] == "listed" and listed[0]["devices"] == []


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_only_administrators_define_and_run_discoveries(
    api: Any, role_users: dict, hosts: list[Device], role: str
) -> None:
    client = api(role_users[role])
    assert client.get("/api/v1/discoveries/").status_code == 200
    assert client.get("/api/v1/discovery-runs/").status_code == 200
    payload = body([hosts[0].pk], after_discover={"move_to_inventory": "managed"})
    assert client.post("/api/v1/discoveries/", payload, format="json").status_code == 403
    from discovery.services import DiscoveryInput, discovery_save

    discovery = discovery_save(data=DiscoveryInput(name=f"by admin {role}", devices=[hosts[0].pk]), user=None)
    assert client.post(f"/api/v1/discoveries/{discovery.pk}/run/").status_code == 403
    assert client.delete(f"/api/v1/discoveries/{discovery.pk}/").status_code == 403


def test_deleting_a_discovery_keeps_its_runs(api: Any, admin_user: Any, hosts: list[Device]) -> None:
    from discovery.runs import discovery_run_start, run_device_begin, run_device_fail
    from discovery.services import DiscoveryInput, discovery_save

    discovery = discovery_save(data=DiscoveryInput(name="old", devices=[hosts[0].pk]), user=None)
    run = discovery_run_start(discovery=discovery, user=None)
    row = run.device_rows.get()
    run_device_begin(row_id=row.pk)
    run_device_fail(row_id=row.pk, kind="auth_failed", error="denied")
    assert api(admin_user).delete(f"/api/v1/discoveries/{discovery.pk}/").status_code == 204
    kept = api(admin_user).get(f"/api/v1/discovery-runs/{run.pk}/").json()
    assert (kept["discovery"], kept["discovery_name"], kept["state"]) == (None, "old", "failed")
