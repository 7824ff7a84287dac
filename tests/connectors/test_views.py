"""Connector pages through Django's test client: the connector form (conditional fields, errors kept, profiles per
server), the holistic cards, the push dialog, the work order's preview card, the Push to Device lists, the report
with its inline SVG chart and table, and who may open what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from connectors.choices import CheckSource
from connectors.models import AppConnector, ConnectorEndpoint, EndpointCheck, PushDevice
from tests.connectors.helpers import make_certificate
from tests.connectors.test_api import SHOP, device

FORM = {
    "category": "server",
    "vendor": "iis",
    "name": "shop-iis",
    "push_type": "push_and_bind",
    "location_type": "certificate_store",
    "store": "personal",
    "friendly_name": "shop 2026",
    "bind_type": "update_certificate",
    "script_location": "none",
    "post_script_failure": "rollback",
    "secure_push": "on",
}


@pytest.fixture
def certificate(db: Any) -> Any:
    return make_certificate("shop.example.test")


def test_the_form_adds_a_connector_and_the_holistic_view_shows_its_card(
    client: Any, requester: Any, certificate: Any
) -> None:
    web = device()
    client.force_login(requester)
    page = client.get(f"/connectors/new/?certificate={certificate.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-show-when="location_type=file_system"' in html and 'data-show-when="bind_type=create_binding"' in html
    response = client.post(
        "/connectors/new/",
        {**FORM, "certificate": certificate.pk, "devices": [web.pk], "profiles": [f"{web.pk}|{SHOP}"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connector = AppConnector.objects.get(name="shop-iis")
    assert connector.targets.get().profile == SHOP
    holistic = client.get(f"/certificates/{certificate.pk}/").content.decode()
    assert 'data-testid="app-connector"' in holistic and SHOP in holistic
    assert 'data-testid="push-to-device"' in holistic and "Unknown" in holistic


def test_errors_are_shown_next_to_the_field_and_nothing_typed_is_lost(
    client: Any, requester: Any, certificate: Any
) -> None:
    web = device()
    client.force_login(requester)
    response = client.post(
        "/connectors/new/",
        {
            **FORM,
            "certificate": certificate.pk,
            "devices": [web.pk],
            "bind_type": "create_binding",
            "new_site": "Shop",
            "new_host": "",
            "new_sni": "on",
            "description": "keep me",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "SNI needs a host name" in html and "keep me" in html
    assert not AppConnector.objects.exists()


def test_the_profile_list_follows_the_servers_and_the_http_sites_box(client: Any, requester: Any, db: Any) -> None:
    web = device()
    client.force_login(requester)
    both = client.get(f"/connectors/profiles/?devices={web.pk}&push_type=push_and_bind").content.decode()
    assert SHOP in both and "(http)" in both
    http_only = client.get(
        f"/connectors/profiles/?devices={web.pk}&push_type=push_and_bind&http_sites=on"
    ).content.decode()
    assert SHOP not in http_only and "(http)" in http_only
    assert "Select servers" in client.get("/connectors/profiles/?push_type=push_and_bind").content.decode()


def _connector(certificate: Any, requester: Any) -> AppConnector:
    from tests.connectors.helpers import connector_for

    return connector_for(certificate, requester, [device()], bind_type="update_certificate", profiles=[SHOP])


def test_the_push_dialog_asks_for_a_comment_and_requests_the_push(
    client: Any, requester: Any, certificate: Any
) -> None:
    connector = _connector(certificate, requester)
    client.force_login(requester)
    dialog = client.get(f"/connectors/{connector.pk}/push/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="push-form"' in dialog and "<html" not in dialog
    with mock.patch("connectors.tasks.push_preview_task.apply_async"):
        response = client.post(
            f"/connectors/{connector.pk}/push/", {"comment": "new cert", "next": f"/certificates/{certificate.pk}/"}
        )
    assert response.status_code == 302 and response["Location"] == f"/certificates/{certificate.pk}/"
    row = PushDevice.objects.get(connector=connector)
    assert row.work_order.state == "draft" and row.work_order.params["comment"] == "new cert"


def test_the_work_order_page_shows_the_preview_for_the_approvers(
    client: Any, requester: Any, approver: Any, certificate: Any
) -> None:
    connector = _connector(certificate, requester)
    with mock.patch("connectors.tasks.push_preview_task.apply_async"):
        from connectors.services import push_request

        (order,) = push_request(connector=connector, user=requester)
    PushDevice.objects.filter(work_order=order).update(
        step="ready",
        preview={
            "os_build": 17763,
            "pfx_algorithm": "aes256_sha256",
            "pfx_algorithm_label": "AES-256 with SHA-256",
            "location": "LocalMachine\\My",
            "certificates": [{"role": "certificate", "subject": "CN=x", "thumbprint": "AB", "to": "My"}],
            "changes": [
                {
                    "site": "Default Web Site",
                    "action": "update_certificate",
                    "before": {"binding_information": "*:443:", "ssl_flags": 0, "certificate_hash": "CD"},
                    "after": {"binding_information": "*:443:", "ssl_flags": 0, "sni": False},
                    "shared_with": [{"site": "Other", "binding_information": "*:443:other.example.test"}],
                }
            ],
        },
    )
    client.force_login(approver)
    html = client.get(f"/work-orders/{order.pk}/").content.decode()
    assert 'data-testid="push-panel"' in html and "AES-256 with SHA-256" in html
    assert "Other: *:443:other.example.test" in html


def test_the_push_lists_show_server_and_client_certificates(client: Any, auditor: Any, db: Any) -> None:
    server = make_certificate("server.example.test")
    client_cert = make_certificate("client-one", client=True)
    client.force_login(auditor)
    servers = client.get("/push/server/").content.decode()
    clients = client.get("/push/client/").content.decode()
    assert "server.example.test" in servers and "client-one" not in servers
    assert "client-one" in clients and f"/certificates/{client_cert.pk}/" in clients
    assert f"/certificates/{server.pk}/" in servers


def test_the_report_draws_the_share_and_the_series_and_lists_failing_endpoints(
    client: Any, requester: Any, auditor: Any, certificate: Any
) -> None:
    connector = _connector(certificate, requester)
    web = connector.targets.get().device
    now = timezone.now()
    endpoint = ConnectorEndpoint.objects.create(
        connector=connector,
        device=web,
        site="Shop",
        address="127.0.0.1",
        ip="*",
        port=443,
        host="shop.example.test",
        expected_thumbprint=certificate.thumbprint,
        last_ok=False,
        last_checked_at=now,
        last_served_thumbprint="EE" * 20,
        last_error="served EE..., expected ...",
    )
    for days, ok in ((0, True), (0, False), (2, True)):
        EndpointCheck.objects.create(
            connector=connector,
            device=web,
            endpoint=endpoint,
            source=CheckSource.SWEEP,
            address="127.0.0.1",
            port=443,
            ok=ok,
            at=now - timedelta(days=days),
        )
    client.force_login(auditor)
    html = client.get("/reports/push-validation/?days=7").content.decode()
    assert 'data-testid="share-chart"' in html and 'data-testid="series-chart"' in html
    assert 'data-testid="report-succeeded">2<' in html and 'data-testid="report-failed">1<' in html
    assert "EE" * 20 in html and "shop.example.test" in html
    assert 'data-testid="run-validation"' not in html  # administrators only


ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_pages_per_role(role: str, role_users: dict[str, Any], client: Any, certificate: Any) -> None:
    user = role_users[role]
    connector = _connector(certificate, role_users["requester"])
    client.force_login(user)
    writer = role in ("administrator", "requester")
    assert client.get("/push/server/").status_code == 200
    assert client.get("/reports/push-validation/").status_code == 200
    assert client.get(f"/connectors/{connector.pk}/").status_code == 200
    assert client.get(f"/connectors/new/?certificate={certificate.pk}").status_code == (200 if writer else 403)
    assert client.get(f"/connectors/{connector.pk}/edit/").status_code == (200 if writer else 403)
    assert client.get(f"/connectors/{connector.pk}/push/").status_code == (200 if writer else 403)
    with mock.patch("connectors.tasks.push_validation_task.delay"):
        run = client.post("/reports/push-validation/run/")
    assert run.status_code == (302 if role == "administrator" else 403)
