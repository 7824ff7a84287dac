"""Queries on work orders used by the UI, the API and other apps (holistic view)."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet

from clm.choices import Role
from clm.roles import has_role
from workorders.choices import AWAITING_APPROVAL_STATES, PERSON_VERBS, VERB_ROLES, VERB_SOURCES, Verb, WorkOrderState
from workorders.models import Notification, WorkOrder, WorkOrderApproval

S = WorkOrderState

TABS = {
    "mine": "My requests",
    "approval": "Awaiting my approval",
    "implement": "Ready to implement",
    "all": "All",
}


def workorder_available_verbs(*, order: WorkOrder, user: Any) -> list[str]:
    """The verbs this user may use on this order now (from the transition table, roles and separation of duties);
    the UI shows exactly these buttons and the services enforce the same rules."""
    verbs: list[str] = []
    for verb in PERSON_VERBS:
        if order.state not in VERB_SOURCES[verb] or not has_role(user, *VERB_ROLES[verb]):
            continue
        is_requester = order.requester_id == user.pk
        if verb in (Verb.SUBMIT, Verb.CANCEL) and not (is_requester or has_role(user, Role.ADMINISTRATOR)):
            continue
        if verb in (Verb.APPROVE, Verb.REJECT) and is_requester:
            continue
        if verb == Verb.APPROVE and any(a.approver_id == user.pk for a in order.approvals.all()):
            continue
        verbs.append(verb)
    return verbs


def workorder_awaiting_approval_by(user: Any) -> QuerySet[WorkOrder]:
    """Orders waiting for an approval this user may give (not their own, not one they approved already)."""
    if not has_role(user, Role.APPROVER):
        return WorkOrder.objects.none()
    already = WorkOrderApproval.objects.filter(work_order=OuterRef("pk"), approver=user)
    return WorkOrder.objects.filter(state__in=AWAITING_APPROVAL_STATES).exclude(requester=user).exclude(Exists(already))


def workorder_list_for(*, user: Any, tab: str) -> QuerySet[WorkOrder]:
    """The orders of one tab of the work-order list: mine | approval | implement | all (all: administrators,
    auditors)."""
    base = WorkOrder.objects.select_related("requester", "certificate", "target_type")
    if tab == "approval":
        return base.filter(pk__in=workorder_awaiting_approval_by(user).values("pk"))
    if tab == "implement":
        if not has_role(user, Role.IMPLEMENTER):
            return base.none()
        return base.filter(state__in=[S.APPROVED, S.SCHEDULED, S.FAILED])
    if tab == "all":
        return base if has_role(user, Role.AUDITOR) else base.none()
    return base.filter(requester=user)


def workorder_default_tab(user: Any) -> str:
    if has_role(user, Role.APPROVER) and not has_role(user, Role.ADMINISTRATOR):
        return "approval"
    if has_role(user, Role.IMPLEMENTER) and not has_role(user, Role.REQUESTER, Role.ADMINISTRATOR):
        return "implement"
    return "mine"


def workorders_for_target(target: models.Model) -> QuerySet[WorkOrder]:
    """Every work order acting on `target` (an enrollment, a connector, ...), newest first."""
    content_type = ContentType.objects.get_for_model(target)
    return WorkOrder.objects.filter(target_type=content_type, target_id=target.pk).order_by("-created_at", "-id")


def workorder_latest_for_target(target: models.Model) -> WorkOrder | None:
    return workorders_for_target(target).first()


def workorders_for_certificate(certificate_id: int, extra: Q | None = None) -> QuerySet[WorkOrder]:
    query = Q(certificate_id=certificate_id)
    if extra is not None:
        query |= extra
    return WorkOrder.objects.filter(query).select_related("requester").order_by("-created_at", "-id")


def notifications_unread(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True).select_related("work_order")
