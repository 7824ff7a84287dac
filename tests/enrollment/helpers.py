"""Helpers shared by the enrollment, work-order and end-to-end tests: the built-in CA, a valid enrollment request,
driving an order through its approvals, and running openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from enrollment.ca.builtin import builtin_ca_ensure
from enrollment.models import CAAccount

OPENSSL = "/usr/bin/openssl"


def builtin_account() -> CAAccount:
    return builtin_ca_ensure(base_url="http://portal.test")


def enrollment_payload(account: CAAccount, **overrides: Any) -> dict[str, Any]:
    """A valid `POST /api/v1/enrollments/` body (API.md), with `overrides` merged in (params merged key by key)."""
    params = {
        "common_name": "www.example.test",
        "sans": {"dns": ["www.example.test", "example.test"], "ip": ["192.0.2.10"]},
        "organization": "Example Org",
        "organizational_unit": "Web",
        "locality": "Springfield",
        "state": "Oregon",
        "country": "US",
        "email": "",
        "key_type": "rsa",
        "key_size": 2048,
        "hash": "sha256",
        "validity": {"value": 90, "unit": "days"},
    }
    params.update(overrides.pop("params", {}))
    body: dict[str, Any] = {
        "group": None,
        "ca_account": account.pk,
        "connector_name": "web-prod",
        "csr_source": "app",
        "csr": None,
        "params": params,
        "renew_automatically": False,
        "renew_days_before": 30,
        "regenerate_automatically": False,
        "regenerate_days_before": 30,
    }
    body.update(overrides)
    return body


def openssl(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd, check=check, timeout=60)


def drive_to_implemented(api: Any, order_id: int, requester: Any, approvers: list[Any], implementer: Any) -> None:
    """Submit, approve at both levels and implement an order through the API (the Celery message is left to the
    caller: a real worker, or `execute_now`)."""
    steps = [(requester, "submit", {"comment": "please"})]
    steps += [(a, "approve", {"comment": f"ok from {a.username}"}) for a in approvers]
    steps += [(implementer, "implement", {"comment": "go", "schedule_at": None})]
    for user, verb, body in steps:
        response = api(user).post(f"/api/v1/work-orders/{order_id}/{verb}/", body, format="json")
        assert response.status_code == 200, (verb, response.json())


def execute_now(order_id: int) -> str:
    """Run the order's execution in this process, as the worker would (attempt = the next one)."""
    from workorders.models import WorkOrder
    from workorders.services import workorder_execute

    order = WorkOrder.objects.get(pk=order_id)
    return workorder_execute(work_order_id=order_id, attempt=order.attempts + 1).status


def issue(api: Any, payload: dict[str, Any], requester: Any, approvers: list[Any], implementer: Any) -> dict:
    """Enroll through the API and carry the order to completed in this process; returns the enrollment JSON."""
    from unittest import mock

    created = api(requester).post("/api/v1/enrollments/", payload, format="json")
    assert created.status_code == 201, created.json()
    order_id = created.json()["work_order"]
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        drive_to_implemented(api, order_id, requester, approvers, implementer)
    assert execute_now(order_id) == "completed"
    return api(requester).get(f"/api/v1/enrollments/{created.json()['id']}/").json()
