"""Work-order template helpers: the status chip that opens the order's timeline in a dialog."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

from clm.templatetags.clm import status_colour
from workorders.models import WorkOrder

register = template.Library()


@register.simple_tag
def workorder_chip(order: WorkOrder | None) -> str:
    """A badge in the UI.md colour of the order's state, with its id; a click opens the timeline (a link to the
    order without JavaScript)."""
    if order is None:
        return format_html('<span class="badge badge-grey">No work order</span>')
    return format_html(
        '<a class="badge badge-{} chip" href="{}" data-dialog-url="{}" data-testid="wo-chip" '
        'title="Open the timeline of {}">{} · {}</a>',
        status_colour(order.state),
        order.get_absolute_url(),
        reverse("workorders:workorder_timeline", args=[order.pk]),
        order.work_order_id,
        order.work_order_id,
        order.get_state_display(),
    )
