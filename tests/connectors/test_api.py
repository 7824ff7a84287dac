"""The connector API of API.md: shapes, the rules of Tables 27-29 as 4xx naming the field, push and rollback
requests, the report, and who may do what. Devices here carry a known site list (as a validation would have read
it); nothing talks to a host (the preview task is not sent)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from certificates.choices import KeyLocation
from connectors.models import AppConnector, ConnectorTarget, PushDevice
from devices.models import Device
from devices.profiles import normalize_sites
from devices.services import gateway_integrated
from tests.connectors.helpers import make_certificate

SHOP = "MS IIS::Shop::*:443:shop.example.test:CS:(SNI)"
SITES = [
    {
        "id": 1,
        "name": "Default Web Site",
        "state": "Started",
        "bindings": [
            {"protocol": "http", "binding_information": "*:80:"},
            {"protocol": "https", "binding_information": "*:443:", "ssl_flags": 0, "certificate_hash": "AA" * 20},
        ],
    },
    {
        "id": 2,
        "name": "Shop",
        "state": "Started",
        "bindings": [
            {"protocol": "http", "binding_information": "*:80:shop.example.test"},
            {"protocol": "https", "binding_information": "*:443:shop.example.test", "ssl_flags": 1},
        ],
    },
]


def device(name: str = "web-01", **fields: Any) -> Device:
    defaults = {"hostname": "127.0.0.1", "gateway": gateway_integrated(), "sites": normalize_sites(SITES)}
    return Device.objects.create(name=name, **{**defaults, **fields})


def body(certificate: Any, devices: list[Device], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {
        "certificate": certificate.pk,
        "name": "web-prod-iis",
        "push_type": "push_and_bind",
        "devices": [d.pk for d in devices],
        "location": {"type": "certificate_store", "store": "personal"},
        "friendly_name": "shop 2026",
        "push_chain": True,
        "bind": {"type": "update_certificate", "profiles": [SHOP]},
        "scripts": None,
        "overwrite": False,
        "push_automatically": False,
        "secure_push": True,
    }
    data.update(overrides or {})
    return data


@pytest.fixture
def certificate(db: Any) -> Any:
    return make_certificate("shop.example.test")


def test_a_connector_is_created_with_the_api_md_shape_and_read_back(api: Any, requester: Any, certificate: Any) -> None:
    web = device()
    created = api(requester).post("/api/v1/connectors/", body(certificate, [web]), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["sync_status"] == "unknown" and data["last_push"] == {} and data["last_validation"] == {}
    assert data["devices"] == [web.pk]
    assert data["bind"] == {"type": "update_certificate", "profiles": [{"device": web.pk, "name": SHOP}]}
    assert data["location"] == {"type": "certificate_store", "store": "personal"}
    again = api(requester).get(f"/api/v1/connectors/{data['id']}/").json()
    assert again["name"] == "web-prod-iis" and again["targets"][0]["host"] == "shop.example.test"
    listed = api(requester).get(f"/api/v1/connectors/?certificate={certificate.pk}").json()
    assert [c["id"] for c in listed["results"]] == [data["id"]]
    inventory = api(requester).get(f"/api/v1/certificates/{certificate.pk}/").json()
    assert [c["name"] for c in inventory["connectors"]] == ["web-prod-iis"]


def test_create_binding_takes_a_binding_instead_of_a_profile(api: Any, requester: Any, certificate: Any) -> None:
    web = device()
    new = {"site": "Shop", "ip": "*", "port": 8443, "host": "shop.example.test", "sni": True}
    response = api(requester).post(
        "/api/v1/connectors/",
        body(certificate, [web], {"bind": {"type": "create_binding", "profiles": [new]}}),
        format="json",
    )
    assert response.status_code == 201, response.json()
    (target,) = ConnectorTarget.objects.filter(connector_id=response.json()["id"])
    assert (target.kind, target.port, target.sni) == ("new_binding", 8443, True)
    assert target.profile == "MS IIS::Shop::*:8443:shop.example.test:CS:(SNI)"


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        (
            {"bind": {"type": "create_binding", "profiles": [{"site": "Shop", "port": 443, "host": "", "sni": True}]}},
            "bindings",
            "SNI needs a host name",
        ),
        ({"bind": {"type": "update_certificate", "profiles": ["MS IIS::Nope::*:443:CS"]}}, "profiles", "No selected"),
        (
            {"bind": {"type": "update_certificate", "profiles": ["MS IIS::Shop::*:80:shop.example.test:CS:(http)"]}},
            "profiles",
            "http binding has no certificate",
        ),
        ({"devices": []}, "devices", "at least one server"),
        ({"name": " "}, "name", "blank"),
        (
            {"push_type": "push", "location": {"type": "file_system", "path": "relative\\dir"}, "bind": None},
            "file_path",
            "folder",
        ),
        (
            {"push_type": "push_and_bind", "location": {"type": "file_system", "path": "C:\\ccs", "password": "x"}},
            "location",
            "binds from a certificate store",
        ),
        (
            {"scripts": {"location": "device", "pre": {"name": "pre.ps1", "path": ""}}},
            "pre_script_path",
            "Where the script is",
        ),
    ],
)
def test_rules_are_400s_naming_the_field(
    api: Any, requester: Any, certificate: Any, overrides: dict[str, Any], field: str, text: str
) -> None:
    response = api(requester).post("/api/v1/connectors/", body(certificate, [device()], overrides), format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors, errors
    assert any(text in message for message in errors[field]), errors
    assert not AppConnector.objects.exists()


def test_only_certificates_whose_key_the_portal_holds_can_be_pushed(api: Any, requester: Any, db: Any) -> None:
    no_key = make_certificate("nokey.example.test", key_location=None)
    response = api(requester).post("/api/v1/connectors/", body(no_key, [device()]), format="json")
    assert response.status_code == 400
    assert "private key is held in the portal" in response.json()["errors"]["certificate"][0]


def test_a_key_held_on_an_endpoint_cannot_go_to_a_file_system(api: Any, requester: Any, db: Any) -> None:
    on_endpoint = make_certificate("endpoint.example.test", key_location=KeyLocation.ENDPOINT)
    file_push = {"push_type": "push", "bind": None, "location": {"type": "file_system", "path": "C:\\ccs"}}
    response = api(requester).post("/api/v1/connectors/", body(on_endpoint, [device()], file_push), format="json")
    assert response.status_code == 400
    assert "held on an endpoint" in response.json()["errors"]["location"][0]


def test_a_client_certificate_is_pushed_to_a_store_without_binding(api: Any, requester: Any, db: Any) -> None:
    client_cert = make_certificate("svc-client", client=True)
    web = device()
    refused = api(requester).post("/api/v1/connectors/", body(client_cert, [web]), format="json")
    assert refused.status_code == 400 and "push_type" in refused.json()["errors"]
    accepted = api(requester).post(
        "/api/v1/connectors/", body(client_cert, [web], {"push_type": "push", "bind": None}), format="json"
    )
    assert accepted.status_code == 201
    assert accepted.json()["bind"] is None and accepted.json()["targets"][0]["kind"] == "device"


def test_push_creates_a_draft_order_per_gateway_and_queues_the_preview_on_its_queue(
    api: Any, requester: Any, certificate: Any, django_capture_on_commit_callbacks: Any
) -> None:
    web = device()
    connector_id = api(requester).post("/api/v1/connectors/", body(certificate, [web]), format="json").json()["id"]
    with (
        mock.patch("connectors.tasks.push_preview_task.apply_async") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api(requester).post(f"/api/v1/connectors/{connector_id}/push/", {"comment": "go"}, format="json")
    assert response.status_code == 201, response.json()
    order_id = response.json()["work_order"]
    queued.assert_called_once_with(args=[order_id], queue="devices")
    order = api(requester).get(f"/api/v1/work-orders/{order_id}/").json()
    assert order["action"] == "push" and order["state"] == "draft"
    (row,) = PushDevice.objects.filter(work_order_id=order_id)
    assert row.step == "preview" and row.thumbprint == certificate.thumbprint
    again = api(requester).post(f"/api/v1/connectors/{connector_id}/push/", {}, format="json")
    assert again.status_code == 409  # one open push per connector


def test_rollback_without_a_completed_push_is_a_conflict(api: Any, requester: Any, certificate: Any) -> None:
    connector_id = api(requester).post("/api/v1/connectors/", body(certificate, [device()]), format="json").json()["id"]
    response = api(requester).post(f"/api/v1/connectors/{connector_id}/rollback/", {}, format="json")
    assert response.status_code == 409
    assert "Nothing to roll back" in response.json()["detail"]


def test_secure_push_refuses_basic_over_plain_http(api: Any, requester: Any, certificate: Any) -> None:
    plain = device("plain-01", winrm_scheme="http", winrm_auth="basic", allow_basic_over_http=True)
    connector_id = api(requester).post("/api/v1/connectors/", body(certificate, [plain]), format="json").json()["id"]
    with mock.patch("connectors.tasks.push_preview_task.apply_async"):
        response = api(requester).post(f"/api/v1/connectors/{connector_id}/push/", {}, format="json")
    assert response.status_code == 400
    assert "secure_push" in response.json()["errors"]


def test_an_expired_certificate_is_not_pushed(api: Any, requester: Any, db: Any) -> None:
    expired = make_certificate("old.example.test", days=-1)
    connector_id = api(requester).post("/api/v1/connectors/", body(expired, [device()]), format="json").json()["id"]
    response = api(requester).post(f"/api/v1/connectors/{connector_id}/push/", {}, format="json")
    assert response.status_code == 400 and "expired" in response.json()["detail"]


ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_and_only_requesters_and_administrators_write(
    role: str, role_users: dict[str, Any], api: Any, certificate: Any
) -> None:
    client = api(role_users[role])
    web = device()
    created = client.post("/api/v1/connectors/", body(certificate, [web]), format="json")
    writer = role in ("administrator", "requester")
    assert created.status_code == (201 if writer else 403)
    assert client.get("/api/v1/connectors/").status_code == 200
    assert client.get("/api/v1/reports/push-validation/").status_code == 200
    with mock.patch("connectors.tasks.push_validation_task.delay"):
        run = client.post("/api/v1/reports/push-validation/run/")
    assert run.status_code == (202 if role == "administrator" else 403)


def test_the_report_api_has_the_api_md_fields(api: Any, auditor: Any) -> None:
    data = api(auditor).get("/api/v1/reports/push-validation/").json()
    assert {"total", "succeeded", "failed", "endpoints"} <= set(data)
    bad = api(auditor).get("/api/v1/reports/push-validation/?days=0")
    assert bad.status_code == 400 and "days" in bad.json()["errors"]


def test_changing_the_validation_interval_moves_the_beat_entry(api: Any, admin_user: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    api(admin_user).put("/api/v1/settings/general/", {"push_validation_interval_minutes": 15}, format="json")
    task = PeriodicTask.objects.get(task="connectors.push_validation")
    assert (task.interval.every, task.interval.period) == (15, "minutes")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_per_device_part_of_a_push(
    role: str, role_users: dict[str, Any], api: Any, certificate: Any
) -> None:
    connector_id = (
        api(role_users["requester"]).post("/api/v1/connectors/", body(certificate, [device()]), format="json").json()
    )["id"]
    with mock.patch("connectors.tasks.push_preview_task.apply_async"):
        order_id = api(role_users["requester"]).post(f"/api/v1/connectors/{connector_id}/push/", {}, format="json")
    rows = api(role_users[role]).get(f"/api/v1/work-orders/{order_id.json()['work_order']}/push-devices/")
    assert rows.status_code == 200
    assert [r["step"] for r in rows.json()] == ["preview"]
    pushes = api(role_users[role]).get(f"/api/v1/connectors/{connector_id}/pushes/")
    assert pushes.status_code == 200 and len(pushes.json()) == 1
