"""Server import from CSV: a result per row, bad rows create nothing, good rows are created and validated through
their external gateway; the integrated gateway refuses import (as the reference says).

The seam faked here is the Celery send (`clm.tasks.run_job.apply_async`): the import's validations are queued,
not run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clm.api.errors import ApplicationError
from clm.models import Job
from devices.importing import COLUMNS, device_import_csv
from devices.models import Device
from devices.services import gateway_create, gateway_integrated
from tests.devices.helpers import gateway_input
from tests.fixtures.users import PASSWORD
from vaults.services import credential_create

pytestmark = pytest.mark.django_db
ROW_PASSWORD = "Imp0rt-Pass!"


@pytest.fixture(autouse=True)
def sent() -> Iterator[mock.MagicMock]:
    with mock.patch("clm.tasks.run_job.apply_async") as send:
        yield send


def row(index: int, **overrides: str) -> dict[str, str]:
    values = {
        "name": f"iis-{index:03d}",
        "hostname": f"iis-{index:03d}.corp.example.test",
        "data_center": "dc-east" if index % 2 else "dc-west",
        "cert_sync": "managed",
        "credential_type": "manual",
        "username": "CORP\\svc-iis",
        "password": ROW_PASSWORD,
        "winrm_scheme": "https",
        "winrm_port": "5986",
        "winrm_auth": "ntlm",
        "verify_tls": "true",
    }
    values.update(overrides)
    return values


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


BAD = {
    10: ({"hostname": ""}, "hostname", "Enter the hostname"),
    20: ({"name": "iis-001"}, "name", "already exists"),
    30: ({"credential_type": "cyberark"}, "credential_type", "not available yet"),
    40: ({"winrm_scheme": "http", "winrm_auth": "basic"}, "allow_basic_over_http", "unprotected"),
    50: ({"gateway": "integrated-gateway"}, "gateway", "not available for the integrated gateway"),
}


def hundred_rows() -> list[dict[str, str]]:
    rows = []
    for index in range(1, 101):
        overrides, _, _ = BAD.get(index, ({}, "", ""))
        rows.append(row(index, **overrides))
    return rows


def test_100_rows_with_5_bad_create_95_devices_and_report_the_5_with_reasons(
    admin_user: Any, django_capture_on_commit_callbacks: Any, sent: mock.MagicMock
) -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    with django_capture_on_commit_callbacks(execute=True):
        result = device_import_csv(content=to_csv(hundred_rows()), gateway=gateway, user=admin_user)
    assert (result.created, result.failed) == (95, 5)
    assert Device.objects.count() == 95
    failures = {r.line - 1: r for r in result.rows if not r.created}
    assert sorted(failures) == sorted(BAD)
    for index, (_, field, text) in BAD.items():
        assert field in failures[index].errors, (index, failures[index].errors)
        assert text in failures[index].reason, (index, failures[index].reason)
    assert not Device.objects.filter(name__in=["iis-010", "iis-030", "iis-040", "iis-050"]).exists()
    assert Device.objects.filter(name="iis-001").count() == 1
    device = Device.objects.get(name="iis-099")
    assert (device.gateway, device.password, device.winrm_port, device.data_center) == (
        gateway,
        ROW_PASSWORD,
        5986,
        "dc-east",
    )
    jobs = Job.objects.filter(kind="devices.validate")
    assert jobs.count() == 95 and set(jobs.values_list("queue", flat=True)) == {"gw.dmz"}
    assert sent.call_count == 95


def test_import_is_refused_for_the_integrated_gateway() -> None:
    with pytest.raises(ApplicationError, match="not available for the integrated gateway"):
        device_import_csv(content=to_csv([row(1)]), gateway=gateway_integrated())
    assert not Device.objects.exists()


def test_a_row_may_name_another_external_gateway_and_credential_list_entries(admin_user: Any) -> None:
    dmz = gateway_create(data=gateway_input("dmz"))
    branch = gateway_create(data=gateway_input("branch"))
    credential_create(name="svc", username="CORP\\svc", password="x")
    rows = [
        row(1, gateway="branch"),
        row(2, credential_type="credential_list", credential="svc", username="", password=""),
        row(3, credential_type="credential_list", credential="missing", username="", password=""),
        row(4, gateway="nowhere"),
        row(5, verify_tls="maybe"),
    ]
    result = device_import_csv(content=to_csv(rows), gateway=dmz, user=admin_user)
    assert [r.created for r in result.rows] == [True, True, False, False, False]
    assert Device.objects.get(name="iis-001").gateway == branch
    assert Device.objects.get(name="iis-002").credential.name == "svc"  # type: ignore[union-attr]
    assert "credential" in result.rows[2].errors and "gateway" in result.rows[3].errors
    assert "verify_tls" in result.rows[4].errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,address\r\nx,y\r\n", "needs the columns"),
        (b"name,hostname,colour\r\nx,y,red\r\n", "Unknown column"),
        (b"name,hostname\r\n", "no rows"),
        ("name,hostname\r\n\u00e9,h\r\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_malformed_file_is_refused_as_a_whole(content: bytes, message: str) -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    with pytest.raises(ApplicationError, match=message):
        device_import_csv(content=content, gateway=gateway)
    assert not Device.objects.exists()


def test_semicolon_files_and_a_byte_order_mark_are_read() -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    content = "\ufeffname;hostname;username;password\r\nweb-1;web-1.test;u;p\r\n".encode()
    assert device_import_csv(content=content, gateway=gateway, validate=False).created == 1


def test_the_import_api_answers_a_result_per_row(admin_user: Any, api: Any) -> None:
    gateway_create(data=gateway_input("dmz"))
    upload = SimpleUploadedFile("servers.csv", to_csv([row(1), row(2, hostname="bad host")]), "text/csv")
    response = api(admin_user).post("/api/v1/devices/import/", {"file": upload, "gateway": "dmz"}, format="multipart")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["created"], data["failed"]) == (1, 1)
    assert [r["result"] for r in data["rows"]] == ["created", "error"]
    assert "hostname" in data["rows"][1]["errors"] and ROW_PASSWORD not in response.content.decode()
    upload = SimpleUploadedFile("servers.csv", to_csv([row(3)]), "text/csv")
    refused = api(admin_user).post(
        "/api/v1/devices/import/", {"file": upload, "gateway": "integrated-gateway"}, format="multipart"
    )
    assert refused.status_code == 400 and "gateway" in refused.json()["errors"]


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_only_administrators_import(role: str, role_users: dict[str, Any], api: Any) -> None:
    gateway_create(data=gateway_input("dmz"))
    upload = SimpleUploadedFile("servers.csv", to_csv([row(1)]), "text/csv")
    response = api(role_users[role]).post(
        "/api/v1/devices/import/", {"file": upload, "gateway": "dmz"}, format="multipart"
    )
    assert response.status_code == 403


def test_the_import_page_shows_every_rows_result(admin_user: Any) -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    client = Client()
    client.login(username=admin_user.username, password=PASSWORD)
    page = client.get("/devices/import/").content.decode()
    assert "Import servers" in page and "Download the template" in page
    template = client.get("/devices/import/template.csv")
    assert template.content.decode().splitlines()[0] == ",".join(COLUMNS)
    upload = SimpleUploadedFile("s.csv", to_csv([row(1), row(2, cert_sync="sometimes")]), "text/csv")
    page = client.post("/devices/import/", {"file": upload, "gateway": gateway.pk}).content.decode()
    assert "1 created, 1 with errors" in page
    assert 'data-result="created"' in page and 'data-result="error"' in page
    assert "Choose Managed, Monitored or Ignored." in page
