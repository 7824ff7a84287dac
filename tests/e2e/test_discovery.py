"""Chromium through discovery and the inventory: an administrator picks devices in the discovery form (search,
Selected / Unselected / Favorites), discovers now, watches the run's live progress until the real worker has read
the demo lab over WinRM, then browses the Server inventory (search, sort, saved filter, CSV), opens a certificate
with its locations and bindings, and visits Groups & Policies and the expiry report. The scheduled-discovery form
shows its plain-language summary as it is filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from iissim.lab import Lab
from tests.devices.labs import redis_broker_in_use, running_lab
from tests.discovery.labhelpers import expected_for, onboard_demo
from tests.fixtures.browser import login, shot
from tests.fixtures.users import PASSWORD


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def worker(worker_factory: Any) -> Iterator[Any]:
    with redis_broker_in_use() as url:
        yield worker_factory("discovery", ["default", "devices"], url, concurrency=2)


def shown_rows(page: Any) -> list[str]:
    return [
        row.locator("td").nth(2).inner_text().strip()
        for row in page.locator("[data-device-row]").all()
        if row.is_visible()
    ]


@pytest.mark.browser
@pytest.mark.integration
def test_an_administrator_discovers_the_lab_and_browses_the_inventory(
    page: Any, lab: Lab, worker: Any, admin_user: Any
) -> None:
    devices = onboard_demo(lab)
    login(page, admin_user.username, PASSWORD)
    page.click("nav.sidenav a:has-text('Managed Devices Scan')")
    page.wait_for_load_state()  # under load the text was read while the page was still arriving
    assert page.locator("h1").inner_text() == "Managed Devices Scan"
    assert "No discoveries yet" in page.locator("main").inner_text()
    page.click("text=Add discovery")
    page.fill("#id_name", "Demo lab scan")
    page.fill("#id_description", "Stores, folders and shares of the three lab hosts")

    # The device picker (Table 9): search, favourites, All / Selected / Unselected.
    assert shown_rows(page) == ["IIS2016", "IIS2019", "IIS2022"]
    page.fill("[data-picker-search]", "2019")
    assert shown_rows(page) == ["IIS2019"]
    page.click("[data-picker-select=visible]")
    page.fill("[data-picker-search]", "")
    page.check("input[data-picker-show][value=selected]")
    assert shown_rows(page) == ["IIS2019"]
    page.check("input[data-picker-show][value=unselected]")
    assert shown_rows(page) == ["IIS2016", "IIS2022"]
    star = page.locator("[data-device-row]:has-text('IIS2022') button.star")
    star.click()
    page.wait_for_selector("[data-device-row]:has-text('IIS2022') button.star[data-favourite='1']")
    page.check("input[data-picker-show][value=favourites]")
    assert shown_rows(page) == ["IIS2022"]
    page.check("input[data-picker-show][value=all]")
    page.click("[data-picker-select=visible]")
    assert page.locator("[data-picker-count]").inner_text() == "3"
    shot(page, "discovery-form")

    page.click("[data-testid=discover]")
    page.wait_for_url(re.compile(r".*/discovery/runs/\d+/$"))
    assert page.locator("h1").inner_text().endswith("Demo lab scan")
    # Live progress: the block polls itself until the worker has finished every device.
    page.wait_for_selector("#run-progress[data-state=completed]", timeout=120_000)
    assert page.locator("[data-testid=run-devices]").inner_text() == "3 of 3"
    assert page.locator("tr[data-state=completed]").count() == 3
    assert "partner.p12" in page.locator("[data-testid=locked-files]").inner_text()
    shot(page, "discovery-run")

    everything = set().union(*(expected_for(lab, n).thumbprints for n in devices))
    page.click("nav.sidenav a:has-text('Server')  >> nth=1")
    page.wait_for_url("**/inventory/server/")
    count = int(page.locator("[data-testid=row-count]").inner_text().split()[0])
    assert count == len(everything)
    page.fill("#id_q", "shop")
    page.click("form[data-testid=filterbar] button[type=submit]")
    page.wait_for_url(re.compile(r".*q=shop.*"))
    names = page.locator("[data-testid=inventory-table] tbody tr td:first-child").all_inner_texts()
    assert names and all("shop" in n for n in names)
    page.fill("#id_name", "Shop certificates")
    page.click("[data-testid=save-filter]")
    page.wait_for_selector("[data-testid=saved-filter]:has-text('Shop certificates')")
    page.click("th a[data-sort=not_after]")
    page.wait_for_url(re.compile(r".*o=not_after.*"))
    shot(page, "inventory-server")

    page.fill("#id_q", "v6.lab.test")
    page.click("form[data-testid=filterbar] button[type=submit]")
    page.wait_for_url(re.compile(r".*q=v6.*"))
    page.click("[data-testid=inventory-table] tbody tr td:first-child a")
    page.wait_for_selector("[data-testid=locations]")
    locations = page.locator("[data-testid=locations]").inner_text()
    assert "IIS2019" in locations and "[2001:db8:10::19]:443:" in locations
    assert "Cert:\\LocalMachine\\My" in locations
    shot(page, "certificate-detail")

    page.click("nav.sidenav a:has-text('Groups & Policies')")
    assert page.locator("h1").inner_text() == "Groups & Policies"
    assert page.locator("[data-testid=groups]").inner_text().count("Default") >= 1
    shot(page, "groups-policies")
    page.click("nav.sidenav a:has-text('Expiry')")
    assert page.locator("[data-testid=expiry-chart]").is_visible()
    shot(page, "expiry-report")


@pytest.mark.browser
def test_the_schedule_fields_follow_the_reference_and_summarise_themselves(page: Any, admin_user: Any) -> None:
    login(page, admin_user.username, PASSWORD)
    page.goto("/discovery/scans/new/")
    assert not page.locator("#id_time").is_visible()
    page.check("input[name=run_type][value=scheduled]")
    assert page.locator("#id_time").is_visible() and not page.locator("input[name=repeat_on]").first.is_visible()
    page.select_option("#id_occurrence", "weekly")
    assert page.locator("input[name=repeat_on]").first.is_visible()
    page.check("input[name=repeat_on][value=mon]")
    page.check("input[name=repeat_on][value=thu]")
    page.select_option("#id_time_zone", "Europe/Paris")
    page.fill("#id_time", "02:00")
    page.fill("#id_starts_on", "2026-12-01")
    page.check("input[name=ends][value=after]")
    assert page.locator("#id_ends_after").is_visible()
    page.fill("#id_ends_after", "5")
    page.locator("#id_ends_after").dispatch_event("change")
    summary = page.locator("[data-testid=schedule-summary]")
    summary.filter(has_text="5 times").wait_for()
    assert summary.inner_text().startswith(
        "Every week on Monday and Thursday at 02:00 (Europe/Paris), starting 1 December 2026, 5 times."
    )
    shot(page, "discovery-schedule")
