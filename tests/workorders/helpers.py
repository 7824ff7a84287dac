"""Work orders for tests: an order with a chosen number of approval levels, and a test executor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from certificates.models import CertificateGroup, Policy
from workorders import executors
from workorders.models import WorkOrder
from workorders.services import workorder_approve, workorder_create, workorder_submit

TEST_ACTION = "rollback"  # an action no executor of this branch owns; tests install their own


def group_with_levels(levels: int) -> CertificateGroup:
    policy, _ = Policy.objects.get_or_create(name=f"{levels}-level policy", defaults={"approval_levels": levels})
    group, _ = CertificateGroup.objects.get_or_create(name=f"{levels}-level group", defaults={"policy": policy})
    return group


def new_order(requester: Any, *, levels: int = 2, action: str = TEST_ACTION, tracking_id: str = "") -> WorkOrder:
    return workorder_create(
        action=action,
        requester=requester,
        summary=f"test order with {levels} level(s)",
        group=group_with_levels(levels),
        tracking_id=tracking_id,
    )


def approved_order(requester: Any, approvers: list[Any], *, levels: int = 2, action: str = TEST_ACTION) -> WorkOrder:
    order = new_order(requester, levels=levels, action=action)
    workorder_submit(work_order_id=order.pk, user=requester)
    for approver in approvers[:levels]:
        workorder_approve(work_order_id=order.pk, user=approver)
    order.refresh_from_db()
    return order


@contextmanager
def installed_executor(fn: Callable[[WorkOrder], dict[str, Any]], action: str = TEST_ACTION) -> Iterator[None]:
    """Install `fn` as the executor of `action` for a block (the seam these unit tests fake)."""
    saved = executors._executors.get(action)
    executors._executors[action] = fn
    try:
        yield
    finally:
        if saved is None:
            executors._executors.pop(action, None)
        else:
            executors._executors[action] = saved
