"""The UI shell: sign-in required, navigation in the reference's order, honest "not built yet" pages."""

from __future__ import annotations

from typing import Any

import pytest

from clm.models import Job
from clm.navigation import NAVIGATION, item_url


def test_pages_require_sign_in(client: Any, db: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_navigation_follows_the_reference_order(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    labels = [
        "Device Management",
        "Discovery",
        "Inventory",
        "Enroll",
        "Push to Device",
        "Work Orders",
        "Groups &amp; Policies",
        "Reports",
        "Settings",
        "Audit",
    ]
    positions = [html.index(label) for label in labels]
    assert positions == sorted(positions)


def test_every_menu_entry_opens_for_an_administrator(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    for section in NAVIGATION:
        for item in section.items:
            url, built = item_url(item)
            response = client.get(url)
            assert response.status_code == 200, (item.label, url)
            if not built:
                assert b"Not built yet." in response.content, item.label


def test_an_unbuilt_page_says_so_and_names_its_issue(client: Any, requester: Any) -> None:
    client.force_login(requester)
    response = client.get("/soon/report-push-validation/")
    assert b"Not built yet." in response.content
    assert b"[push]" in response.content


def test_an_unknown_unbuilt_slug_is_a_404(client: Any, requester: Any) -> None:
    client.force_login(requester)
    assert client.get("/soon/no-such-thing/").status_code == 404


@pytest.mark.parametrize(
    ("role", "sees_admin_entries"), [("administrator", True), ("requester", False), ("auditor", False)]
)
def test_menu_entries_follow_the_role(
    role: str, sees_admin_entries: bool, client: Any, role_users: dict[str, Any]
) -> None:
    client.force_login(role_users[role])
    html = client.get("/").content.decode()
    assert ("Credential List" in html) is sees_admin_entries
    assert ("Audit" in html) is (role in {"administrator", "auditor"})


def test_users_page_is_for_administrators_only(client: Any, role_users: dict[str, Any]) -> None:
    for role, user in role_users.items():
        client.force_login(user)
        assert client.get("/settings/users/").status_code == (200 if role == "administrator" else 403)


def test_job_progress_partial_polls_until_finished(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    job = Job.objects.create(kind="selftest", created_by=admin_user, progress=40, state="running")
    partial = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in partial and "40%" in partial and "<html" not in partial
    Job.objects.filter(pk=job.pk).update(state="completed", progress=100)
    assert "hx-trigger" not in client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()


def test_someone_elses_job_page_is_refused(client: Any, requester: Any, admin_user: Any) -> None:
    job = Job.objects.create(kind="selftest", created_by=admin_user)
    client.force_login(requester)
    assert client.get(f"/jobs/{job.pk}/").status_code == 403


def test_the_selftest_button_is_for_administrators(client: Any, requester: Any) -> None:
    client.force_login(requester)
    assert client.post("/jobs/selftest/").status_code == 403
    assert not Job.objects.exists()
