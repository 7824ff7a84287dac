"""The Server inventory pages and Settings > Gateways through Django's test client: lists with search, filters,
sorting and CSV export; the onboarding form with its server-side rules; detail, status log, validate, delete.

The seam faked here is the Celery send (`clm.tasks.run_job.apply_async`); the browser test
(tests/e2e/test_onboarding.py) runs the same pages against a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clm.models import Job
from devices.choices import ValidationState
from devices.models import Device, DeviceValidation, Gateway
from devices.services import device_create, gateway_create
from tests.devices.helpers import client_pfx, gateway_input, manual_input
from tests.fixtures.users import PASSWORD
from vaults.services import credential_create

pytestmark = pytest.mark.django_db
SECRET = "F0rm-Secr3t!"


@pytest.fixture(autouse=True)
def sent() -> Iterator[mock.MagicMock]:
    with mock.patch("clm.tasks.run_job.apply_async") as send:
        yield send


def signed_in(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "iis-web-01",
        "hostname": "iis-web-01.example.test",
        "data_center": "dc-east",
        "cert_sync": "managed",
        "credential_type": "manual",
        "username": "EXAMPLE\\svc",
        "password": SECRET,
        "gateway_mode": "integrated",
        "gateway_select": "existing",
        "winrm_scheme": "https",
        "winrm_port": "5986",
        "winrm_auth": "ntlm",
        "verify_tls": "on",
        "folder_credential_mode": "device",
        "folder_credential_type": "manual",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_empty_inventory_says_what_to_do_next(admin_user: Any) -> None:
    page = signed_in(admin_user).get("/devices/").content.decode()
    assert "<h1>Server</h1>" in page and "No servers yet" in page and "Add server" in page


def test_onboarding_through_the_form_creates_the_device_and_queues_its_validation(
    admin_user: Any, django_capture_on_commit_callbacks: Any, sent: mock.MagicMock
) -> None:
    client = signed_in(admin_user)
    assert "Microsoft IIS" in client.get("/devices/add/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/devices/add/", form_data())
    device = Device.objects.get(name="iis-web-01")
    assert response.status_code == 302 and response["Location"] == f"/devices/{device.pk}/"
    assert device.password == SECRET and device.winrm_port == 5986
    assert sent.call_args.kwargs["queue"] == "devices"
    page = client.get(f"/devices/{device.pk}/").content.decode()
    assert "validation is running" in page and 'data-testid="validation-progress"' in page
    assert SECRET not in page


def test_errors_are_shown_next_to_the_fields_and_what_was_typed_is_kept(admin_user: Any) -> None:
    client = signed_in(admin_user)
    response = client.post(
        "/devices/add/",
        form_data(
            hostname="https://bad",
            credential_type="vault:cyberark",
            winrm_scheme="http",
            winrm_auth="basic",
            file_system_enabled="on",
            file_system_path="",
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="form-errors"' in page
    assert "Enter a host name or IP address only" in page
    assert "Enter the certificate location" in page
    assert 'value="iis-web-01"' in page and 'value="dc-east"' in page
    assert SECRET not in page
    assert not Device.objects.exists()
    page = client.post("/devices/add/", form_data(credential_type="vault:hashicorp")).content.decode()
    assert "fetching secrets from external vaults is not available yet" in page


def test_the_form_onboards_through_a_new_external_gateway_with_a_client_certificate(admin_user: Any) -> None:
    client = signed_in(admin_user)
    entry = credential_create(name="svc", username="CORP\\svc", password="p")
    pfx = SimpleUploadedFile("ClientCertificateGateway.pfx", client_pfx(password="pfx"), "application/x-pkcs12")
    response = client.post(
        "/devices/add/",
        form_data(
            credential_type="credential_list",
            credential=str(entry.pk),
            password="",
            gateway_mode="external",
            gateway_select="new",
            new_gateway_name="branch",
            new_gateway_type="powershell",
            new_gateway_location="local_system",
            new_gateway_fqdn="gw.branch.test",
            new_gateway_port="9443",
            new_gateway_url="https://gw.branch.test:9443",
            new_gateway_client_certificate=pfx,
            new_gateway_client_certificate_password="pfx",
            file_system_enabled="on",
            file_system_path="\\\\fs01\\pki",
            folder_credential_mode="new",
            folder_credential_type="manual",
            folder_username="LAB\\svc-pki",
            folder_password="share-pass",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    device = Device.objects.get()
    assert device.credential == entry and device.gateway.name == "branch"
    assert device.gateway.client_certificate_subject == "CN=gateway-client"
    assert (device.file_system_path, device.folder_username, device.folder_password) == (
        "\\\\fs01\\pki",
        "LAB\\svc-pki",
        "share-pass",
    )
    assert Job.objects.get().queue == "gw.branch"


def test_new_gateway_errors_show_at_the_new_gateway_fields(admin_user: Any) -> None:
    page = (
        signed_in(admin_user)
        .post("/devices/add/", form_data(gateway_mode="external", gateway_select="new", new_gateway_name="Bad Name"))
        .content.decode()
    )
    assert "Use lower-case letters, digits and hyphens" in page
    assert "Enter the URL of the Windows gateway endpoint." in page
    assert not Gateway.objects.filter(mode="external").exists()


def test_editing_keeps_the_password_when_left_empty(admin_user: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    client = signed_in(admin_user)
    page = client.get(f"/devices/{device.pk}/edit/").content.decode()
    assert "Leave empty to keep the current value." in page and "Sw0rdfish" not in page
    assert 'value="iis-01.example.test"' in page
    response = client.post(
        f"/devices/{device.pk}/edit/",
        form_data(name="iis-01", hostname="iis-01.example.test", password="", username="EXAMPLE\\svc-iis"),
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.password == "Sw0rdfish-$@!" and device.winrm_auth == "ntlm"


def test_search_filter_sort_and_export(admin_user: Any) -> None:
    for name, dc in (("web-b", "east"), ("web-a", "west"), ("db-c", "east")):
        device_create(data=manual_input(name, data_center=dc), validate=False)
    Device.objects.filter(name="db-c").update(status="failed", status_reason="Device communication: boom")
    client = signed_in(admin_user)

    def names(query: str) -> list[str]:
        page = client.get(f"/devices/?{query}").content.decode()
        return [n for n in ("db-c", "web-a", "web-b") if f'data-device="{n}"' in page] if query else []

    assert names("q=web") == ["web-a", "web-b"]
    assert names("data_center=east") == ["db-c", "web-b"]
    assert names("status=failed") == ["db-c"]
    page = client.get("/devices/?o=-name").content.decode()
    assert page.index('data-device="web-b"') < page.index('data-device="web-a"') < page.index('data-device="db-c"')
    assert "Device communication: boom" in client.get("/devices/").content.decode()
    export = client.get("/devices/?export=csv&data_center=east")
    assert export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("name,hostname,vendor") and len(lines) == 3


def test_the_status_badge_opens_the_status_log_in_a_dialog(admin_user: Any) -> None:
    device = device_create(data=manual_input(), validate=False)
    validation = DeviceValidation.objects.create(
        device=device,
        state=ValidationState.FINISHED,
        status="failed",
        reason="Device communication: authentication failed",
        log=[
            {
                "step": "communication",
                "label": "Device communication",
                "ok": False,
                "outcome": "failed",
                "detail": "authentication failed",
                "at": "2026-01-01T10:00:00+00:00",
            },
        ],
    )
    Device.objects.filter(pk=device.pk).update(
        status="failed", status_reason=validation.reason, last_validation=validation
    )
    client = signed_in(admin_user)
    listing = client.get("/devices/").content.decode()
    assert f'data-dialog-url="/devices/{device.pk}/status-log/"' in listing
    fragment = client.get(f"/devices/{device.pk}/status-log/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "Device Status Log" in fragment
    assert "authentication failed" in fragment and 'data-step="communication"' in fragment
    assert "<h1>Device Status Log</h1>" in client.get(f"/devices/{device.pk}/status-log/").content.decode()


def test_the_status_card_reloads_the_page_when_the_validation_finishes(admin_user: Any) -> None:
    device = device_create(data=manual_input(), validate=True)
    client = signed_in(admin_user)
    polling = client.get(f"/devices/{device.pk}/status/?was_pending=1")
    assert "HX-Refresh" not in polling and "every 1500ms" in polling.content.decode()
    DeviceValidation.objects.filter(device=device).update(state=ValidationState.FINISHED)
    assert client.get(f"/devices/{device.pk}/status/?was_pending=1")["HX-Refresh"] == "true"


def test_detail_shows_facts_sites_profiles_and_locations(admin_user: Any) -> None:
    device = device_create(data=manual_input(file_system_path="C:\\certs"), validate=False)
    Device.objects.filter(pk=device.pk).update(
        os_build=17763,
        os_caption="Microsoft Windows Server 2019 Datacenter",
        iis_version="10.0",
        powershell_version="5.1.17763.1",
        sites=[
            {
                "id": 1,
                "name": "Shop",
                "state": "started",
                "bindings": [
                    {
                        "protocol": "https",
                        "binding_information": "*:443:shop.test",
                        "ip": "*",
                        "port": 443,
                        "host": "shop.test",
                        "sni": True,
                        "certificate_hash": "AB" * 20,
                        "certificate_store": "My",
                    },
                ],
            },
        ],
    )
    page = signed_in(admin_user).get(f"/devices/{device.pk}/").content.decode()
    assert "17763" in page and "5.1.17763.1" in page
    assert "MS IIS::Shop::*:443:shop.test:CS:(SNI)" in page
    assert 'data-testid="push-profile">iis-01<' in page
    assert "C:\\certs" in page and "LocalMachine\\My" in page


def test_validate_bulk_validate_and_delete(admin_user: Any, sent: mock.MagicMock) -> None:
    a = device_create(data=manual_input("a"), validate=False)
    b = device_create(data=manual_input("b"), validate=False)
    client = signed_in(admin_user)
    response = client.post(f"/devices/{a.pk}/validate/", {"next": "/devices/"})
    assert response["Location"] == "/devices/"
    client.post("/devices/validate/", {"devices": [str(a.pk), str(b.pk)]})
    assert DeviceValidation.objects.filter(state="queued").count() == 2
    dialog = client.get(f"/devices/{b.pk}/delete/", HTTP_HX_REQUEST="true").content.decode()
    assert "Delete server b?" in dialog and "<html" not in dialog
    client.post(f"/devices/{b.pk}/delete/", {"comment": "retired"})
    assert list(Device.objects.values_list("name", flat=True)) == ["a"]


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_other_roles_read_the_inventory_but_cannot_change_it(role: str, role_users: dict[str, Any]) -> None:
    device = device_create(data=manual_input(), validate=False)
    client = signed_in(role_users[role])
    listing = client.get("/devices/").content.decode()
    assert 'data-device="iis-01"' in listing and "Add server" not in listing
    assert client.get(f"/devices/{device.pk}/").status_code == 200
    assert client.get("/devices/add/").status_code == 403
    assert client.post(f"/devices/{device.pk}/validate/").status_code == 403
    assert client.post(f"/devices/{device.pk}/delete/").status_code == 403
    assert client.get("/devices/import/").status_code == 403
    assert client.get("/settings/gateways/").status_code == (200 if role == "auditor" else 403)


def test_gateway_pages(admin_user: Any) -> None:
    client = signed_in(admin_user)
    page = client.get("/settings/gateways/").content.decode()
    assert 'data-gateway="integrated-gateway"' in page and "<code>devices</code>" in page
    response = client.post(
        "/settings/gateways/add/",
        {"name": "dmz", "gateway_type": "wmi", "location": "remote", "url": "https://dmz.test", "username": ""},
    )
    assert response.status_code == 302
    gateway = Gateway.objects.get(name="dmz")
    assert gateway.gateway_type == "wmi" and gateway.queue == "gw.dmz"
    integrated = Gateway.objects.get(name="integrated-gateway")
    form = client.get(f"/settings/gateways/{integrated.pk}/edit/").content.decode()
    assert 'name="url"' not in form and 'name="username"' in form
    client.post(f"/settings/gateways/{integrated.pk}/edit/", {"username": "CORP\\gw", "password": "gw-secret"})
    integrated.refresh_from_db()
    assert (integrated.username, integrated.password) == ("CORP\\gw", "gw-secret")
    device_create(data=manual_input(gateway_mode="external", gateway=gateway), validate=False)
    page = client.post(f"/settings/gateways/{gateway.pk}/delete/", follow=True).content.decode()
    assert "is used by 1 device(s)" in page
    spare = gateway_create(data=gateway_input("spare"))
    client.post(f"/settings/gateways/{spare.pk}/delete/")
    assert not Gateway.objects.filter(name="spare").exists()
