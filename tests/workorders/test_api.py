"""The work-order API (API.md "Work orders"): shape, verbs, errors, and authorization for each role."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from tests.workorders.helpers import approved_order, new_order
from workorders.choices import WorkOrderState
from workorders.models import WorkOrder

S = WorkOrderState
ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.fixture(autouse=True)
def no_broker() -> Any:
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send:
        yield send


def test_it_shows_an_order_as_api_md_describes(api: Any, requester: Any, approver: Any) -> None:
    order = new_order(requester)
    api(requester).post(f"/api/v1/work-orders/{order.pk}/submit/", {"comment": "please"}, format="json")
    body = api(approver).get(f"/api/v1/work-orders/{order.pk}/").json()
    assert {"id", "request_id", "work_order_id", "action", "state", "requester", "events", "result", "error"} <= set(
        body
    )
    assert body["state"] == "submitted" and body["requester"] == requester.username and body["error"] is None
    assert body["events"][-1] == {
        "state": "submitted",
        "from_state": "draft",
        "verb": "submit",
        "by": requester.username,
        "at": body["events"][-1]["at"],
        "comment": "please",
    }
    assert body["available_actions"] == ["approve", "reject"]


def test_the_three_users_drive_an_order_to_in_progress(
    api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, no_broker: Any
) -> None:
    order = new_order(requester)
    steps = [
        (requester, "submit", {}, "submitted"),
        (approver, "approve", {"comment": "L1"}, "approved_l1"),
        (approver_b, "approve", {"comment": "L2"}, "approved"),
        (implementer, "implement", {"comment": "now", "schedule_at": None}, "in_progress"),
    ]
    for user, verb, body, state in steps:
        response = api(user).post(f"/api/v1/work-orders/{order.pk}/{verb}/", body, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["state"] == state
    assert [a["by"] for a in response.json()["approvals"]] == [approver.username, approver_b.username]


def test_the_requester_approving_gets_403_naming_the_rule(api: Any, requester: Any) -> None:
    from tests.fixtures.users import make_user

    both = make_user(requester.username, "requester", "approver")
    order = new_order(both)
    api(both).post(f"/api/v1/work-orders/{order.pk}/submit/", {}, format="json")
    response = api(both).post(f"/api/v1/work-orders/{order.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert "requester cannot approve" in response.json()["detail"]


def test_approver_a_giving_both_approvals_gets_403(api: Any, requester: Any, approver: Any) -> None:
    order = new_order(requester)
    api(requester).post(f"/api/v1/work-orders/{order.pk}/submit/", {}, format="json")
    assert api(approver).post(f"/api/v1/work-orders/{order.pk}/approve/", {}, format="json").status_code == 200
    second = api(approver).post(f"/api/v1/work-orders/{order.pk}/approve/", {}, format="json")
    assert second.status_code == 403 and "different approver" in second.json()["detail"]
    assert WorkOrder.objects.get(pk=order.pk).state == S.APPROVED_L1


def test_a_wrong_state_is_409_and_bad_input_400_naming_the_field(api: Any, requester: Any, approver: Any) -> None:
    order = new_order(requester)
    assert api(approver).post(f"/api/v1/work-orders/{order.pk}/approve/", {}, format="json").status_code == 409
    bad = api(requester).post(f"/api/v1/work-orders/{order.pk}/submit/", {"expected_state": "nonsense"}, format="json")
    assert bad.status_code == 400 and "expected_state" in bad.json()["errors"]
    long = api(requester).post(f"/api/v1/work-orders/{order.pk}/submit/", {"comment": "x" * 2001}, format="json")
    assert long.status_code == 400 and "comment" in long.json()["errors"]
    assert WorkOrder.objects.get(pk=order.pk).state == S.DRAFT


def test_an_implementation_time_in_the_past_is_400_naming_schedule_at(
    api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    order = approved_order(requester, [approver, approver_b])
    response = api(implementer).post(
        f"/api/v1/work-orders/{order.pk}/implement/", {"schedule_at": "2020-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400 and "schedule_at" in response.json()["errors"]


def test_filters_by_state_and_search(api: Any, requester: Any, auditor: Any) -> None:
    draft, submitted = new_order(requester), new_order(requester)
    api(requester).post(f"/api/v1/work-orders/{submitted.pk}/submit/", {}, format="json")
    listed = api(auditor).get("/api/v1/work-orders/?state=submitted").json()["results"]
    assert [o["id"] for o in listed] == [submitted.pk]
    found = api(auditor).get(f"/api/v1/work-orders/?q={draft.work_order_id}").json()["results"]
    assert [o["id"] for o in found] == [draft.pk]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_work_orders_and_anonymous_cannot(
    role: str, role_users: dict[str, Any], api: Any, requester: Any
) -> None:
    order = new_order(requester)
    assert api(role_users[role]).get("/api/v1/work-orders/").status_code == 200
    assert api(role_users[role]).get(f"/api/v1/work-orders/{order.pk}/").status_code == 200
    assert api(None).get(f"/api/v1/work-orders/{order.pk}/").status_code == 401


# Which roles may use each verb (on an order in the right state, requested by someone else for approve/reject).
VERB_ALLOWED = {
    "submit": {"administrator", "requester"},
    "approve": {"administrator", "approver"},
    "reject": {"administrator", "approver"},
    "cancel": {"administrator", "requester"},
    "implement": {"administrator", "implementer"},
    "retry": {"administrator", "implementer"},
}


def _order_for(verb: str, owner: Any, approvers: list[Any]) -> WorkOrder:
    if verb in ("submit", "cancel"):
        return new_order(owner)
    if verb in ("approve", "reject"):
        order = new_order(owner)
        from workorders.services import workorder_submit

        workorder_submit(work_order_id=order.pk, user=owner)
        return order
    order = approved_order(owner, approvers)
    if verb == "retry":
        WorkOrder.objects.filter(pk=order.pk).update(state=S.FAILED)
    return order


@pytest.mark.parametrize("verb", sorted(VERB_ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_each_verb_is_authorized_per_role(
    verb: str, role: str, role_users: dict[str, Any], api: Any, approver_b: Any
) -> None:
    from tests.fixtures.users import make_user

    user = role_users[role]
    # The requester role submits and cancels its own orders; approvals are tested on someone else's order.
    owner = user if role == "requester" else role_users["requester"]
    if verb in ("approve", "reject") and role == "requester":
        owner = make_user("another-requester", "requester")
    order = _order_for(verb, owner, [make_user("appr-x", "approver"), approver_b])
    response = api(user).post(f"/api/v1/work-orders/{order.pk}/{verb}/", {"comment": "because"}, format="json")
    expected = 200 if role in VERB_ALLOWED[verb] else 403
    assert response.status_code == expected, (verb, role, response.json())
