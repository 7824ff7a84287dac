"""Every state change of a work order: one service per verb, each a guard plus a conditional UPDATE plus an event
row plus an audit event (DESIGN.md §5). Views, the API, tasks and beat all come through here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status

from certificates.models import Certificate, CertificateGroup
from clm import context
from clm.api.errors import ApplicationError, Conflict
from clm.audit import audit_record
from clm.choices import Role
from clm.roles import has_role
from workorders.choices import (
    VERB_ROLES,
    VERB_SOURCES,
    Verb,
    WorkOrderAction,
    WorkOrderState,
    can_move,
)
from workorders.executors import (
    ExecutionError,
    ExecutionPending,
    TransientExecutionError,
    executor_for,
    executor_queue,
)
from workorders.models import Notification, WorkOrder, WorkOrderApproval, WorkOrderEvent

logger = logging.getLogger(__name__)

S = WorkOrderState
DEFAULT_APPROVAL_LEVELS = 2
MAX_TRANSIENT_RETRIES = 3  # after the first attempt: four tries in all, then the order fails
MAX_PENDING_POLLS = 288  # a CA that holds a request: polled up to this many times (24 h at the 5-minute cap)


class WorkOrderForbidden(ApplicationError):
    """The user may not do this to this work order (403)."""

    status_code = status.HTTP_403_FORBIDDEN


def _actor_name(user: Any) -> str:
    return user.get_username() if user is not None else "system"


def _label(state: str) -> str:
    return WorkOrderState(state).label


# --- creation -------------------------------------------------------------------------------------------------------


def approval_levels_for(group: CertificateGroup | None) -> int:
    """How many approvals the group's policy asks for (0-2; two when the group has no policy)."""
    if group is None or group.policy is None:
        return DEFAULT_APPROVAL_LEVELS
    return max(0, min(2, group.policy.approval_levels))


def workorder_create(
    *,
    action: str,
    requester: Any,
    summary: str,
    target: models.Model | None = None,
    certificate: Certificate | None = None,
    group: CertificateGroup | None = None,
    params: dict[str, Any] | None = None,
    tracking_id: str = "",
    comment: str = "",
    request_id: str | None = None,
) -> WorkOrder:
    """Create a work order in state draft (nothing → draft), with REQ-/WO- ids derived from its row id.

    `request_id` groups several orders of one request (e.g. a push to several devices); by default each order is its
    own request. The approval levels come from `group`'s policy (or the certificate's group).
    """
    if action not in WorkOrderAction.values:
        raise ApplicationError(f"Unknown action {action!r}.", errors={"action": ["Unknown action."]})
    group = group or (certificate.group if certificate is not None else None)
    with transaction.atomic():
        order = WorkOrder.objects.create(
            action=action,
            requester=requester,
            summary=summary[:300],
            target=target,
            certificate=certificate,
            group=group,
            params=params or {},
            tracking_id=tracking_id,
            approval_levels=approval_levels_for(group),
        )
        order.request_id = request_id or f"REQ-{order.pk:06d}"
        order.work_order_id = f"WO-{order.pk:06d}"
        order.save(update_fields=["request_id", "work_order_id"])
        _event(order, verb=Verb.CREATE, source="", target=S.DRAFT, actor=requester, comment=comment)
        audit_record(
            actor=requester,
            action="workorder.create",
            summary=f"{order.work_order_id} ({order.request_id}) created: {order.summary}",
            obj=order,
            tracking_id=order.tracking_id or None,
        )
    return order


# --- the transition core --------------------------------------------------------------------------------------------


def _event(order: WorkOrder, *, verb: str, source: str, target: str, actor: Any, comment: str) -> WorkOrderEvent:
    return WorkOrderEvent.objects.create(
        work_order=order,
        verb=verb,
        from_state=source,
        to_state=target,
        actor=actor,
        actor_name=_actor_name(actor),
        comment=comment[:2000],
    )


