"""Work orders: every change to a CA or a device, approved before anyone implements it (DESIGN.md §5)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from workorders.choices import AWAITING_APPROVAL_STATES, WorkOrderAction, WorkOrderState


class WorkOrder(models.Model):
    """One requested change (enroll, renew, regenerate, revoke, push, rollback) and where it stands.

    `state` moves only through the services in workorders.services, each a conditional UPDATE following
    workorders.choices.TRANSITIONS, and each transition writes a WorkOrderEvent and an audit event. `target` is what
    the action works on (an enrollment, a certificate, an application connector); `certificate` is the certificate
    the order is about, shown on that certificate's holistic view (set once issued, for an enrollment).
    `approval_levels` is copied from the group's policy when the order is created (0-2).
    """

    request_id = models.CharField(max_length=20, unique=True, blank=True, null=True)
    work_order_id = models.CharField(max_length=20, unique=True, blank=True, null=True)
    action = models.CharField(max_length=16, choices=WorkOrderAction.choices, db_index=True)
    state = models.CharField(max_length=16, choices=WorkOrderState.choices, default=WorkOrderState.DRAFT, db_index=True)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    certificate = models.ForeignKey(
        "certificates.Certificate", null=True, blank=True, on_delete=models.SET_NULL, related_name="work_orders"
    )
    group = models.ForeignKey(
        "certificates.CertificateGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=300, blank=True, help_text="One line: what this order does, to what.")
    params = models.JSONField(default=dict, blank=True, help_text="Non-secret parameters for the executor.")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="work_orders")
    approval_levels = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(2)])
    schedule_at = models.DateTimeField(null=True, blank=True, db_index=True)
    tracking_id = models.CharField(max_length=128, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Executions started (first run, retries, polls).")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["state", "schedule_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.work_order_id or 'WO-?'} {self.action} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("workorders:workorder_detail", args=[self.pk])

    @property
    def awaiting_approval(self) -> bool:
        return self.state in AWAITING_APPROVAL_STATES

    @property
    def next_level(self) -> int:
        """The approval level the next approval gives (1 or 2)."""
        return 2 if self.state == WorkOrderState.APPROVED_L1 else 1

    def target_label(self) -> str:
        target: Any = self.target
        return str(target) if target is not None else "—"


class WorkOrderApproval(models.Model):
    """One approval of a work order at one level. The constraints are the separation of duties: one approval per
    level, and one approval per person, so two levels always come from two different people."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="approvals")
    level = models.PositiveSmallIntegerField()
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True, max_length=2000)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["level"]
        constraints = [
            models.UniqueConstraint(fields=["work_order", "level"], name="one_approval_per_level"),
            models.UniqueConstraint(fields=["work_order", "approver"], name="one_approval_per_approver"),
            models.CheckConstraint(condition=Q(level__in=[1, 2]), name="approval_level_1_or_2"),
        ]

    def __str__(self) -> str:
        return f"L{self.level} by {self.approver_id}"


class WorkOrderEvent(models.Model):
    """One transition of a work order: from which state to which, by whom (None = the system), when, and the
    comment given. Append-only: the timeline of the order."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    verb = models.CharField(max_length=16)
    from_state = models.CharField(max_length=16, choices=WorkOrderState.choices, blank=True)
    to_state = models.CharField(max_length=16, choices=WorkOrderState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    comment = models.TextField(blank=True, max_length=2000)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order_id}: {self.from_state or '∅'} → {self.to_state} by {self.actor_name}"


class Notification(models.Model):
    """A message in the portal for the next person who has to act on a work order (also sent by e-mail)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="notifications")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"to {self.user_id}: {self.message}"
