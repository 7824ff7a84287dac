"""Template helpers of the inventory: sortable column headers, key labels, and the locations block that any
certificate page (this detail page, or the holistic view) can include with `{% certificate_locations cert %}`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.utils.html import format_html

from certificates.choices import KeyType
from certificates.compliance import EC_CURVE_NAMES

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_link(context: dict[str, Any], name: str, label: str) -> str:
    """A column header link: sorts by `name`, or reverses it when it is the current order (cursor dropped)."""
    request = context["request"]
    current = context.get("ordering") or "-id"
    params = {k: v for k, v in request.GET.items() if k not in ("cursor", "o", "export")}
    if current == name:
        target, arrow, sort = f"-{name}", " ▲", "ascending"
    elif current == f"-{name}":
        target, arrow, sort = name, " ▼", "descending"
    else:
        target, arrow, sort = name, "", ""
    params["o"] = target
    return format_html(
        '<a href="?{}" data-sort="{}"{}>{}{}</a>',
        urlencode(params),
        name,
        format_html(' aria-sort="{}"', sort) if sort else "",
        label,
        arrow,
    )


@register.filter
def key_label(certificate: Any) -> str:
    if certificate.key_type == KeyType.EC:
        return f"EC {EC_CURVE_NAMES.get(certificate.key_size, certificate.key_size)}"
    return f"{dict(KeyType.choices).get(certificate.key_type, certificate.key_type)} {certificate.key_size}"


@register.inclusion_tag("certificates/_certificate_locations.html")
def certificate_locations(certificate: Any) -> dict[str, Any]:
    from certificates.selectors import certificate_locations as load

    return {"locations": load(certificate=certificate), "certificate": certificate}


@register.filter
def sans_text(sans: dict[str, list[str]] | None, limit: int = 3) -> str:
    names = [*(sans or {}).get("dns", []), *(sans or {}).get("ip", [])]
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit})" if len(names) > limit else shown


@register.inclusion_tag("certificates/_status_group.html", takes_context=True)
def certificate_status_form(context: dict[str, Any], certificate: Any) -> dict[str, Any]:
    """Administrators set a certificate's inventory status and group here (and move in one a discovery left out)."""
    from certificates.forms import MoveForm
    from clm.roles import has_role

    request = context["request"]
    return {
        "certificate": certificate,
        "form": MoveForm(initial={"status": certificate.status, "group": certificate.group_id}),
        "can_write": has_role(request.user, "administrator"),
        "csrf_token": context.get("csrf_token"),
    }
