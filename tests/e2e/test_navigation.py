"""Chromium signs in, opens every menu entry, and signs out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.browser import login, shot
from tests.fixtures.users import PASSWORD


@pytest.mark.browser
def test_it_signs_in_opens_each_menu_entry_and_signs_out(page: Any, admin_user: Any) -> None:
    login(page, admin_user.username, PASSWORD)
    assert page.locator("h1").inner_text() == "Dashboard"
    shot(page, "dashboard")
    links = page.locator("nav.sidenav a")
    entries = [(links.nth(i).inner_text(), links.nth(i).get_attribute("href")) for i in range(links.count())]
    assert len(entries) >= 17
    for label, href in entries:
        page.click(f"nav.sidenav a[href='{href}']")
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1, label
        assert page.locator("nav.sidenav a.active").count() >= 1, label
        if "(not built yet)" in label:
            assert page.get_by_test_id("not-built").is_visible(), label
    page.click("text=Sign out")
    page.wait_for_url("**/login/")
    assert page.locator("h1").inner_text() == "Sign in to Thumbprint"


@pytest.mark.browser
def test_a_wrong_password_shows_an_error_and_keeps_the_user_name(page: Any, requester: Any) -> None:
    page.goto("/login/")
    page.fill("#id_username", requester.username)
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".form-errors").is_visible()
    assert page.input_value("#id_username") == requester.username