def _move(
    order: WorkOrder,
    *,
    verb: str,
    target: str,
    actor: Any,
    comment: str = "",
    audit_summary: str = "",
    via: str | None = None,
    **fields: Any,
) -> WorkOrder:
    """Move `order` from the state it was read in to `target`; raise Conflict when someone else moved it first.

    Must run inside a transaction (the event row and audit event commit together with the new state). `via` is a
    state the order passes through within this one UPDATE (submitted, when no approval is needed): the timeline
    shows both steps, the second one by the system.
    """
    source = order.state
    if not can_move(source, via or target) or (via is not None and not can_move(via, target)):
        raise Conflict(f"{order.work_order_id} cannot go from {_label(source)} to {_label(target)}.")
    # Conditional UPDATE: of two callers (clicks, workers, beats) that both read `source`, only the first one to
    # update matches the WHERE clause; the other gets 0 rows and a Conflict, so an order never moves twice.
    updated = WorkOrder.objects.filter(pk=order.pk, state=source).update(
        state=target, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        raise Conflict(f"{order.work_order_id} is no longer {_label(source)}: someone else acted on it. Reload it.")
    order.refresh_from_db()
    if via is None:
        _event(order, verb=verb, source=source, target=target, actor=actor, comment=comment)
    else:
        _event(order, verb=verb, source=source, target=via, actor=actor, comment=comment)
        _event(
            order,
            verb=Verb.APPROVE,
            source=via,
            target=target,
            actor=None,
            comment="No approval required by the group's policy.",
        )
    audit_record(
        actor=actor,
        action=f"workorder.{verb}",
        summary=audit_summary or f"{order.work_order_id} {verb}: {_label(source)} → {_label(target)}",
        obj=order,
        tracking_id=order.tracking_id or None,
    )
    return order


def _load(work_order_id: int) -> WorkOrder:
    try:
        return WorkOrder.objects.select_related("requester").get(pk=work_order_id)
    except WorkOrder.DoesNotExist:
        raise ApplicationError("No such work order.", status_code=status.HTTP_404_NOT_FOUND) from None


def _guard(order: WorkOrder, *, verb: str, user: Any, expected_state: str | None) -> None:
    """Role, then state: who may use this verb, and whether the order is (still) where the caller saw it."""
    if not has_role(user, *VERB_ROLES[verb]):
        raise WorkOrderForbidden(f"Your role does not allow you to {verb} work orders.")
    if expected_state and order.state != expected_state:
        raise Conflict(
            f"{order.work_order_id} is {_label(order.state)}, not {_label(expected_state)}: someone else acted on it. "
            "Reload it."
        )
    if order.state not in VERB_SOURCES[verb]:
        raise Conflict(f"A work order that is {_label(order.state)} cannot be given '{verb}'.")


def _is_requester(order: WorkOrder, user: Any) -> bool:
    return bool(user is not None and order.requester_id == user.pk)


def _enqueue_execution(order: WorkOrder) -> None:
    from workorders.tasks import workorder_execute_task

    order_id, attempt = order.pk, order.attempts + 1
    options = {"queue": queue} if (queue := executor_queue(order)) else {}
    # After commit: the worker must find the order in_progress, and a rolled-back transition queues nothing.
    transaction.on_commit(lambda: workorder_execute_task.apply_async(args=[order_id, attempt], **options))


# --- verbs of people ------------------------------------------------------------------------------------------------


def workorder_submit(
    *, work_order_id: int, user: Any, comment: str = "", expected_state: str | None = None
) -> WorkOrder:
    """draft → submitted (or → approved when the group's policy asks for no approval). Only the requester (or an
    administrator) submits; the approvers (or, with no approval, the implementers) are notified."""
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.SUBMIT, user=user, expected_state=expected_state)
        if not _is_requester(order, user) and not has_role(user, Role.ADMINISTRATOR):
            raise WorkOrderForbidden("Only the requester can submit this work order.")
        if order.approval_levels == 0:
            order = _move(
                order,
                verb=Verb.SUBMIT,
                target=S.APPROVED,
                via=S.SUBMITTED,
                actor=user,
                comment=comment,
                audit_summary=f"{order.work_order_id} submitted; approved at once (the policy asks for no approval)",
            )
            _notify_implementers(order)
        else:
            order = _move(order, verb=Verb.SUBMIT, target=S.SUBMITTED, actor=user, comment=comment)
            _notify_approvers(order)
    return order


