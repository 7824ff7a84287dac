"""Discovery pages with Django's test client: the definitions list, the add/edit form (errors kept, schedule summary,
device picker, favourites), run pages with their polling partial, and the rule pages."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.test import Client

from discovery.models import DeviceFavourite, Discovery, DiscoveryRule, DiscoveryRun
from discovery.runs import discovery_run_start, run_device_begin, run_device_fail
from discovery.services import DiscoveryInput, discovery_save
from tests.certificates.factories import devices
from tests.fixtures.users import PASSWORD


def browser(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


def form(device_ids: list[int], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Weekly scan",
        "description": "All IIS servers",
        "run_type": "on_demand",
        "time_zone": "UTC",
        "occurrence": "daily",
        "ends": "never",
        "discovery_from": "managed_servers",
        "devices": [str(d) for d in device_ids],
        "batch_size": "500",
        "interval_minutes": "0",
        "discovery_type": "all",
        "sources": ["certificate_store", "file_system"],
        "device_time_limit": "300",
        "move_to_inventory": "managed",
    }
    data.update(changes)
    return data


def test_the_form_lists_devices_in_the_picker_and_saves_a_discovery(admin_user: Any, db: Any) -> None:
    hosts = devices(3)
    client = browser(admin_user)
    page = client.get("/discovery/scans/new/").content.decode()
    assert 'data-testid="device-picker"' in page and all(h.name in page for h in hosts)
    response = client.post("/discovery/scans/new/", form([hosts[0].pk, hosts[2].pk]))
    assert response.status_code == 302 and response["Location"] == "/discovery/scans/"
    discovery = Discovery.objects.get(name="Weekly scan")
    assert set(discovery.devices.values_list("id", flat=True)) == {hosts[0].pk, hosts[2].pk}
    listing = client.get("/discovery/scans/").content.decode()
    assert "Weekly scan" in listing and "Run now" in listing


def test_errors_are_shown_next_to_fields_and_nothing_typed_is_lost(admin_user: Any, db: Any) -> None:
    devices(1)
    response = browser(admin_user).post(
        "/discovery/scans/new/",
        form([], description="kept text", run_type="scheduled", occurrence="weekly", time="02:00"),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Select at least one device." in html
    assert "Choose at least one day of the week." in html
    assert "kept text" in html and 'value="02:00"' in html
    assert not Discovery.objects.exists()


def test_a_scheduled_discovery_from_the_form_gets_its_beat_entry_and_summary(admin_user: Any, db: Any) -> None:
    (host,) = devices(1)
    data = form(
        [host.pk],
        run_type="scheduled",
        time_zone="Europe/Paris",
        occurrence="weekly",
        repeat_on=["mon", "thu"],
        time="02:00",
        starts_on="2026-12-01",
        ends="after",
        ends_after="5",
    )
    assert browser(admin_user).post("/discovery/scans/new/", data).status_code == 302
    discovery = Discovery.objects.get()
    assert discovery.periodic_task is not None and discovery.periodic_task.enabled
    listing = browser(admin_user).get("/discovery/scans/").content.decode()
    assert "Every week on Monday and Thursday at 02:00 (Europe/Paris), starting 1 December 2026, 5 times." in listing


def test_the_schedule_preview_is_the_summary_of_what_is_typed(admin_user: Any, db: Any) -> None:
    response = browser(admin_user).get(
        "/discovery/schedule-preview/",
        {"time_zone": "UTC", "occurrence": "monthly", "time": "23:30", "starts_on": "2027-01-15", "ends": "never"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "Every month on the 15th at 23:30 (UTC), starting 15 January 2027." in html and "Next:" in html


def test_favourites_toggle_with_htmx(admin_user: Any, db: Any) -> None:
    (host,) = devices(1)
    client = browser(admin_user)
    response = client.post(f"/discovery/devices/{host.pk}/favourite/", {"favourite": "1"}, HTTP_HX_REQUEST="true")
    assert 'data-favourite="1"' in response.content.decode()
    assert DeviceFavourite.objects.filter(user=admin_user, device=host).exists()
    client.post(f"/discovery/devices/{host.pk}/favourite/", {"favourite": "0"}, HTTP_HX_REQUEST="true")
    assert not DeviceFavourite.objects.filter(user=admin_user, device=host).exists()


def test_save_and_discover_now_opens_the_run_page(
    admin_user: Any, db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    (host,) = devices(1)
    with (
        mock.patch("discovery.tasks.run_batch.apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = browser(admin_user).post("/discovery/scans/new/", form([host.pk], then="run"))
    run = DiscoveryRun.objects.get()
    assert response["Location"] == f"/discovery/runs/{run.pk}/"


def test_the_run_page_polls_while_running_and_stops_when_done(auditor: Any, db: Any) -> None:
    hosts = devices(2)
    discovery = discovery_save(data=DiscoveryInput(name="polled", devices=[h.pk for h in hosts]), user=None)
    run = discovery_run_start(discovery=discovery, user=None)
    client = browser(auditor)
    partial = client.get(f"/discovery/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in partial and "0 of 2" in partial and "<html" not in partial
    for row in run.device_rows.all():
        run_device_begin(row_id=row.pk)
        run_device_fail(row_id=row.pk, kind="auth_failed", error="The user name or password is incorrect.")
    done = client.get(f"/discovery/runs/{run.pk}/").content.decode()
    assert "hx-trigger" not in done and "2 of 2" in done and "auth_failed" in done
    assert "The user name or password is incorrect." in done
    assert f"#{run.pk}" in client.get("/discovery/runs/").content.decode()


def test_rule_pages_create_and_refuse_contradictions(admin_user: Any, db: Any) -> None:
    client = browser(admin_user)
    bad = client.post("/discovery/rules/new/", {"name": "sizes", "min_key_size": "4096", "max_key_size": "2048"})
    assert bad.status_code == 400 and "smaller than the minimum" in bad.content.decode()
    ok = client.post(
        "/discovery/rules/new/", {"name": "web", "subject_pattern": "*.example.test", "key_types": ["rsa"]}
    )
    assert ok.status_code == 302
    assert DiscoveryRule.objects.get(name="web").key_types == ["rsa"]
    assert "web" in client.get("/discovery/rules/").content.decode()


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_other_roles_see_discoveries_but_cannot_change_or_run_them(role_users: dict, role: str) -> None:
    (host,) = devices(1)
    discovery = discovery_save(data=DiscoveryInput(name=f"scan {role}", devices=[host.pk]), user=None)
    client = browser(role_users[role])
    assert client.get("/discovery/scans/").status_code == 200
    assert client.get("/discovery/runs/").status_code == 200
    assert client.get("/discovery/scans/new/").status_code == 403
    assert client.post(f"/discovery/scans/{discovery.pk}/run/").status_code == 403
    assert not DiscoveryRun.objects.exists()
