"""Chromium through the whole push: the requester adds a connector from the certificate's holistic view and asks
for the push; a real worker previews it on the demo lab; the approvers read the preview on the work order and
approve at both levels; the implementer implements; the worker pushes and verifies over TLS; the holistic view
shows Completed and In sync, and the Push Validation Report counts the check."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.models import PushDevice
from iissim.lab import Lab
from tests.connectors.helpers import address, make_certificate, onboard, served_thumbprint
from tests.devices.labs import redis_broker_in_use, running_lab
from tests.fixtures.browser import login, shot
from tests.fixtures.users import PASSWORD, make_user
from tests.fixtures.workers import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOP = "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)"


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def worker(worker_factory: Any) -> Iterator[WorkerProcess]:
    with redis_broker_in_use() as url:
        yield worker_factory("e2e-push", ["default", "devices"], url)


def sign_out(page: Any) -> None:
    page.click("text=Sign out")
    page.wait_for_url("**/login/")


def confirm_in_dialog(page: Any, opener: str, comment: str) -> None:
    page.click(f"[data-testid={opener}]")
    dialog = page.locator("#dialog")
    dialog.locator("textarea[name=comment]").wait_for()
    dialog.locator("textarea[name=comment]").fill(comment)
    with page.expect_navigation():
        dialog.locator("[data-testid=confirm]").click()


def reload_until(page: Any, predicate: Any, worker: WorkerProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(1)
        page.reload()


def test_a_connector_added_from_the_holistic_view_is_previewed_approved_pushed_and_reported(
    page: Any, live_server: Any, worker: WorkerProcess, lab: Lab
) -> None:
    rita = make_user("rita", "requester")
    april, bruno = make_user("april", "approver"), make_user("bruno", "approver")
    ian = make_user("ian", "implementer")
    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("shop.lab.test", sans=["shop.lab.test", "www.shop.lab.test"])
    holistic = f"/certificates/{certificate.pk}/"

    # The requester adds a connector from the holistic view: server, profile, bind type.
    login(page, rita.username, PASSWORD)
    page.goto(holistic)
    assert page.get_by_test_id("no-app-connectors").is_visible()
    page.click("[data-testid=add-connector]")
    assert page.locator("h1").inner_text() == "Add application connector"
    page.fill("[name=name]", "shop-iis2019")
    assert page.locator("[name=bind_type]").first.is_visible()
    page.check("input[name=push_type][value=push]")
    assert not page.locator("[name=bind_type]").first.is_visible()  # bind type belongs to Push and Bind only
    page.check("input[name=push_type][value=push_and_bind]")
    page.check(f"input[name=devices][value='{devices['IIS2019'].pk}']")
    profile = page.locator(f"input[name=profiles][value='{devices['IIS2019'].pk}|{SHOP}']")
    profile.wait_for()  # the profile list followed the server selection (htmx)
    profile.check()
    page.check("input[name=bind_type][value=update_certificate]")
    shot(page, "push-connector-form")
    with page.expect_navigation():
        page.click("[data-testid=connector-save]")
    assert page.url.endswith(holistic)
    card = page.get_by_test_id("app-connector")
    assert SHOP in card.inner_text() and "Unknown" in card.get_by_test_id("sync-status").inner_text()

    # Push to Device: a comment, then the worker reads the host for the preview and submits the order.
    confirm_in_dialog(page, "push-to-device", "Shop renewal")
    reload_until(page, lambda: "Submitted" in page.get_by_test_id("wo-chip").first.inner_text(), worker)
    order = PushDevice.objects.get(connector__name="shop-iis2019").work_order
    shot(page, "push-holistic-submitted")
    sign_out(page)

    # Approver A reads the preview on the work order and approves level 1.
    login(page, april.username, PASSWORD)
    page.goto(f"/work-orders/{order.pk}/")
    panel = page.get_by_test_id("push-panel")
    assert "shop.lab.test" in panel.get_by_test_id("preview-changes").inner_text()
    assert "AES-256" in panel.get_by_test_id("pfx-algorithm").inner_text()  # IIS2019 is build 17763
    shot(page, "push-workorder-preview")
    confirm_in_dialog(page, "wo-approve", "Preview checked")
    sign_out(page)

    # Approver B approves level 2 from the holistic view.
    login(page, bruno.username, PASSWORD)
    page.goto(holistic)
    confirm_in_dialog(page, "wo-approve", "OK")
    assert "Approved" in page.get_by_test_id("wo-chip").first.inner_text()
    sign_out(page)

    # The implementer implements now; the page follows the order until it is completed.
    login(page, ian.username, PASSWORD)
    page.goto(holistic)
    confirm_in_dialog(page, "wo-implement", "Go")
    try:
        page.wait_for_selector("[data-testid=wo-status][data-state=completed]", timeout=90_000)
    except Exception as exc:
        raise AssertionError(worker.log()[-5000:]) from exc
    page.goto(holistic)
    card = page.get_by_test_id("app-connector")
    assert "Completed" in card.get_by_test_id("last-push").inner_text(), worker.log()[-3000:]
    assert "In sync" in card.get_by_test_id("sync-status").inner_text()
    shot(page, "push-holistic-completed")
    assert served_thumbprint(address(lab, "IIS2019"), 443, "shop.lab.test") == certificate.thumbprint

    # The Push Validation Report counts the check made right after the push.
    page.click("nav.sidenav a[href='/reports/push-validation/']")
    assert page.locator("h1").inner_text() == "Push Validation Report"
    assert int(page.get_by_test_id("report-succeeded").inner_text()) >= 1
    assert page.get_by_test_id("share-chart").is_visible()
    assert re.search(r"1 \(1 verified", page.locator("main").inner_text())
    shot(page, "push-validation-report")