def workorder_approve(
    *, work_order_id: int, user: Any, comment: str = "", expected_state: str | None = None
) -> WorkOrder:
    """submitted → approved_l1 (two levels) or → approved (one level); approved_l1 → approved.

    The requester cannot approve their own order, and one person gives at most one of the two approvals.
    """
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.APPROVE, user=user, expected_state=expected_state)
        if _is_requester(order, user):
            raise WorkOrderForbidden("The requester cannot approve their own work order.")
        if order.approvals.filter(approver=user).exists():
            raise WorkOrderForbidden(
                "You already approved this work order; the other approval level needs a different approver."
            )
        level = order.next_level
        target = S.APPROVED if level >= order.approval_levels else S.APPROVED_L1
        order = _move(
            order,
            verb=Verb.APPROVE,
            target=target,
            actor=user,
            comment=comment,
            audit_summary=f"{order.work_order_id} approved at level {level} of {order.approval_levels}",
        )
        try:
            # The unique constraints back up the checks above if two requests ever slip past the conditional UPDATE.
            with transaction.atomic():
                WorkOrderApproval.objects.create(work_order=order, level=level, approver=user, comment=comment)
        except IntegrityError:
            raise Conflict(f"{order.work_order_id} was approved at level {level} by someone else.") from None
        if target == S.APPROVED:
            _notify_implementers(order)
        else:
            _notify_approvers(order)
    return order


def workorder_reject(*, work_order_id: int, user: Any, comment: str, expected_state: str | None = None) -> WorkOrder:
    """submitted | approved_l1 | approved | scheduled → rejected, by an approver other than the requester, with a
    reason. The requester is notified."""
    if not comment.strip():
        raise ApplicationError("Say why the work order is rejected.", errors={"comment": ["A reason is required."]})
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.REJECT, user=user, expected_state=expected_state)
        if _is_requester(order, user):
            raise WorkOrderForbidden("The requester cannot reject their own work order; cancel it instead.")
        order = _move(
            order, verb=Verb.REJECT, target=S.REJECTED, actor=user, comment=comment, finished_at=timezone.now()
        )
        _notify(order, [order.requester], f"{order.work_order_id} was rejected by {_actor_name(user)}: {comment}")
    return order


def workorder_cancel(
    *, work_order_id: int, user: Any, comment: str = "", expected_state: str | None = None
) -> WorkOrder:
    """Any open state before execution (draft, submitted, approved_l1, approved, scheduled) or failed → cancelled,
    by the requester or an administrator."""
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.CANCEL, user=user, expected_state=expected_state)
        if not _is_requester(order, user) and not has_role(user, Role.ADMINISTRATOR):
            raise WorkOrderForbidden("Only the requester or an administrator can cancel this work order.")
        order = _move(
            order, verb=Verb.CANCEL, target=S.CANCELLED, actor=user, comment=comment, finished_at=timezone.now()
        )
    return order


def workorder_implement(
    *,
    work_order_id: int,
    user: Any,
    comment: str = "",
    schedule_at: datetime | None = None,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> WorkOrder:
    """Implement now (approved | scheduled → in_progress, execution queued on commit) or, with `schedule_at`
    ("manual implementation" off), later (approved → scheduled; beat starts it when due)."""
    now = now or timezone.now()
    if schedule_at is not None and schedule_at <= now:
        raise ApplicationError(
            "The scheduled time has passed.",
            errors={"schedule_at": ["Choose a date and time in the future, or implement now."]},
        )
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.IMPLEMENT, user=user, expected_state=expected_state)
        if schedule_at is not None:
            if order.state != S.APPROVED:
                raise Conflict(f"{order.work_order_id} is already scheduled; implement it now or cancel it.")
            when = timezone.localtime(schedule_at).strftime("%Y-%m-%d %H:%M %Z")
            order = _move(
                order,
                verb=Verb.IMPLEMENT,
                target=S.SCHEDULED,
                actor=user,
                comment=comment,
                audit_summary=f"{order.work_order_id} scheduled for {when}",
                schedule_at=schedule_at,
            )
        else:
            order = _move(order, verb=Verb.IMPLEMENT, target=S.IN_PROGRESS, actor=user, comment=comment, started_at=now)
            _enqueue_execution(order)
    return order


