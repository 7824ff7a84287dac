"""Template helpers shared by every app: status badges in the UI.md colours, expiry badges, dates."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()

# UI.md "Status vocabulary and colours": one colour per meaning, everywhere.
STATUS_COLOURS = {
    "green": {"managed", "in_sync", "completed", "succeeded", "ok", "valid", "compliant", "active"},
    "blue": {"monitored", "submitted", "scheduled", "in_progress", "running", "queued"},
    "grey": {"ignored", "draft", "cancelled", "unknown", "skipped", "do_not_move"},
    "purple": {"approved_l1", "approved", "pending_approval", "pending"},
    "amber": {"unresolved", "out_of_sync", "expiring", "locked", "warning"},
    "red": {"failed", "rejected", "expired", "non_compliant", "error", "revoked"},
}


def status_colour(value: str) -> str:
    key = str(value).lower().replace(" ", "_").replace("-", "_")
    for colour, values in STATUS_COLOURS.items():
        if key in values:
            return colour
    return "grey"


@register.simple_tag
def status_badge(value: str, label: str = "") -> str:
    text = label or str(value).replace("_", " ").capitalize()
    return format_html('<span class="badge badge-{}">{}</span>', status_colour(value), text)


@register.simple_tag
def expiry_badge(not_after: datetime | None) -> str:
    if not_after is None:
        return ""
    days = (not_after - timezone.now()).days
    if not_after <= timezone.now():
        return format_html('<span class="badge badge-{}">{}</span>', "red", "Expired")
    if days < 30:
        return format_html('<span class="badge badge-{}">{}</span>', "orange", "< 30 days")
    if days < 90:
        return format_html('<span class="badge badge-{}">{}</span>', "yellow", "< 90 days")
    return ""


@register.simple_tag
def when(value: datetime | None) -> str:
    """A date in the user's time zone with the relative time on hover."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    now = timezone.now()
    relative = f"in {timeuntil(value, now)}" if value > now else f"{timesince(value, now)} ago"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(), relative, local.strftime("%Y-%m-%d %H:%M")
    )
