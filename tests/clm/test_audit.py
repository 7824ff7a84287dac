"""The audit trail: append-only, readable by administrators and auditors only, filterable."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from clm.audit import audit_record
from clm.models import AppendOnlyError, AuditEvent

ROLE_CAN_READ = {"administrator": True, "auditor": True, "requester": False, "approver": False, "implementer": False}


@pytest.mark.parametrize(("role", "allowed"), ROLE_CAN_READ.items())
def test_audit_api_per_role(role: str, allowed: bool, role_users: dict[str, Any], api: Any) -> None:
    audit_record(actor=role_users["administrator"], action="test.thing", summary="something happened")
    client = api(role_users[role])
    listing = client.get("/api/v1/audit-events/")
    assert listing.status_code == (200 if allowed else 403)
    if allowed:
        assert any(e["action"] == "test.thing" for e in listing.json()["results"])
    event = AuditEvent.objects.get(action="test.thing")
    assert client.get(f"/api/v1/audit-events/{event.pk}/").status_code == (200 if allowed else 403)
    # Read-only for everyone, administrators included.
    assert client.delete(f"/api/v1/audit-events/{event.pk}/").status_code in {403, 405}
    assert client.post("/api/v1/audit-events/", {"action": "x"}, format="json").status_code in {403, 405}


def test_audit_api_refuses_anonymous(db: Any, api: Any) -> None:
    assert api(None).get("/api/v1/audit-events/").status_code == 401


def test_audit_api_filters_by_actor_action_and_tracking_id(admin_user: Any, requester: Any, api: Any) -> None:
    audit_record(actor=requester, action="enrollment.submitted", summary="a", tracking_id="TRK-1")
    audit_record(actor=admin_user, action="device.created", summary="b")
    client = api(admin_user)
    by_tracking = client.get("/api/v1/audit-events/", {"tracking_id": "TRK-1"}).json()["results"]
    assert [e["action"] for e in by_tracking] == ["enrollment.submitted"]
    by_actor = client.get("/api/v1/audit-events/", {"actor": requester.username}).json()["results"]
    assert {e["action"] for e in by_actor} == {"enrollment.submitted"}
    by_action = client.get("/api/v1/audit-events/", {"action": "device"}).json()["results"]
    assert [e["summary"] for e in by_action] == ["b"]


def test_an_audit_event_cannot_be_changed_or_deleted_through_the_orm(admin_user: Any) -> None:
    event = audit_record(actor=admin_user, action="test.thing", summary="original")
    event.summary = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(summary="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "original"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_postgresql_refuses_raw_updates_and_deletes(admin_user: Any) -> None:
    event = audit_record(actor=admin_user, action="test.thing", summary="original")
    for sql in ("UPDATE clm_auditevent SET summary = 'x' WHERE id = %s", "DELETE FROM clm_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).summary == "original"


def test_deleting_a_user_keeps_their_audit_events(requester: Any) -> None:
    audit_record(actor=requester, action="test.thing", summary="kept")
    requester.delete()
    event = AuditEvent.objects.get(action="test.thing")
    assert event.actor_name == "rita-requester"


def test_audit_page_per_role(client: Any, role_users: dict[str, Any]) -> None:
    audit_record(actor=role_users["administrator"], action="test.thing", summary="visible summary")
    for role, allowed in ROLE_CAN_READ.items():
        client.force_login(role_users[role])
        response = client.get("/audit/", {"q": "visible"})
        assert response.status_code == (200 if allowed else 403), role
        if allowed:
            assert b"visible summary" in response.content