def workorder_retry(
    *, work_order_id: int, user: Any, comment: str = "", expected_state: str | None = None
) -> WorkOrder:
    """failed → in_progress: run the executor again (it is idempotent), queued on commit."""
    with transaction.atomic():
        order = _load(work_order_id)
        _guard(order, verb=Verb.RETRY, user=user, expected_state=expected_state)
        order = _move(
            order, verb=Verb.RETRY, target=S.IN_PROGRESS, actor=user, comment=comment, error="", finished_at=None
        )
        _enqueue_execution(order)
    return order


VERB_SERVICES: dict[str, Callable[..., WorkOrder]] = {
    Verb.SUBMIT: workorder_submit,
    Verb.APPROVE: workorder_approve,
    Verb.REJECT: workorder_reject,
    Verb.CANCEL: workorder_cancel,
    Verb.RETRY: workorder_retry,
}


# --- verbs of the system --------------------------------------------------------------------------------------------


def workorder_start_due(*, now: datetime | None = None) -> list[int]:
    """scheduled → in_progress for every order whose time has come (`now` defaults to the current time; tests pass
    one). Returns the ids started. Safe with two beats: each start is a conditional UPDATE."""
    now = now or timezone.now()
    started = []
    due = WorkOrder.objects.filter(state=S.SCHEDULED, schedule_at__lte=now).order_by("schedule_at", "pk")
    for order in due:
        try:
            with transaction.atomic():
                order = _move(
                    order,
                    verb=Verb.START,
                    target=S.IN_PROGRESS,
                    actor=None,
                    comment="Scheduled implementation time reached.",
                    started_at=now,
                )
                _enqueue_execution(order)
        except Conflict:
            continue  # another beat (or a person) moved it first
        started.append(order.pk)
    return started


@dataclass(frozen=True)
class ExecutionOutcome:
    """What a run of an executor came to: completed | failed | retry | pending | skipped (countdown for retry and
    pending, in seconds)."""

    status: str
    countdown: int = 0
    detail: str = ""


def _claim(work_order_id: int, attempt: int, redelivered: bool) -> WorkOrder | None:
    # Claim attempt N with a conditional UPDATE: a duplicate delivery of the same message finds attempts == N already
    # and does nothing. Only a message re-delivered after a lost worker may run attempt N again (executors are
    # idempotent).
    claimed = WorkOrder.objects.filter(pk=work_order_id, state=S.IN_PROGRESS, attempts=attempt - 1).update(
        attempts=attempt, updated_at=timezone.now()
    )
    order = WorkOrder.objects.filter(pk=work_order_id).first()
    if order is None or order.state != S.IN_PROGRESS:
        return None
    if claimed or (redelivered and order.attempts == attempt):
        return order
    return None


def workorder_execute(
    *, work_order_id: int, attempt: int, redelivered: bool = False, final: bool = False
) -> ExecutionOutcome:
    """Run the executor of an in_progress order; leaves it completed or failed, or in_progress with a retry or a
    poll to come. A duplicate or stale task (wrong state, attempt already claimed) does nothing ("skipped").

    The executor runs outside any transaction: it talks to CAs and hosts. `final` is set on the last allowed retry.
    """
    order = _claim(work_order_id, attempt, redelivered)
    if order is None:
        return ExecutionOutcome("skipped")
    run = executor_for(order.action)
    if run is None:
        _finish_failed(order, f"No executor is installed for '{order.get_action_display()}' work orders.")
        return ExecutionOutcome("failed")
    try:
        with context.bound(tracking_id=order.tracking_id):
            result = run(order)
    except ExecutionPending as pending:
        if order.attempts >= MAX_PENDING_POLLS:
            _finish_failed(order, f"Gave up waiting after {order.attempts} polls: {pending}")
            return ExecutionOutcome("failed")
        WorkOrder.objects.filter(pk=order.pk, state=S.IN_PROGRESS).update(result={"pending": str(pending)})
        return ExecutionOutcome("pending", countdown=min(max(pending.retry_in, 1), 300), detail=str(pending))
    except TransientExecutionError as exc:
        if final:
            _finish_failed(order, f"{exc} (gave up after {order.attempts} attempts)")
            return ExecutionOutcome("failed")
        WorkOrder.objects.filter(pk=order.pk, state=S.IN_PROGRESS).update(
            error=f"Attempt {order.attempts} failed, retrying: {exc}"
        )
        return ExecutionOutcome("retry", countdown=min(5 * 2 ** (order.attempts - 1), 300), detail=str(exc))
    except ExecutionError as exc:
        _finish_failed(order, str(exc))
        return ExecutionOutcome("failed")
    except Exception as exc:  # an executor bug must fail the order visibly, not leave it in progress forever
        logger.exception("work order %s: executor for %s raised", order.work_order_id, order.action)
        _finish_failed(order, f"{exc.__class__.__name__}: {exc}")
        return ExecutionOutcome("failed")
    _finish_completed(order, result or {})
    return ExecutionOutcome("completed")


