"""Work-order pages: the list (my requests, awaiting my approval, ready to implement, all), the detail with its
timeline, the comment dialogs of the verbs, and notifications."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clm.api.errors import ApplicationError
from clm.roles import has_role
from workorders.choices import PERSON_VERBS, Verb, WorkOrderState
from workorders.filtersets import WorkOrderFilterSet
from workorders.forms import ImplementForm, TransitionForm
from workorders.models import WorkOrder
from workorders.panels import workorder_panels_for
from workorders.selectors import (
    TABS,
    notifications_unread,
    workorder_available_verbs,
    workorder_default_tab,
    workorder_list_for,
)
from workorders.services import VERB_SERVICES, notification_mark_read, workorder_implement

VERB_TITLES = {
    Verb.SUBMIT: "Submit",
    Verb.APPROVE: "Approve",
    Verb.REJECT: "Reject",
    Verb.CANCEL: "Cancel work order",
    Verb.IMPLEMENT: "Implement",
    Verb.RETRY: "Retry",
}
LIVE_STATES = (WorkOrderState.SCHEDULED, WorkOrderState.IN_PROGRESS)


def _require_any_role(request: HttpRequest) -> None:
    if not has_role(request.user, "requester", "approver", "implementer", "auditor"):
        raise PermissionDenied("Your role does not allow this page.")


def _next_url(request: HttpRequest, order: WorkOrder) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return order.get_absolute_url()


@login_required
def workorder_list(request: HttpRequest) -> HttpResponse:
    _require_any_role(request)
    tab = request.GET.get("tab") or workorder_default_tab(request.user)
    if tab not in TABS:
        tab = "mine"
    tabs = [(key, label) for key, label in TABS.items() if key != "all" or has_role(request.user, "auditor")]
    filterset = WorkOrderFilterSet(request.GET, queryset=workorder_list_for(user=request.user, tab=tab))
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    context = {
        "tab": tab,
        "tabs": tabs,
        "filter": filterset,
        "page": page,
        "notifications": notifications_unread(request.user)[:10],
    }
    return render(request, "workorders/workorder_list.html", context)


def _order_context(request: HttpRequest, order: WorkOrder) -> dict[str, Any]:
    return {
        "order": order,
        "events": order.events.all(),
        "approvals": order.approvals.select_related("approver"),
        "verbs": workorder_available_verbs(order=order, user=request.user),
        "live": order.state in LIVE_STATES,
        "verb_titles": VERB_TITLES,
    }


@login_required
def workorder_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_any_role(request)
    order = get_object_or_404(WorkOrder.objects.select_related("requester", "certificate", "target_type"), pk=pk)
    context = {**_order_context(request, order), "panels": workorder_panels_for(request, order)}
    return render(request, "workorders/workorder_detail.html", context)


@login_required
def workorder_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The timeline alone: opened in the dialog when a work-order status chip is clicked."""
    _require_any_role(request)
    order = get_object_or_404(WorkOrder, pk=pk)
    return render(request, "workorders/_workorder_timeline.html", _order_context(request, order))


@login_required
def workorder_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status chip, polled by pages while an order is scheduled or running; when the state differs from the one
    the page shows (`seen`), the page is refreshed (HX-Refresh) to show the outcome."""
    _require_any_role(request)
    order = get_object_or_404(WorkOrder, pk=pk)
    response = render(request, "workorders/_workorder_status.html", _order_context(request, order))
    seen = request.GET.get("seen")
    if seen and seen != order.state:
        response["HX-Refresh"] = "true"
    return response


@login_required
def workorder_transition(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """GET: the dialog (comment; for implement, now or a date and time). POST: the verb's service."""
    _require_any_role(request)
    if verb not in PERSON_VERBS:
        raise Http404("No such action.")
    order = get_object_or_404(WorkOrder.objects.select_related("requester"), pk=pk)
    form_class = ImplementForm if verb == Verb.IMPLEMENT else TransitionForm
    if request.method == "POST":
        form = form_class(request.POST, verb=verb)
        if form.is_valid():
            try:
                _perform(request, order, verb, form.cleaned_data)
            except ApplicationError as exc:
                for name, errors in exc.errors.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
                if not exc.errors:
                    form.add_error(None, exc.message)
            else:
                return redirect(_next_url(request, order))
    else:
        if verb not in workorder_available_verbs(order=order, user=request.user):
            raise PermissionDenied(f"You cannot {verb} {order.work_order_id} now.")
        form = form_class(initial={"expected_state": order.state}, verb=verb)
    template = "workorders/_transition_form.html" if request.htmx else "workorders/workorder_transition.html"  # type: ignore[attr-defined]
    context = {
        **_order_context(request, order),
        "form": form,
        "verb": verb,
        "title": VERB_TITLES[Verb(verb)],
        "next": _next_url(request, order),
    }
    return render(request, template, context, status=400 if form.errors else 200)


def _perform(request: HttpRequest, order: WorkOrder, verb: str, data: dict[str, Any]) -> None:
    expected = data.get("expected_state") or None
    if verb == Verb.IMPLEMENT:
        order = workorder_implement(
            work_order_id=order.pk,
            user=request.user,
            comment=data["comment"],
            schedule_at=data.get("schedule_at"),
            expected_state=expected,
        )
    else:
        order = VERB_SERVICES[verb](
            work_order_id=order.pk, user=request.user, comment=data["comment"], expected_state=expected
        )
    messages.success(request, f"{order.work_order_id}: {order.get_state_display()}.")


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = request.user.notifications.select_related("work_order")  # type: ignore[union-attr]
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "workorders/notification_list.html", {"page": page})


@login_required
@require_POST
def notification_read(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()]
    notification_mark_read(user=request.user, notification_ids=ids or None)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    return redirect(target or "workorders:notification_list")
