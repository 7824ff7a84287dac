"""Extension point of the work-order page: apps add cards for the actions they own (e.g. the push preview that the
approvers read), without the work-order app importing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from workorders.models import WorkOrder

PanelProvider = Callable[["HttpRequest", "WorkOrder"], "dict[str, Any] | None"]


@dataclass(frozen=True)
class WorkOrderPanel:
    actions: tuple[str, ...]
    template: str
    provider: PanelProvider


_panels: list[WorkOrderPanel] = []


def workorder_panel(*, actions: tuple[str, ...], template: str) -> Callable[[PanelProvider], PanelProvider]:
    """Register a card shown on the page of work orders with one of `actions`: `provider(request, order)` returns the
    template's context (as `panel`), or None to show nothing."""

    def register(provider: PanelProvider) -> PanelProvider:
        _panels.append(WorkOrderPanel(actions=actions, template=template, provider=provider))
        return provider

    return register


def workorder_panels_for(request: HttpRequest, order: WorkOrder) -> list[dict[str, Any]]:
    cards = []
    for panel in _panels:
        if order.action not in panel.actions:
            continue
        context = panel.provider(request, order)
        if context is not None:
            cards.append({"template": panel.template, "context": context})
    return cards