def _finish_completed(order: WorkOrder, result: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"result": result, "error": "", "finished_at": timezone.now()}
    if order.certificate_id is None and isinstance(result.get("certificate"), int):
        fields["certificate_id"] = result["certificate"]
    try:
        with transaction.atomic():
            order = _move(order, verb=Verb.COMPLETE, target=S.COMPLETED, actor=None, **fields)
            _notify(order, [order.requester], f"{order.work_order_id} completed: {order.summary}")
    except Conflict:
        logger.info("work order %s was finished by another run", order.work_order_id)


def _finish_failed(order: WorkOrder, error: str) -> None:
    try:
        with transaction.atomic():
            order = _move(
                order,
                verb=Verb.FAIL,
                target=S.FAILED,
                actor=None,
                comment=error[:2000],
                error=error[:4000],
                finished_at=timezone.now(),
            )
            recipients = [order.requester, *_users_with_role(Role.IMPLEMENTER)]
            _notify(order, recipients, f"{order.work_order_id} failed: {error[:200]}")
    except Conflict:
        logger.info("work order %s was finished by another run", order.work_order_id)


# --- notifications --------------------------------------------------------------------------------------------------


def _users_with_role(role: str) -> list[Any]:
    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name=role) | Q(is_superuser=True) if role == Role.ADMINISTRATOR else Q(groups__name=role))
        .distinct()
        .order_by("pk")
    )


def _notify_approvers(order: WorkOrder) -> None:
    done = set(order.approvals.values_list("approver_id", flat=True))
    approvers = [u for u in _users_with_role(Role.APPROVER) if u.pk != order.requester_id and u.pk not in done]
    level = order.next_level
    _notify(
        order,
        approvers or _users_with_role(Role.ADMINISTRATOR),
        f"{order.work_order_id} awaits your approval (level {level} of {order.approval_levels}): {order.summary}",
    )


def _notify_implementers(order: WorkOrder) -> None:
    implementers = _users_with_role(Role.IMPLEMENTER) or _users_with_role(Role.ADMINISTRATOR)
    _notify(order, implementers, f"{order.work_order_id} is approved and ready to implement: {order.summary}")
    if all(u.pk != order.requester_id for u in implementers):
        _notify(order, [order.requester], f"{order.work_order_id} is approved: {order.summary}")


def _notify(order: WorkOrder, users: list[Any], message: str) -> list[Notification]:
    """Portal notifications for `users` (once each), e-mailed after commit to those with an address."""
    seen: set[int] = set()
    rows = []
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(Notification(user=user, work_order=order, message=message[:300]))
    created = Notification.objects.bulk_create(rows)
    ids = [n.pk for n in created if n.pk is not None]
    if ids:
        from workorders.tasks import notification_email_task

        transaction.on_commit(lambda: notification_email_task.delay(ids))
    return created


def notification_email_send(*, notification_ids: list[int], portal_url: str = "") -> int:
    """E-mail each notification that has not been e-mailed yet to its user (who has an address); returns the number
    sent. Idempotent: `emailed_at` is claimed with a conditional UPDATE before sending."""
    sent = 0
    for notification in Notification.objects.filter(pk__in=notification_ids).select_related("user", "work_order"):
        if not notification.user.email:
            continue
        if not Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        ):
            continue
        order = notification.work_order
        link = f"{portal_url.rstrip('/')}{order.get_absolute_url()}" if portal_url else order.get_absolute_url()
        send_mail(
            subject=f"[Thumbprint] {notification.message[:120]}",
            message=f"{notification.message}\n\nOpen the work order: {link}\n",
            from_email=None,
            recipient_list=[notification.user.email],
        )
        sent += 1
    return sent


def notification_mark_read(*, user: Any, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications (all unread ones, or those listed) as read."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
