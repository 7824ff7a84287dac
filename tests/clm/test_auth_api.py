"""Token authentication for every role, and the audit events sign-ins leave."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from clm.models import AuditEvent
from tests.fixtures.users import PASSWORD

ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_gets_a_token_and_uses_it(role: str, role_users: dict[str, Any]) -> None:
    user = role_users[role]
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/jobs/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.token", actor=user).exists()


def test_it_refuses_a_wrong_password_with_401_and_audits_it(requester: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": requester.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "User name or password is wrong.", "errors": {}}
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert requester.username in event.summary


def test_it_names_missing_fields_in_the_error(db: Any) -> None:
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"username", "password"}
    assert body["detail"].startswith("Invalid input.")


def test_an_anonymous_request_is_refused_with_401(db: Any) -> None:
    response = APIClient().get("/api/v1/jobs/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_bad_token_is_refused(db: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert client.get("/api/v1/jobs/").status_code == 401


def test_ui_login_logout_and_failure_are_audited(client: Any, requester: Any) -> None:
    assert client.post("/login/", {"username": requester.username, "password": "wrong"}).status_code == 200
    response = client.post("/login/", {"username": requester.username, "password": PASSWORD})
    assert response.status_code == 302
    client.post("/logout/")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["auth.login_failed", "auth.login", "auth.logout"]
    login = AuditEvent.objects.get(action="auth.login")
    assert login.source_ip == "127.0.0.1"
    assert login.request_id
