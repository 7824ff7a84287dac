"""Running the preview of a push work order: read each device, compute its preview, then submit the order for
approval -- or cancel it when the preview refuses a dangerous change. Runs in a worker on the gateway's queue."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from clm.audit import audit_record
from connectors.choices import PushStep
from connectors.models import AppConnector, PushDevice
from connectors.preview import host_read, preview_compute
from connectors.settings_services import general_settings_get
from devices.iis.errors import DeviceError
from devices.sessions import CredentialUnavailable, GatewayUnsupported, device_session
from workorders.choices import WorkOrderState
from workorders.models import WorkOrder
from workorders.services import workorder_cancel, workorder_submit

logger = logging.getLogger(__name__)


class PreviewRetry(Exception):
    """A device could not be read for a reason that may pass (unreachable, timeout); try the preview again."""


def _preview_device(row: PushDevice, connector: AppConnector, configured: str, final: bool) -> None:
    device = row.device
    targets = [t for t in connector.targets.all() if t.device_id == device.pk]
    try:
        with device_session(device) as session:
            view = host_read(session, connector=connector, device=device)
            round_trips = session.round_trips
    except (CredentialUnavailable, GatewayUnsupported) as exc:
        _refuse(row, [f"{device.name}: cannot be reached for the preview: {exc}."])
        return
    except DeviceError as exc:
        if exc.retryable and not final:
            raise PreviewRetry(str(exc)) from exc
        _refuse(row, [f"{device.name}: the preview could not read the host: {exc}"])
        return
    preview = preview_compute(connector=connector, device=device, targets=targets, view=view, configured=configured)
    data: dict[str, Any] = {**preview.data, "plan": preview.plan}
    PushDevice.objects.filter(pk=row.pk, step=PushStep.PREVIEW).update(
        preview=data,
        refusals=preview.refusals,
        step=PushStep.REFUSED if preview.refusals else PushStep.READY,
        previewed_at=timezone.now(),
        round_trips=round_trips,
    )


def _refuse(row: PushDevice, reasons: list[str]) -> None:
    PushDevice.objects.filter(pk=row.pk, step=PushStep.PREVIEW).update(
        refusals=reasons, step=PushStep.REFUSED, previewed_at=timezone.now(), finished_at=timezone.now()
    )


def push_preview_run(*, work_order_id: int, final: bool = True) -> str:
    """Preview every device of a draft push order still in step preview; then draft -> submitted (nothing refused)
    or draft -> cancelled (with the refusals). Returns "submitted", "cancelled" or "skipped" (not a draft any more);
    raises PreviewRetry when a device may answer later and this is not the last try."""
    order = WorkOrder.objects.filter(pk=work_order_id).select_related("requester").first()
    if order is None or order.state != WorkOrderState.DRAFT:
        return "skipped"
    connector = AppConnector.objects.select_related("certificate").get(pk=int(order.target_id or 0))
    configured = general_settings_get().pkcs12_encryption
    rows = list(
        PushDevice.objects.filter(work_order=order, step=PushStep.PREVIEW).select_related(
            "device__gateway", "device__credential"
        )
    )
    retry: PreviewRetry | None = None
    for row in rows:
        try:
            _preview_device(row, connector, configured, final)
        except PreviewRetry as exc:
            retry = exc
    if retry is not None:
        raise retry
    refused = list(PushDevice.objects.filter(work_order=order, step=PushStep.REFUSED).select_related("device"))
    comment = str((order.params or {}).get("comment") or "")
    if refused:
        reasons = [reason for row in refused for reason in row.refusals]
        text = "Refused by the preview: " + " ".join(reasons)
        audit_record(actor=None, action="push.preview_refused", summary=f"{order.work_order_id}: {text}", obj=order)
        WorkOrder.objects.filter(pk=order.pk).update(error=text[:4000])
        workorder_cancel(work_order_id=order.pk, user=order.requester, comment=text[:2000])
        return "cancelled"
    workorder_submit(work_order_id=order.pk, user=order.requester, comment=comment or "Preview ready for approval.")
    return "submitted"
