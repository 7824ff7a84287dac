"""The devices API of API.md: nested writes, write-only secrets, field-named errors, validate / bulk validate as jobs
on the gateway's queue, profiles, filters and ordering, gateways, and authorization per role.

The seam faked here is the Celery send (`clm.tasks.run_job.apply_async`): these tests check what is queued and
where; tests/devices/test_validation_lab.py runs the same jobs on real workers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from clm.models import Job
from devices.models import Device, Gateway
from devices.services import device_create, gateway_create
from tests.devices.helpers import client_pfx, gateway_input, manual_input
from vaults.services import credential_create, password_vault_create

pytestmark = pytest.mark.django_db
PASSWORD = "Api-Dev1ce-P@ss"


@pytest.fixture(autouse=True)
def sent() -> Iterator[mock.MagicMock]:
    with mock.patch("clm.tasks.run_job.apply_async") as send:
        yield send


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "iis-01",
        "hostname": "127.0.0.21",
        "data_center": "dc-east",
        "cert_sync": "managed",
        "credential": {"type": "manual", "username": "Administrator", "password": PASSWORD},
        "winrm": {"scheme": "https", "port": 5986, "auth": "ntlm", "verify_tls": True},
        "gateway": {"mode": "integrated"},
        "locations": {"certificate_store": True, "file_system": {"path": "C:\\Certs", "password_vault": None}},
    }
    data.update(overrides)
    return data


def test_onboarding_through_the_api_queues_a_validation_and_never_returns_the_password(
    admin_user: Any, api: Any, sent: mock.MagicMock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin_user).post("/api/v1/devices/", body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert PASSWORD not in response.content.decode()
    assert data["status"] == "pending" and data["vendor"] == "microsoft_iis"
    assert data["credential"] == {"type": "manual", "username": "Administrator", "password_set": True}
    assert data["winrm"]["port"] == 5986 and data["winrm"]["auth"] == "ntlm"
    assert data["locations"] == {
        "certificate_store": True,
        "file_system": {"path": "C:\\Certs", "kind": "local", "password_vault": None},
    }
    assert data["folder_credential"] == {"mode": "device"}
    assert data["gateway"]["queue"] == "devices"
    job = Job.objects.get(pk=data["job"])
    assert job.kind == "devices.validate" and job.params["device"] == data["id"]
    sent.assert_called_once_with(args=[job.pk], queue="devices")
    assert PASSWORD not in str(job.params)


def test_the_device_detail_lists_facts_status_log_and_validation(admin_user: Any, api: Any) -> None:
    device = device_create(data=manual_input(), validate=True)
    data = api(admin_user).get(f"/api/v1/devices/{device.pk}/").json()
    assert set(data["facts"]) >= {"os_build", "iis_version", "powershell_version"}
    assert data["status_log"] == [] and data["validation"]["state"] == "queued"
    assert data["validation"]["queue"] == "devices"


def test_bad_input_is_a_400_naming_each_api_field_and_creates_nothing(admin_user: Any, api: Any) -> None:
    bad = body(
        hostname="https://iis",
        credential={"type": "vault", "vault": "hashicorp", "path": "kv/iis", "key": "password"},
        winrm={"scheme": "http", "auth": "basic"},
        locations={"certificate_store": True, "file_system": {"path": "relative\\dir"}},
    )
    response = api(admin_user).post("/api/v1/devices/", bad, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "hostname",
        "credential.type",
        "winrm.allow_basic_over_http",
        "locations.file_system.path",
    }
    assert "not available yet" in errors["credential.type"][0]
    assert not Device.objects.exists() and not Job.objects.exists()


def test_type_errors_name_the_nested_field(admin_user: Any, api: Any) -> None:
    response = api(admin_user).post(
        "/api/v1/devices/", body(cert_sync="sometimes", winrm={"port": 70000}, credential={"type": "x"}), format="json"
    )
    assert response.status_code == 400
    assert {"cert_sync", "winrm.port", "credential.type"} <= set(response.json()["errors"])


def test_the_certificate_store_cannot_be_switched_off(admin_user: Any, api: Any) -> None:
    response = api(admin_user).post("/api/v1/devices/", body(locations={"certificate_store": False}), format="json")
    assert response.status_code == 400 and "locations.certificate_store" in response.json()["errors"]


def test_credential_list_and_new_gateway_through_the_api(admin_user: Any, api: Any) -> None:
    entry = credential_create(name="svc", username="CORP\\svc", password="x-secret")
    vault = password_vault_create(name="pfx", passwords=["p1"])
    pfx = base64.b64encode(client_pfx(password="")).decode()
    response = api(admin_user).post(
        "/api/v1/devices/",
        body(
            credential={"type": "credential_list", "id": entry.pk},
            gateway={
                "mode": "external",
                "select": "new",
                "name": "branch",
                "url": "https://gw.branch.test",
                "client_certificate": pfx,
                "username": "BRANCH\\gw",
                "password": "gw-secret",
            },
            locations={"certificate_store": True, "file_system": {"path": "\\\\fs01\\pki", "password_vault": vault.pk}},
            folder_credential={"mode": "gateway"},
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["credential"] == {"type": "credential_list", "id": entry.pk, "name": "svc"}
    assert data["gateway"]["name"] == "branch" and data["gateway"]["queue"] == "gw.branch"
    assert data["locations"]["file_system"]["kind"] == "share"
    assert data["folder_credential"] == {"mode": "gateway"}
    assert "gw-secret" not in response.content.decode() and "x-secret" not in response.content.decode()
    assert Job.objects.get(pk=data["job"]).queue == "gw.branch"


def test_new_gateway_errors_name_gateway_fields(admin_user: Any, api: Any) -> None:
    response = api(admin_user).post(
        "/api/v1/devices/",
        body(gateway={"mode": "external", "select": "new", "name": "", "client_certificate": "%%%"}),
        format="json",
    )
    assert response.status_code == 400
    assert "gateway.client_certificate" in response.json()["errors"]
    response = api(admin_user).post(
        "/api/v1/devices/", body(gateway={"mode": "external", "select": "new", "name": "ok-name"}), format="json"
    )
    assert set(response.json()["errors"]) == {"gateway.url"}


def test_patch_keeps_secrets_and_revalidates(admin_user: Any, api: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    client = api(admin_user)
    response = client.patch(f"/api/v1/devices/{device.pk}/", {"data_center": "dc-west"}, format="json")
    assert response.status_code == 200 and response.json()["data_center"] == "dc-west"
    assert response.json()["job"] is not None
    device.refresh_from_db()
    assert device.password == "Sw0rdfish-$@!"
    response = client.patch(
        f"/api/v1/devices/{device.pk}/",
        {"credential": {"type": "manual", "username": "u", "password": ""}},
        format="json",
    )
    device.refresh_from_db()
    assert (device.username, device.password) == ("u", "Sw0rdfish-$@!")


def test_validate_and_bulk_validate_queue_one_job_per_device_on_its_gateways_queue(
    admin_user: Any, api: Any, sent: mock.MagicMock, django_capture_on_commit_callbacks: Any
) -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    a = device_create(data=manual_input("a"), validate=False)
    b = device_create(data=manual_input("b", gateway_mode="external", gateway=gateway), validate=False)
    client = api(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        single = client.post(f"/api/v1/devices/{a.pk}/validate/")
    assert single.status_code == 202
    assert set(single.json()) == {"job", "validation"}
    with django_capture_on_commit_callbacks(execute=True):
        bulk = client.post("/api/v1/devices/validate/", {"devices": [a.pk, b.pk]}, format="json")
    assert bulk.status_code == 202
    jobs = {row["device"]: Job.objects.get(pk=row["job"]) for row in bulk.json()["jobs"]}
    assert jobs[a.pk].pk == single.json()["job"]  # the queued validation is reused, not duplicated
    assert (jobs[a.pk].queue, jobs[b.pk].queue) == ("devices", "gw.dmz")
    assert {c.kwargs["queue"] for c in sent.call_args_list} == {"devices", "gw.dmz"}
    assert client.post("/api/v1/devices/validate/", {"devices": [a.pk, 999]}, format="json").status_code == 400


def test_profiles_endpoint(admin_user: Any, api: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    Device.objects.filter(pk=device.pk).update(
        sites=[
            {
                "id": 1,
                "name": "Default Web Site",
                "state": "started",
                "bindings": [
                    {"protocol": "http", "ip": "*", "port": 80, "host": "", "sni": False},
                    {"protocol": "https", "ip": "*", "port": 443, "host": "www.example.test", "sni": True},
                ],
            }
        ]
    )
    client = api(admin_user)
    profiles = client.get(f"/api/v1/devices/{device.pk}/profiles/").json()
    assert [p["name"] for p in profiles] == [
        "MS IIS::Default Web Site::*:80:CS:(http)",
        "MS IIS::Default Web Site::*:443:www.example.test:CS:(SNI)",
    ]
    sni = profiles[1]
    assert {k: sni[k] for k in ("site", "protocol", "ip", "port", "host", "sni", "http")} == {
        "site": "Default Web Site",
        "protocol": "https",
        "ip": "*",
        "port": 443,
        "host": "www.example.test",
        "sni": True,
        "http": False,
    }
    http_only = client.get(f"/api/v1/devices/{device.pk}/profiles/?http=true").json()
    assert [p["name"] for p in http_only] == ["MS IIS::Default Web Site::*:80:CS:(http)"]
    push = client.get(f"/api/v1/devices/{device.pk}/profiles/?push_type=push").json()
    assert [(p["name"], p["kind"]) for p in push] == [("iis-01", "device")]
    assert client.get(f"/api/v1/devices/{device.pk}/profiles/?push_type=bogus").status_code == 400


def test_search_filters_and_ordering(admin_user: Any, api: Any) -> None:
    device_create(data=manual_input("web-a", data_center="east"), validate=False)
    device_create(data=manual_input("web-b", data_center="west"), validate=False)
    failed = device_create(data=manual_input("db-c", data_center="east"), validate=False)
    Device.objects.filter(pk=failed.pk).update(status="failed")
    client = api(admin_user)

    def names(query: str) -> list[str]:
        return [d["name"] for d in client.get(f"/api/v1/devices/?{query}").json()["results"]]

    assert names("q=web") == ["web-a", "web-b"]
    assert names("data_center=EAST") == ["db-c", "web-a"]
    assert names("status=failed") == ["db-c"]
    assert names("ordering=-name") == ["web-b", "web-a", "db-c"]
    assert client.get("/api/v1/devices/?status=bogus").status_code == 400


def test_delete_through_the_api(admin_user: Any, api: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    assert api(admin_user).delete(f"/api/v1/devices/{device.pk}/").status_code == 204
    assert not Device.objects.exists()


def test_gateways_api_write_only_certificate_and_credential(admin_user: Any, api: Any) -> None:
    client = api(admin_user)
    pfx = base64.b64encode(client_pfx(password="pw")).decode()
    response = client.post(
        "/api/v1/gateways/",
        {
            "name": "dmz",
            "type": "powershell",
            "location": "local_system",
            "fqdn": "gw.dmz.test",
            "port": 9443,
            "url": "https://gw.dmz.test:9443",
            "client_certificate": pfx,
            "client_certificate_password": "pw",
            "username": "DMZ\\gw",
            "password": "gw-pass-123",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["queue"] == "gw.dmz" and data["mode"] == "external" and data["password_set"] is True
    assert data["client_certificate_subject"] == "CN=gateway-client"
    assert "gw-pass-123" not in response.content.decode() and pfx[:40] not in response.content.decode()
    bad = client.post("/api/v1/gateways/", {"name": "Bad Name", "type": "wmi"}, format="json")
    assert bad.status_code == 400 and {"name", "url"} <= set(bad.json()["errors"])
    listing = client.get("/api/v1/gateways/").json()["results"]
    assert [g["name"] for g in listing] == ["integrated-gateway", "dmz"]
    integrated = Gateway.objects.get(name="integrated-gateway")
    assert client.delete(f"/api/v1/gateways/{integrated.pk}/").status_code == 409


ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_devices_api_authorization_per_role(role: str, role_users: dict[str, Any], api: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    client = api(role_users[role])
    admin = role == "administrator"
    assert client.get("/api/v1/devices/").status_code == 200
    assert client.get(f"/api/v1/devices/{device.pk}/").status_code == 200
    assert client.get(f"/api/v1/devices/{device.pk}/profiles/").status_code == 200
    assert client.post("/api/v1/devices/", body(name="new"), format="json").status_code == (201 if admin else 403)
    assert client.patch(f"/api/v1/devices/{device.pk}/", {}, format="json").status_code == (200 if admin else 403)
    assert client.post(f"/api/v1/devices/{device.pk}/validate/").status_code == (202 if admin else 403)
    bulk = client.post("/api/v1/devices/validate/", {"devices": [device.pk]}, format="json")
    assert bulk.status_code == (202 if admin else 403)
    gateways = client.get("/api/v1/gateways/").status_code
    assert gateways == (200 if role in ("administrator", "auditor") else 403)
    assert client.delete(f"/api/v1/devices/{device.pk}/").status_code == (204 if admin else 403)


def test_anonymous_callers_are_refused(api: Any) -> None:
    assert api(None).get("/api/v1/devices/").status_code == 401


def test_the_schema_documents_the_device_endpoints(admin_user: Any, api: Any) -> None:
    schema = api(admin_user).get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/devices/",
        "/api/v1/devices/{id}/",
        "/api/v1/devices/{id}/validate/",
        "/api/v1/devices/{id}/profiles/",
        "/api/v1/devices/validate/",
        "/api/v1/devices/import/",
        "/api/v1/gateways/",
        "/api/v1/credentials/",
        "/api/v1/password-vaults/",
    ):
        assert path in schema["paths"], path
