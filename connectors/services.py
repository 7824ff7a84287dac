"""Application connectors: create, change and delete them (the reference's Tables 27-29 rules), and ask for a push
or a rollback -- each a work order through the approval flow, with a preview the approvers read first.

UI and API both come here with a `ConnectorInput`; a rule broken is an ApplicationError naming the field.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from certificates.models import Certificate
from clm.api.errors import ApplicationError, Conflict
from clm.audit import audit_record
from clm.choices import Role
from clm.roles import has_role
from connectors.choices import (
    SSL_FLAG_NAMES,
    BindType,
    PushStep,
    TargetKind,
)
from connectors.models import AppConnector, ConnectorTarget, PushDevice
from connectors.rules import (
    SCALAR_FIELDS,
    BindingChanges,
    ConnectorInput,
    NewBinding,
    Target,
    connector_check,
    push_key_problem,
)
from devices.models import Device
from workorders.choices import OPEN_STATES, WorkOrderAction
from workorders.models import WorkOrder
from workorders.services import WorkOrderForbidden, workorder_create

logger = logging.getLogger(__name__)


def _apply(connector: AppConnector, data: ConnectorInput) -> None:
    for name in SCALAR_FIELDS:
        setattr(connector, name, getattr(data, name))
    if data.file_password:
        connector.file_password = data.file_password


def _save_targets(connector: AppConnector, targets: list[Target]) -> None:
    connector.targets.all().delete()
    seen: set[tuple[int, str]] = set()
    rows = []
    for t in targets:
        if (t.device.pk, t.profile) in seen:
            continue
        seen.add((t.device.pk, t.profile))
        rows.append(
            ConnectorTarget(
                connector=connector,
                device=t.device,
                kind=t.kind,
                profile=t.profile,
                site=t.site,
                protocol=t.protocol,
                ip=t.ip,
                port=t.port,
                host=t.host,
                sni=t.sni,
                new_ip=t.new_ip,
                new_port=t.new_port,
                new_host=t.new_host,
                ssl_flags_set=t.ssl_flags_set,
                ssl_flags_clear=t.ssl_flags_clear,
            )
        )
    ConnectorTarget.objects.bulk_create(rows)


def _require_writer(user: Any) -> None:
    if not has_role(user, Role.REQUESTER):
        raise WorkOrderForbidden("Your role does not allow managing application connectors.")


def connector_create(*, certificate: Certificate, data: ConnectorInput, user: Any) -> AppConnector:
    """A new manual connector for `certificate` with its targets (nothing -> sync status unknown)."""
    _require_writer(user)
    targets = connector_check(certificate=certificate, data=data)
    with transaction.atomic():
        connector = AppConnector(certificate=certificate, created_by=user)
        _apply(connector, data)
        connector.save()
        _save_targets(connector, targets)
        audit_record(
            actor=user,
            action="connector.create",
            summary=f"Connector {connector.name} added to {certificate} ({len(targets)} target(s))",
            obj=connector,
        )
    return connector


def connector_update(*, connector: AppConnector, data: ConnectorInput, user: Any) -> AppConnector:
    """Change a connector and its targets; refused while one of its work orders is open."""
    _require_writer(user)
    _refuse_if_open(connector)
    targets = connector_check(certificate=connector.certificate, data=data, instance=connector)
    with transaction.atomic():
        _apply(connector, data)
        connector.save()
        _save_targets(connector, targets)
        audit_record(
            actor=user, action="connector.update", summary=f"Connector {connector.name} changed", obj=connector
        )
    return connector


def connector_delete(*, connector: AppConnector, user: Any) -> None:
    _require_writer(user)
    _refuse_if_open(connector)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="connector.delete",
            summary=f"Connector {connector.name} of {connector.certificate} deleted",
            obj=connector,
        )
        connector.delete()


def _open_order(connector: AppConnector) -> WorkOrder | None:
    return (
        WorkOrder.objects.filter(
            target_type__app_label="connectors",
            target_type__model="appconnector",
            target_id=connector.pk,
            state__in=OPEN_STATES,
        )
        .exclude(state="failed")
        .first()
    )


def _refuse_if_open(connector: AppConnector) -> None:
    order = _open_order(connector)
    if order is not None:
        raise Conflict(f"{order.work_order_id} ({order.get_action_display()}) is still open for this connector.")


def connector_input_from(connector: AppConnector) -> ConnectorInput:
    """The input that reproduces a connector (the edit form's initial values)."""
    data = ConnectorInput(**{name: getattr(connector, name) for name in SCALAR_FIELDS})
    targets = list(connector.targets.select_related("device"))
    data.devices = sorted({t.device_id for t in targets})
    data.profiles = [(t.device_id, t.profile) for t in targets if t.kind == TargetKind.PROFILE]
    data.new_bindings = [
        NewBinding(site=t.site, port=t.port or 443, ip=t.ip or "*", host=t.host, sni=t.sni, device=t.device_id)
        for t in targets
        if t.kind == TargetKind.NEW_BINDING
    ]
    first = next((t for t in targets if t.kind == TargetKind.PROFILE), None)
    if first is not None and connector.bind_type == BindType.UPDATE_BINDING:
        bits = {1: "sni", 4: "disable_http2", 8: "disable_ocsp_stapling", 16: "disable_quic", 32: "disable_tls13"}
        bits[64] = "disable_legacy_tls"
        data.changes = BindingChanges(ip=first.new_ip, port=first.new_port, host=first.new_host)
        for bit, name in bits.items():
            if first.ssl_flags_set & bit:
                setattr(data.changes, name, True)
            elif first.ssl_flags_clear & bit:
                setattr(data.changes, name, False)
    return data


def ssl_flag_label(bits: int) -> str:
    return ", ".join(name for bit, name in SSL_FLAG_NAMES.items() if bits & bit) or "none"


# --- push and rollback requests -------------------------------------------------------------------------------------


def _check_pushable(connector: AppConnector) -> None:
    certificate = connector.certificate
    problem = push_key_problem(certificate, connector.location_type)
    if problem is not None:
        raise ApplicationError(problem[1], errors={problem[0]: [problem[1]]})
    if certificate.revoked_at is not None:
        raise ApplicationError("A revoked certificate cannot be pushed.", errors={"certificate": ["Revoked."]})
    if certificate.not_after <= timezone.now():
        raise ApplicationError("An expired certificate cannot be pushed.", errors={"certificate": ["Expired."]})
    if not connector.targets.exists():
        raise ApplicationError("The connector has no servers.", errors={"devices": ["Select at least one server."]})
    if connector.secure_push:
        for device in Device.objects.filter(connector_targets__connector=connector).distinct():
            if device.winrm_scheme == "http" and device.winrm_auth == "basic":
                raise ApplicationError(
                    f"Secure push needs an encrypted WinRM channel, and {device.name} uses Basic over plain HTTP.",
                    errors={"secure_push": [f"{device.name}: use HTTPS or NTLM/Negotiate/Kerberos."]},
                )


def push_request(*, connector: AppConnector, user: Any, comment: str = "", tracking_id: str = "") -> list[WorkOrder]:
    """Ask to push: one push work order per gateway behind the connector's servers (one request id), each in draft
    with one PushDevice row per server (step preview). The preview runs on the gateway's queue after commit; when it
    refuses nothing the order is submitted for approval, else cancelled with the refusals (connectors.previewing)."""
    _require_writer(user)
    _refuse_if_open(connector)
    _check_pushable(connector)
    certificate = connector.certificate
    devices = list(
        Device.objects.filter(connector_targets__connector=connector)
        .distinct()
        .select_related("gateway")
        .order_by("name")
    )
    by_gateway: dict[int, list[Device]] = {}
    for device in devices:
        by_gateway.setdefault(device.gateway_id, []).append(device)
    orders: list[WorkOrder] = []
    with transaction.atomic():
        request_id = None
        for group in by_gateway.values():
            names = ", ".join(d.name for d in group)
            order = workorder_create(
                action=WorkOrderAction.PUSH,
                requester=user,
                summary=f"Push {certificate.common_name or certificate.thumbprint} to {names} ({connector.name})",
                target=connector,
                certificate=certificate,
                params={
                    "connector": connector.pk,
                    "devices": [d.pk for d in group],
                    "gateway": group[0].gateway_id,
                    "comment": comment[:2000],
                },
                tracking_id=tracking_id,
                comment=comment,
                request_id=request_id,
            )
            request_id = request_id or order.request_id
            PushDevice.objects.bulk_create(
                PushDevice(work_order=order, connector=connector, device=d, thumbprint=certificate.thumbprint)
                for d in group
            )
            orders.append(order)
        from connectors.tasks import push_preview_task

        for order in orders:
            transaction.on_commit(partial(push_preview_task.apply_async, args=[order.pk], queue=group_queue(order)))
    return orders


def group_queue(order: WorkOrder) -> str:
    """The Celery queue of the gateway behind an order's servers."""
    from devices.models import Gateway

    gateway = Gateway.objects.filter(pk=int((order.params or {}).get("gateway") or 0)).first()
    return gateway.queue if gateway is not None else "devices"


def rollback_candidates(connector: AppConnector) -> list[PushDevice]:
    """The devices of the connector's last push whose change is still in place (completed, not rolled back since)."""
    last = (
        PushDevice.objects.filter(connector=connector, work_order__action=WorkOrderAction.PUSH)
        .filter(step=PushStep.COMPLETED)
        .order_by("-work_order_id")
        .values_list("work_order_id", flat=True)
        .first()
    )
    if last is None:
        return []
    rows = PushDevice.objects.filter(work_order_id=last, step=PushStep.COMPLETED).select_related("device__gateway")
    return [r for r in rows if r.snapshot and not r.undone_by.filter(step=PushStep.ROLLED_BACK).exists()]


def rollback_request(*, connector: AppConnector, user: Any, comment: str = "") -> list[WorkOrder]:
    """Ask to undo the connector's last push: a rollback work order per gateway (submitted at once; its preview is
    the stored snapshot, no device read needed), restoring each device from its snapshot and verifying over TLS."""
    _require_writer(user)
    _refuse_if_open(connector)
    rows = rollback_candidates(connector)
    if not rows:
        raise Conflict("Nothing to roll back: the connector has no completed push still in place.")
    cleaned = [r for r in rows if any(item.get("removed") for item in r.result.get("previous_removed") or [])]
    if cleaned:
        raise Conflict(
            "The push removed the certificate it replaced on "
            + ", ".join(r.device.name for r in cleaned)
            + " (Remove the previous certificate): restoring the old bindings would leave them without their "
            "certificate. Push the previous certificate instead."
        )
    from workorders.services import workorder_submit

    by_gateway: dict[int, list[PushDevice]] = {}
    for row in rows:
        by_gateway.setdefault(row.device.gateway_id, []).append(row)
    orders = []
    with transaction.atomic():
        request_id = None
        for group in by_gateway.values():
            names = ", ".join(r.device.name for r in group)
            order = workorder_create(
                action=WorkOrderAction.ROLLBACK,
                requester=user,
                summary=f"Roll back {connector.name} on {names} (undo {group[0].work_order.work_order_id})",
                target=connector,
                certificate=connector.certificate,
                params={
                    "connector": connector.pk,
                    "devices": [r.device_id for r in group],
                    "gateway": group[0].device.gateway_id,
                    "undoes": group[0].work_order_id,
                },
                comment=comment,
                request_id=request_id,
            )
            request_id = request_id or order.request_id
            PushDevice.objects.bulk_create(
                PushDevice(
                    work_order=order,
                    connector=connector,
                    device=r.device,
                    undoes=r,
                    step=PushStep.READY,
                    thumbprint=r.thumbprint,
                    preview=_rollback_preview(r),
                    snapshot=r.snapshot,
                    snapshot_source=r.snapshot_source,
                    previewed_at=timezone.now(),
                )
                for r in group
            )
            orders.append(workorder_submit(work_order_id=order.pk, user=user, comment=comment))
    return orders


def _rollback_preview(row: PushDevice) -> dict[str, Any]:
    snapshot = row.snapshot or {}
    changes = []
    for item in snapshot.get("bindings") or []:
        before = item.get("before") or {}
        after = item.get("after") or {}
        changes.append(
            {
                "site": item.get("site"),
                "action": "restore" if before else "remove",
                "now": after.get("binding_information"),
                "back_to": before.get("binding_information"),
                "certificate": before.get("certificate_hash"),
            }
        )
    return {
        "device": {"id": row.device_id, "name": row.device.name},
        "rollback_of": row.work_order.work_order_id,
        "thumbprint": row.thumbprint,
        "changes": changes,
        "file": snapshot.get("file"),
        "snapshot_source": row.snapshot_source,
    }
