"""Chromium onboards a simulated IIS host through the form: the conditional fields of the reference's Tables 1-5
appear and disappear, a missing password is reported next to its field with everything else kept, and after
saving, a real worker validates the host over WinRM until the page shows Managed; the status badge in the
Server inventory opens the Device Status Log in a dialog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from devices.models import Device
from iissim.lab import Lab
from tests.devices.labs import SERVICE_ACCOUNT, host_address, redis_broker_in_use, running_lab
from tests.fixtures.browser import login, shot
from tests.fixtures.users import PASSWORD
from vaults.services import credential_create

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def device_worker(worker_factory: Any) -> Iterator[Any]:
    with redis_broker_in_use() as url:
        yield worker_factory("devices", ["devices"], url, concurrency=1)


def visible(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).is_visible())


def test_an_administrator_onboards_a_host_through_the_form_and_sees_it_managed(
    page: Any, lab: Lab, device_worker: Any, admin_user: Any
) -> None:
    credential_create(name="lab-service-account", username=SERVICE_ACCOUNT, password="unused-here")
    login(page, admin_user.username, PASSWORD)
    page.click("nav.sidenav a:has-text('Server')")
    assert page.locator("h1").inner_text() == "Server"
    assert "No servers yet" in page.locator("#device-table").inner_text()
    page.click("text=Add server")
    page.wait_for_url("**/devices/add/")
    assert page.locator("h1").inner_text() == "Add server · Microsoft IIS"

    # Credentials (Table 2): manual entry shows user name and password; the credential list shows its dropdown;
    # an external vault shows the notice; the gateway credential shows neither.
    assert visible(page, "#id_username") and visible(page, "#id_password") and not visible(page, "#id_credential")
    page.select_option("#id_credential_type", "credential_list")
    assert visible(page, "#id_credential") and not visible(page, "#id_username")
    page.select_option("#id_credential_type", "vault:hashicorp")
    assert visible(page, "[data-testid=vault-notice]") and visible(page, "#id_vault_path")
    page.select_option("#id_credential_type", "gateway")
    assert not visible(page, "#id_username") and not visible(page, "#id_credential")
    page.select_option("#id_credential_type", "manual")

    # Windows gateway (Table 3): Integrated hides the external fields; External + New shows the new gateway's,
    # LocalSystem adds FQDN and port.
    assert visible(page, "input[aria-label^='Windows gateway name']") and not visible(page, "#id_new_gateway_name")
    page.check("input[name=gateway_mode][value=external]")
    assert visible(page, "input[name=gateway_select][value=new]") and visible(page, "#id_gateway")
    page.check("input[name=gateway_select][value=new]")
    assert visible(page, "#id_new_gateway_name") and visible(page, "#id_new_gateway_url")
    assert visible(page, "#id_new_gateway_client_certificate") and not visible(page, "#id_new_gateway_fqdn")
    page.select_option("#id_new_gateway_location", "local_system")
    assert visible(page, "#id_new_gateway_fqdn") and visible(page, "#id_new_gateway_port")
    page.check("input[name=gateway_mode][value=integrated]")
    assert not visible(page, "#id_new_gateway_name") and not visible(page, "#id_gateway")

    # WinRM: HTTPS shows verification and the CA bundle; Basic shows the warned opt-in.
    assert visible(page, "#id_ca_bundle")
    page.select_option("#id_winrm_auth", "basic")
    assert visible(page, "#id_allow_basic_over_http")
    page.select_option("#id_winrm_auth", "ntlm")
    assert not visible(page, "#id_allow_basic_over_http")
    page.select_option("#id_winrm_scheme", "http")
    assert not visible(page, "#id_ca_bundle")
    page.select_option("#id_winrm_scheme", "https")

    # Certificate location (Table 4) and folder credential (Table 5).
    assert not visible(page, "#id_file_system_path")
    page.check("#id_file_system_enabled")
    assert visible(page, "#id_file_system_path") and visible(page, "#id_password_vault")
    assert visible(page, "input[name=folder_credential_mode][value=new]")
    page.check("input[name=folder_credential_mode][value=new]")
    assert visible(page, "#id_folder_credential_type") and visible(page, "#id_folder_username")
    page.uncheck("#id_file_system_enabled")
    assert not visible(page, "#id_file_system_path") and not visible(page, "#id_folder_username")
    shot(page, "onboarding-form")

    address = host_address(lab, "IIS2019")
    page.fill("#id_name", "iis2019-browser")
    page.fill("#id_hostname", address)
    page.fill("#id_data_center", "lab")
    page.fill("#id_username", SERVICE_ACCOUNT)
    page.fill("#id_winrm_port", str(lab.winrm_port("IIS2019", "https")))
    page.fill("#id_ca_bundle", lab.ca_pem.decode())
    page.click("button:has-text('Save')")

    # No password: the error sits next to the field, the summary on top, and the typed values are still there.
    assert visible(page, "[data-testid=form-errors]")
    assert "Enter the password." in page.locator(".field.has-error").first.inner_text()
    assert page.input_value("#id_name") == "iis2019-browser" and page.input_value("#id_hostname") == address
    shot(page, "onboarding-form-errors")
    page.fill("#id_password", lab.users["IIS2019"][SERVICE_ACCOUNT])
    page.click("button:has-text('Save')")

    page.wait_for_url(re.compile(r".*/devices/\d+/$"))
    assert page.locator("h1").inner_text() == "iis2019-browser"
    badge = page.locator("#device-status .badge")
    badge.filter(has_text="Managed").wait_for(timeout=60_000)
    page.locator("[data-testid=facts]").wait_for()
    assert "17763" in page.locator("[data-testid=facts]").inner_text()
    assert "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)" in page.locator("[data-testid=profiles]").inner_text()
    shot(page, "device-detail-managed")
    device = Device.objects.get(name="iis2019-browser")
    assert device.status == "managed" and device.os_build == 17763

    page.click("nav.sidenav a:has-text('Server')")
    row = page.locator("tr[data-device='iis2019-browser']")
    assert "Managed" in row.inner_text()
    row.locator(".badge").click()
    dialog = page.locator("dialog#dialog")
    dialog.locator("[data-testid=status-log]").wait_for()
    assert dialog.is_visible()
    text = dialog.inner_text()
    for section in ("Device communication", "Device version", "Instance information", "Certificate discovery"):
        assert section in text
    assert dialog.locator("details.log-entry").count() == 4
    shot(page, "device-status-log-dialog")
