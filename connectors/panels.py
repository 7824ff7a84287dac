"""Cards connectors add to other apps' pages: the application connectors on a certificate's holistic view (right
side, one card per device/profile) and the preview and per-device outcome on a push or rollback work order."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest

from certificates.holistic import holistic_panel
from certificates.models import Certificate
from clm.choices import Role
from clm.roles import has_role
from connectors.choices import CHANGED_STEPS, PushStep
from connectors.models import AppConnector, PushDevice
from connectors.services import rollback_candidates
from workorders.choices import OPEN_STATES, WorkOrderState
from workorders.models import WorkOrder
from workorders.panels import workorder_panel


def _latest_orders(connectors: list[AppConnector]) -> dict[int, WorkOrder]:
    content_type = ContentType.objects.get_for_model(AppConnector)
    latest: dict[int, WorkOrder] = {}
    orders = WorkOrder.objects.filter(target_type=content_type, target_id__in=[c.pk for c in connectors]).order_by(
        "-created_at", "-id"
    )
    for order in orders:
        latest.setdefault(int(order.target_id or 0), order)
    return latest


def _device_validation(connector: AppConnector, device_id: int) -> dict[str, Any] | None:
    validation = connector.last_validation or {}
    endpoints = [e for e in validation.get("endpoints") or [] if e.get("device") == device_id]
    if not endpoints:
        return None
    return {
        "ok": all(e.get("ok") for e in endpoints),
        "passed": sum(1 for e in endpoints if e.get("ok")),
        "total": len(endpoints),
        "at": validation.get("at"),
        "endpoints": endpoints,
    }


@holistic_panel(side="right", order=10, template="connectors/_holistic_connectors.html")
def holistic_connectors(request: HttpRequest, certificate: Certificate | None) -> dict[str, Any] | None:
    if certificate is None:
        return None
    connectors = list(
        AppConnector.objects.filter(certificate=certificate).prefetch_related("targets__device").order_by("name")
    )
    orders = _latest_orders(connectors)
    last_rows: dict[tuple[int, int], PushDevice] = {}
    for row in PushDevice.objects.filter(connector__in=connectors).order_by("-work_order_id"):
        last_rows.setdefault((row.connector_id, row.device_id), row)
    writer = has_role(request.user, Role.REQUESTER)
    cards = []
    for connector in connectors:
        order = orders.get(connector.pk)
        busy = order is not None and order.state in OPEN_STATES and order.state != WorkOrderState.FAILED
        can_rollback = writer and not busy and bool(rollback_candidates(connector))
        for target in connector.targets.all():
            cards.append(
                {
                    "connector": connector,
                    "target": target,
                    "order": order,
                    "live": order is not None and order.state in (WorkOrderState.SCHEDULED, WorkOrderState.IN_PROGRESS),
                    "row": last_rows.get((connector.pk, target.device_id)),
                    "validation": _device_validation(connector, target.device_id),
                    "can_push": writer and not busy,
                    "can_rollback": can_rollback,
                    "can_edit": writer and not busy,
                }
            )
        if not connector.targets.all():
            cards.append({"connector": connector, "target": None, "order": order, "can_edit": writer})
    return {"certificate": certificate, "cards": cards, "can_add": writer}


@workorder_panel(actions=("push", "rollback"), template="connectors/_workorder_push.html")
def workorder_push_panel(request: HttpRequest, order: WorkOrder) -> dict[str, Any] | None:
    rows = list(
        PushDevice.objects.filter(work_order=order).select_related("device", "connector").order_by("device__name")
    )
    if not rows:
        return None
    return {
        "order": order,
        "rows": rows,
        "connector": rows[0].connector,
        "previewing": any(r.step == PushStep.PREVIEW for r in rows),
        "changed_steps": [str(s) for s in CHANGED_STEPS],
    }
