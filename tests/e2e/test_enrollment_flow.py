"""Chromium clicks the whole enrollment flow with three users: the requester enrolls and submits, approver A and
approver B approve, the requester implements; a real Celery worker gets the certificate from the built-in CA; the
holistic view shows it Managed and the downloaded PEM verifies to the built-in root with openssl."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.enrollment.helpers import builtin_account, openssl
from tests.fixtures.browser import login, shot
from tests.fixtures.users import PASSWORD, make_user
from tests.fixtures.workers import WorkerProcess, use_broker
from tests.services import broker_url

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def worker(worker_factory: Any) -> Iterator[WorkerProcess]:
    url = broker_url()
    with use_broker(url):
        from clm.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
        yield worker_factory("e2e-enroll", ["default"], url)


def sign_out(page: Any) -> None:
    page.click("text=Sign out")
    page.wait_for_url("**/login/")


def confirm_in_dialog(page: Any, opener: str, comment: str) -> None:
    """Click an action that asks for a comment in the dialog, type it, and say Yes."""
    page.click(f"[data-testid={opener}]")
    dialog = page.locator("#dialog")
    dialog.locator("textarea[name=comment]").wait_for()
    dialog.locator("textarea[name=comment]").fill(comment)
    with page.expect_navigation():
        dialog.locator("[data-testid=confirm]").click()


def test_three_users_click_through_enrollment_to_a_managed_certificate(
    page: Any, live_server: Any, worker: WorkerProcess, tmp_path: Path
) -> None:
    account = builtin_account()
    rita = make_user("rita", "requester", "implementer")
    april, bruno = make_user("april", "approver"), make_user("bruno", "approver")

    # The requester fills in the Enroll Server form.
    login(page, rita.username, PASSWORD)
    page.click("nav.sidenav >> text=Enroll")
    page.click("nav.sidenav a[href='/enroll/server/']")
    assert page.locator("h1").inner_text() == "Enroll Server Certificate"
    page.fill("[name=connector_name]", "shop-prod")
    page.fill("[name=common_name]", "shop.example.test")
    assert page.input_value("[name=vendor_certificate_id]") == "shop.example.test"  # follows the common name
    page.fill("[name=san_dns]", "shop.example.test, www.shop.example.test")
    page.fill("[name=validity_value]", "30")
    page.select_option("[name=key_type]", "rsa")
    page.select_option("[name=rsa_key_size]", "2048")
    page.fill("[name=tracking_id]", "CHG-E2E")
    page.check("[name=renew_automatically]")
    assert page.locator("[name=renew_days_before]").is_visible()
    shot(page, "enroll-server-form")
    with page.expect_navigation():
        page.click("[data-testid=enroll-add]")
    assert page.locator("h1").inner_text().startswith("shop.example.test")
    assert page.get_by_test_id("wo-chip").first.inner_text().endswith("Draft")
    shot(page, "holistic-draft")
    confirm_in_dialog(page, "wo-submit", "New shop site")
    assert "Submitted" in page.get_by_test_id("wo-chip").first.inner_text()
    holistic_url = page.url
    sign_out(page)

    # Approver A finds it awaiting approval and gives level 1.
    login(page, april.username, PASSWORD)
    page.click("nav.sidenav a[href='/work-orders/']")
    assert "Awaiting my approval" in page.locator("a.tab.active").inner_text()
    assert page.get_by_test_id("notifications").is_visible()
    page.get_by_test_id("workorder-table").locator("a", has_text="WO-").first.click()
    shot(page, "workorder-detail")
    confirm_in_dialog(page, "wo-approve", "SANs checked")
    assert "Approved (L1)" in page.get_by_test_id("wo-chip").first.inner_text()
    assert page.get_by_test_id("wo-approve").count() == 0  # she cannot give the second approval
    sign_out(page)

    # Approver B gives level 2 from the holistic view.
    login(page, bruno.username, PASSWORD)
    page.goto(holistic_url)
    confirm_in_dialog(page, "wo-approve", "OK for production")
    assert "Approved" in page.get_by_test_id("wo-chip").first.inner_text()
    sign_out(page)

    # The requester implements now; the schedule picker appears only with manual implementation off.
    login(page, rita.username, PASSWORD)
    page.goto(holistic_url)
    page.click("[data-testid=wo-implement]")
    dialog = page.locator("#dialog")
    dialog.locator("textarea[name=comment]").wait_for()
    assert not dialog.locator("[name=schedule_at]").is_visible()
    dialog.locator("input[name=manual_implementation][value=off]").check()
    assert dialog.locator("[name=schedule_at]").is_visible()
    dialog.locator("input[name=manual_implementation][value=on]").check()
    shot(page, "implement-dialog")
    dialog.locator("textarea[name=comment]").fill("Go")
    with page.expect_navigation():
        dialog.locator("[data-testid=confirm]").click()

    # The worker issues the certificate; the page refreshes itself into the certificate's holistic view.
    page.wait_for_url(re.compile(r".*/certificates/\d+/$"), timeout=60_000)
    assert page.get_by_test_id("cert-status").inner_text().startswith("Managed"), worker.log()[-2000:]
    assert "Completed" in page.get_by_test_id("wo-chip").first.inner_text()
    assert "DNS:www.shop.example.test" in page.get_by_test_id("cert-sans").inner_text()
    shot(page, "holistic-issued")

    with page.expect_download() as download:
        page.click("[data-testid=download-pem]")
    (tmp_path / "leaf.pem").write_bytes(Path(download.value.path()).read_bytes())
    for name in ("root.pem", "issuing.pem"):
        response = page.request.get(f"{live_server.url}/pki/{account.pk}/{name}")
        (tmp_path / name).write_bytes(response.body())
    verdict = openssl("verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem", cwd=tmp_path)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr

    # A PFX download asks for a password in a dialog.
    page.click("[data-testid=download-pfx]")
    dialog.locator("[name=password]").wait_for()
    dialog.locator("[name=password]").fill("Pfx-pass-123")
    dialog.locator("[name=password_confirm]").fill("Pfx-pass-123")
    with page.expect_download() as pfx:
        dialog.locator("[data-testid=confirm]").click()
    (tmp_path / "cert.pfx").write_bytes(Path(pfx.value.path()).read_bytes())
    unpacked = openssl("pkcs12", "-in", "cert.pfx", "-passin", "pass:Pfx-pass-123", "-nodes", cwd=tmp_path)
    assert unpacked.returncode == 0 and "PRIVATE KEY" in unpacked.stdout
