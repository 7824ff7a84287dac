"""General Settings: the PKCS#12 algorithm for modern hosts and the push-validation sweep, API and page."""

from __future__ import annotations

from typing import Any

import pytest

from clm.models import AuditEvent
from connectors.settings_services import general_settings_get

ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_general_settings_api_per_role(role: str, role_users: dict[str, Any], api: Any) -> None:
    client = api(role_users[role])
    response = client.get("/api/v1/settings/general/")
    assert response.status_code == 200
    assert response.json()["pkcs12_encryption"] == "aes256_sha256"
    update = client.put("/api/v1/settings/general/", {"pkcs12_encryption": "tripledes_sha1"}, format="json")
    assert update.status_code == (200 if role == "administrator" else 403)
    expected = "tripledes_sha1" if role == "administrator" else "aes256_sha256"
    assert general_settings_get().pkcs12_encryption == expected


def test_an_unknown_algorithm_is_a_400_naming_the_field(admin_user: Any, api: Any) -> None:
    response = api(admin_user).put("/api/v1/settings/general/", {"pkcs12_encryption": "rc2_40"}, format="json")
    assert response.status_code == 400
    assert "pkcs12_encryption" in response.json()["errors"]
    assert general_settings_get().pkcs12_encryption == "aes256_sha256"


def test_a_change_is_audited_with_what_changed(admin_user: Any, api: Any) -> None:
    api(admin_user).put("/api/v1/settings/general/", {"push_validation_interval_minutes": 30}, format="json")
    event = AuditEvent.objects.get(action="settings.general.updated")
    assert "push_validation_interval_minutes=30" in event.summary


def test_the_page_saves_and_redisplays_errors(client: Any, admin_user: Any, requester: Any) -> None:
    client.force_login(requester)
    assert client.get("/settings/general/").status_code == 403
    client.force_login(admin_user)
    bad = client.post(
        "/settings/general/",
        {
            "pkcs12_encryption": "tripledes_sha1",
            "push_validation_interval_minutes": 1,
            "push_validation_concurrency": 10,
        },
    )
    assert bad.status_code == 200
    assert b"Ensure this value is greater than or equal to 5" in bad.content
    assert b'value="tripledes_sha1" selected' in bad.content  # what the user chose is kept
    assert general_settings_get().pkcs12_encryption == "aes256_sha256"
    good = client.post(
        "/settings/general/",
        {
            "pkcs12_encryption": "tripledes_sha1",
            "push_validation_interval_minutes": 15,
            "push_validation_concurrency": 10,
        },
    )
    assert good.status_code == 302
    assert general_settings_get().push_validation_interval_minutes == 15
