"""Template helpers of the Server inventory: the device status badge that opens the Device Status Log."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

from clm.templatetags.clm import status_colour

register = template.Library()


@register.simple_tag
def device_status_badge(device: Any, validating: bool | None = None) -> str:
    """The status as a badge button (UI.md: a status with a story opens it in a dialog); "Validating…" while a
    validation is queued or running."""
    url = reverse("devices:device_status_log", args=[device.pk])
    busy = getattr(device, "validating", False) if validating is None else validating
    if busy:
        colour, text = "blue", "Validating…"
    else:
        colour, text = status_colour(device.status), device.get_status_display()
    return format_html(
        '<a class="badge badge-{}" href="{}" data-dialog-url="{}" data-testid="status-{}" title="{}">{}</a>',
        colour,
        url,
        url,
        device.pk,
        device.status_reason or "Open the Device Status Log",
        text,
    )


@register.simple_tag(takes_context=True)
def sort_link(context: Any, key: str, label: str) -> str:
    """A column header that sorts by `key` (toggling direction), keeping the other query parameters."""
    request = context["request"]
    current = request.GET.get("o", "name")
    query = request.GET.copy()
    query.pop("page", None)
    descending = current == key
    query["o"] = f"-{key}" if descending else key
    arrow = " ▲" if current == key else " ▼" if current == f"-{key}" else ""
    aria = "ascending" if current == key else "descending" if current == f"-{key}" else "none"
    return format_html('<a href="?{}" aria-sort="{}">{}{}</a>', query.urlencode(), aria, label, arrow)


@register.filter
def parse_iso(value: str | None) -> Any:
    """An ISO-8601 string (as stored in the status log) as a datetime, for `{% when %}`."""
    from datetime import datetime

    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
