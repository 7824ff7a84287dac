"""The one service that writes the audit trail."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models

from clm import context
from clm.models import AuditEvent

logger = logging.getLogger("clm.audit")


def audit_record(
    *,
    actor: Any,
    action: str,
    summary: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    tracking_id: str | None = None,
    source_ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` is a user or None for the system; source IP and request id come from the
    current request context unless given."""
    ctx = context.current()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else (str(actor) if actor else "system"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary[:500],
        source_ip=source_ip if source_ip is not None else ctx.source_ip,
        request_id=ctx.request_id if ctx.request_id != "-" else "",
        tracking_id=tracking_id if tracking_id is not None else ctx.tracking_id,
    )
    logger.info("audit %s by %s: %s", action, event.actor_name, event.summary)
    return event
