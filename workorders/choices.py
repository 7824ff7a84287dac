"""Work-order vocabularies and the one explicit transition table (DESIGN.md §5).

```
draft → submitted → approved_l1 → approved → scheduled → in_progress → completed
            │            │            │          │            └──────→ failed (retry → in_progress)
            └────────────┴────────────┴──────────┴─→ rejected / cancelled
```
"""

from __future__ import annotations

from django.db import models

from clm.choices import Role


class WorkOrderState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED_L1 = "approved_l1", "Approved (L1)"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class WorkOrderAction(models.TextChoices):
    """What a work order does. Each action is carried out by the executor registered for it (workorders.executors)."""

    ENROLL = "enroll", "Enroll"
    RENEW = "renew", "Renew"
    REGENERATE = "regenerate", "Regenerate"
    REVOKE = "revoke", "Revoke"
    PUSH = "push", "Push"
    ROLLBACK = "rollback", "Rollback"


class Verb(models.TextChoices):
    """The things a person (or the system) does to a work order; each is one service in workorders.services."""

    CREATE = "create", "Create"
    SUBMIT = "submit", "Submit"
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    CANCEL = "cancel", "Cancel"
    IMPLEMENT = "implement", "Implement"
    RETRY = "retry", "Retry"
    START = "start", "Start"  # the system starts a scheduled order when it is due
    COMPLETE = "complete", "Complete"
    FAIL = "fail", "Fail"


S = WorkOrderState

# Every state an order may move to from each state. A service refuses anything else.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.DRAFT: (S.SUBMITTED, S.APPROVED, S.CANCELLED),
    S.SUBMITTED: (S.APPROVED_L1, S.APPROVED, S.REJECTED, S.CANCELLED),
    S.APPROVED_L1: (S.APPROVED, S.REJECTED, S.CANCELLED),
    S.APPROVED: (S.SCHEDULED, S.IN_PROGRESS, S.REJECTED, S.CANCELLED),
    S.SCHEDULED: (S.IN_PROGRESS, S.REJECTED, S.CANCELLED),
    S.IN_PROGRESS: (S.COMPLETED, S.FAILED),
    S.FAILED: (S.IN_PROGRESS, S.CANCELLED),
    S.COMPLETED: (),
    S.REJECTED: (),
    S.CANCELLED: (),
}

# The states each verb starts from (a subset of TRANSITIONS; the target depends on the order, e.g. its levels).
VERB_SOURCES: dict[str, tuple[str, ...]] = {
    Verb.SUBMIT: (S.DRAFT,),
    Verb.APPROVE: (S.SUBMITTED, S.APPROVED_L1),
    Verb.REJECT: (S.SUBMITTED, S.APPROVED_L1, S.APPROVED, S.SCHEDULED),
    Verb.CANCEL: (S.DRAFT, S.SUBMITTED, S.APPROVED_L1, S.APPROVED, S.SCHEDULED, S.FAILED),
    Verb.IMPLEMENT: (S.APPROVED, S.SCHEDULED),
    Verb.RETRY: (S.FAILED,),
    Verb.START: (S.SCHEDULED,),
    Verb.COMPLETE: (S.IN_PROGRESS,),
    Verb.FAIL: (S.IN_PROGRESS,),
}

# Roles that may use each verb a person uses (administrators always may; requester-only rules live in services).
VERB_ROLES: dict[str, tuple[str, ...]] = {
    Verb.SUBMIT: (Role.REQUESTER,),
    Verb.APPROVE: (Role.APPROVER,),
    Verb.REJECT: (Role.APPROVER,),
    Verb.CANCEL: (Role.REQUESTER,),
    Verb.IMPLEMENT: (Role.IMPLEMENTER,),
    Verb.RETRY: (Role.IMPLEMENTER,),
}

PERSON_VERBS = (Verb.SUBMIT, Verb.APPROVE, Verb.REJECT, Verb.IMPLEMENT, Verb.RETRY, Verb.CANCEL)

OPEN_STATES = (S.DRAFT, S.SUBMITTED, S.APPROVED_L1, S.APPROVED, S.SCHEDULED, S.IN_PROGRESS, S.FAILED)
AWAITING_APPROVAL_STATES = (S.SUBMITTED, S.APPROVED_L1)
TERMINAL_STATES = (S.COMPLETED, S.REJECTED, S.CANCELLED)


def can_move(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, ())
