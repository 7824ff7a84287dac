"""Executors of the work orders enrollment owns: `enroll` (CSR to the CA, certificate into the inventory) and
`revoke` (serial onto the CA's CRL). Both are idempotent: a second run finds what the first did."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from certificates.services import certificate_record
from certificates.x509 import parse_pem
from clm.audit import audit_record
from enrollment.ca import CAError, CAResult, IssuanceRequest, ca_module_get
from enrollment.models import Enrollment
from enrollment.services import SUBJECT_FIELDS
from workorders.choices import WorkOrderAction
from workorders.executors import ExecutionError, ExecutionPending, TransientExecutionError, executor
from workorders.models import WorkOrder


def _target_id(order: WorkOrder) -> int:
    if order.target_id is None:
        raise ExecutionError("The work order has no target.")
    return order.target_id


def _ca_call(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except CAError as exc:
        raise (TransientExecutionError if exc.transient else ExecutionError)(str(exc)) from exc


@executor(WorkOrderAction.ENROLL)
def enroll(order: WorkOrder) -> dict[str, Any]:
    """Submit the enrollment's CSR to its CA account (or poll the pending request) and record the issued
    certificate as Managed in the enrollment's group, with its chain, attributes and portal key."""
    enrollment = Enrollment.objects.select_related("ca_account", "group").get(pk=_target_id(order))
    if enrollment.certificate_id is not None:
        return _enrolled(enrollment)
    account = enrollment.ca_account
    module = ca_module_get(account.ca)
    if enrollment.ca_request_id:
        result: CAResult = _ca_call(module.poll, account, enrollment.ca_request_id)
    else:
        params = enrollment.params
        request = IssuanceRequest(
            csr_pem=enrollment.csr_pem,
            request_ref=order.work_order_id or f"WO-{order.pk}",
            template=enrollment.certificate_type,
            subject={"common_name": params.get("common_name", ""), **{k: params.get(k, "") for k in SUBJECT_FIELDS}},
            sans=params.get("sans", {}),
            hash=params.get("hash", "sha256"),
            validity_value=int(params["validity"]["value"]),
            validity_unit=str(params["validity"]["unit"]),
        )
        result = _ca_call(module.submit, account, request)
    if result.status != "issued":
        Enrollment.objects.filter(pk=enrollment.pk).update(ca_request_id=result.request_id)
        raise ExecutionPending(result.message or f"{account} holds the request {result.request_id}.", retry_in=60)
    parsed = parse_pem(result.certificate_pem.encode("ascii"))
    certificate, _ = certificate_record(
        parsed=parsed,
        status=CertificateStatus.MANAGED,
        source=CertificateSource.ENROLLED,
        group=enrollment.group,
        chain_pem="\n".join(p.strip() + "\n" for p in result.chain_pem),
        attributes=enrollment.attributes,
    )
    Enrollment.objects.filter(pk=enrollment.pk).update(certificate=certificate, ca_request_id=result.request_id)
    audit_record(
        actor=None,
        action="certificate.issued",
        summary=f"{account} issued {parsed.common_name} (serial {parsed.serial}) for {order.work_order_id}",
        obj=certificate,
        tracking_id=enrollment.tracking_id or None,
    )
    enrollment.refresh_from_db()
    return _enrolled(enrollment)


def _enrolled(enrollment: Enrollment) -> dict[str, Any]:
    certificate = enrollment.certificate
    assert certificate is not None
    return {
        "certificate": certificate.pk,
        "serial": certificate.serial,
        "thumbprint": certificate.thumbprint,
        "not_after": certificate.not_after.isoformat(),
    }


@executor(WorkOrderAction.REVOKE)
def revoke(order: WorkOrder) -> dict[str, Any]:
    """Revoke the order's certificate at the CA that issued it; the serial appears on the CA's published CRL."""
    certificate = Certificate.objects.get(pk=_target_id(order))
    enrollment = Enrollment.objects.select_related("ca_account").get(pk=order.params["enrollment"])
    account = enrollment.ca_account
    reason = str(order.params.get("reason", "unspecified"))
    _ca_call(ca_module_get(account.ca).revoke, account, serial=certificate.serial, reason=reason)
    now = timezone.now()
    if Certificate.objects.filter(pk=certificate.pk, revoked_at__isnull=True).update(revoked_at=now):
        audit_record(
            actor=None,
            action="certificate.revoked",
            summary=f"{account} revoked {certificate.common_name} (serial {certificate.serial}), reason {reason}",
            obj=certificate,
            tracking_id=enrollment.tracking_id or None,
        )
    certificate.refresh_from_db()
    return {
        "certificate": certificate.pk,
        "serial": certificate.serial,
        "reason": reason,
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
    }
