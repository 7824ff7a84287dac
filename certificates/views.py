"""Inventory pages: Server and Client lists (filters, sorting, free text, saved filters, CSV export, keyset pages),
a certificate's detail with its locations and bindings, Groups & Policies, and the expiry report."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from certificates import services
from certificates.choices import InventoryKind
from certificates.compliance import certificate_compliance
from certificates.filtersets import EXPIRY_WINDOWS, CertificateFilterSet
from certificates.forms import GroupForm, MoveForm, PolicyForm, SavedFilterForm, apply_errors
from certificates.keyset import CursorError
from certificates.models import Certificate, CertificateGroup, Policy, SavedFilter
from certificates.selectors import (
    ORDERINGS,
    certificate_count_capped,
    certificate_list,
    certificate_page,
    expiry_by_week,
    group_default,
    saved_filters,
)
from clm.api.errors import ApplicationError
from clm.roles import has_role

PAGE_SIZE = 50
CSV_COLUMNS = [
    ("Common name", "common_name"),
    ("SANs", "sans"),
    ("Issuer", "issuer_common_name"),
    ("Not before", "not_before"),
    ("Not after", "not_after"),
    ("Key type", "key_type"),
    ("Key size", "key_size"),
    ("Signature hash", "signature_hash"),
    ("Serial", "serial"),
    ("Thumbprint (SHA-1)", "thumbprint"),
    ("SHA-256", "sha256"),
    ("Status", "status"),
    ("Group", "group_id"),
    ("Locations", "location_count"),
    ("Bindings", "binding_count"),
]


def _require_reader(request: HttpRequest) -> None:
    if not has_role(request.user, "requester", "approver", "implementer", "auditor"):
        raise PermissionDenied("Your role does not allow this page.")


def _require_admin(request: HttpRequest) -> None:
    if not has_role(request.user, "administrator"):
        raise PermissionDenied("Only administrators can change groups, policies and certificate status.")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(queryset: Any) -> Iterator[str]:
    """The CSV, streamed in chunks (a million rows never sit in memory)."""
    writer = csv.writer(_Echo())
    groups = dict(CertificateGroup.objects.values_list("id", "name"))
    default = group_default().name
    yield writer.writerow([label for label, _ in CSV_COLUMNS])
    fields = [name for _, name in CSV_COLUMNS]
    for values in queryset.order_by("not_after", "id").values_list(*fields).iterator(chunk_size=2000):
        row = dict(zip(fields, values, strict=True))
        sans = row["sans"] or {}
        row["sans"] = " ".join([*sans.get("dns", []), *sans.get("ip", [])])
        row["group_id"] = groups.get(row["group_id"], default)
        for name in ("not_before", "not_after"):
            row[name] = row[name].isoformat()
        yield writer.writerow([row[name] for name in fields])


def _inventory(request: HttpRequest, kind: str) -> HttpResponse | StreamingHttpResponse:
    _require_reader(request)
    params = request.GET.copy()
    # The filter bar submits every field; an empty one means "any", not a value to check.
    for key in [k for k, values in params.lists() if not any(v.strip() for v in values)]:
        del params[key]
    ordering = params.get("o") or "-id"
    if ordering.lstrip("-") not in ORDERINGS:
        ordering = "-id"
    filterset = CertificateFilterSet(params, queryset=certificate_list(kind=kind), request=request)
    valid = filterset.is_valid()
    queryset = filterset.qs if valid else Certificate.objects.none()
    if request.GET.get("export") == "csv":
        response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="inventory-{kind}-{stamp}.csv"'
        return response
    try:
        page = certificate_page(queryset, ordering=ordering, cursor=params.get("cursor") or None, page_size=PAGE_SIZE)
    except CursorError:
        params.pop("cursor", None)
        page = certificate_page(queryset, ordering=ordering, cursor=None, page_size=PAGE_SIZE)
    default = group_default()
    rows = [{"certificate": c, "compliance": certificate_compliance(c, default)} for c in page.items]
    count, capped = certificate_count_capped(queryset)
    base = {k: v for k, v in params.items() if k not in ("cursor", "export")}
    query = urlencode(base)
    context = {
        "kind": kind,
        "title": "Server" if kind == InventoryKind.SERVER else "Client",
        "filter": filterset,
        "rows": rows,
        "page": page,
        "count": count,
        "capped": capped,
        "ordering": ordering,
        "query": query,
        "next_url": f"?{urlencode({**base, 'cursor': page.next_cursor})}" if page.next_cursor else None,
        "previous_url": f"?{urlencode({**base, 'cursor': page.previous_cursor})}" if page.previous_cursor else None,
        "first_url": f"?{query}" if params.get("cursor") else None,
        "export_url": f"?{urlencode({**base, 'export': 'csv'})}",
        "saved": saved_filters(user=request.user, kind=kind),
        "save_form": SavedFilterForm(initial={"query": urlencode({k: v for k, v in base.items() if v})}),
        "groups": CertificateGroup.objects.all(),
        "expiry_windows": EXPIRY_WINDOWS,
        "default_group": default,
        "can_write": has_role(request.user, "administrator"),
    }
    return render(request, "certificates/inventory_list.html", context, status=200 if valid else 400)


@login_required
def server_list(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return _inventory(request, InventoryKind.SERVER)


@login_required
def client_list(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return _inventory(request, InventoryKind.CLIENT)


@login_required
@require_POST
def saved_filter_create(request: HttpRequest, kind: str) -> HttpResponse:
    _require_reader(request)
    if kind not in InventoryKind.values:
        raise Http404("No such inventory.")
    form = SavedFilterForm(request.POST)
    target = "certificates:server_list" if kind == InventoryKind.SERVER else "certificates:client_list"
    if form.is_valid():
        try:
            saved = services.saved_filter_save(
                user=request.user, kind=kind, name=form.cleaned_data["name"], query=form.cleaned_data["query"]
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Filter “{saved.name}” saved.")
            return redirect(f"{_url(target)}?{saved.query}")
    else:
        messages.error(request, "Give the filter a name to save it.")
    return redirect(f"{_url(target)}?{form.data.get('query', '')}")


def _url(name: str) -> str:
    from django.urls import reverse

    return reverse(name)


@login_required
@require_POST
def saved_filter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedFilter, pk=pk, user=request.user)
    kind = saved.kind
    saved.delete()
    messages.success(request, f"Filter “{saved.name}” deleted.")
    return redirect("certificates:server_list" if kind == InventoryKind.SERVER else "certificates:client_list")


@login_required
@require_POST
def certificate_move(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    certificate = get_object_or_404(Certificate, pk=pk)
    form = MoveForm(request.POST)
    if form.is_valid():
        services.certificate_move(
            certificates=[certificate],
            status=form.cleaned_data["status"],
            group=form.cleaned_data["group"],
            user=request.user,
        )
        messages.success(request, "Status and group saved.")
    else:
        messages.error(request, "Choose Managed or Monitored.")
    return redirect("certificates:certificate_detail", pk=pk)


# -- Groups & Policies ----------------------------------------------------------------------------------------------


@login_required
def group_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    counts: dict[int | None, int] = dict(
        Certificate.objects.values_list("group_id").annotate(n=Count("id")).values_list("group_id", "n").order_by()
    )
    default = group_default()
    groups = [
        {"group": g, "count": counts.get(g.pk, 0) + (counts.get(None, 0) if g.pk == default.pk else 0)}
        for g in CertificateGroup.objects.select_related("policy")
    ]
    policies = Policy.objects.prefetch_related("groups")
    from discovery.models import AccessControlRule

    context = {
        "groups": groups,
        "policies": policies,
        "access_rules": AccessControlRule.objects.select_related("group"),
        "can_write": has_role(request.user, "administrator"),
    }
    return render(request, "certificates/group_list.html", context)


def _edit(
    request: HttpRequest,
    *,
    form_class: type[Any],
    instance: Any,
    save: Any,
    template: str,
    done: str,
    noun: str,
) -> HttpResponse:
    _require_admin(request)
    initial = form_class.initial_from(instance) if instance is not None else None
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(data=dict(form.cleaned_data), user=request.user, instance=instance)
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{noun} “{saved.name}” saved.")
            return redirect(done)
    status = 400 if request.method == "POST" else 200
    return render(request, template, {"form": form, "object": instance, "noun": noun}, status=status)


def _save_group(*, data: dict[str, Any], user: Any, instance: CertificateGroup | None) -> CertificateGroup:
    return services.group_save(data=data, user=user, group=instance)


def _save_policy(*, data: dict[str, Any], user: Any, instance: Policy | None) -> Policy:
    return services.policy_save(data=data, user=user, policy=instance)


@login_required
def group_create(request: HttpRequest) -> HttpResponse:
    return _edit(
        request,
        form_class=GroupForm,
        instance=None,
        save=_save_group,
        template="certificates/group_form.html",
        done="certificates:group_list",
        noun="Group",
    )


@login_required
def group_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(
        request,
        form_class=GroupForm,
        instance=get_object_or_404(CertificateGroup, pk=pk),
        save=_save_group,
        template="certificates/group_form.html",
        done="certificates:group_list",
        noun="Group",
    )


@login_required
def policy_create(request: HttpRequest) -> HttpResponse:
    return _edit(
        request,
        form_class=PolicyForm,
        instance=None,
        save=_save_policy,
        template="certificates/policy_form.html",
        done="certificates:group_list",
        noun="Policy",
    )


@login_required
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(
        request,
        form_class=PolicyForm,
        instance=get_object_or_404(Policy, pk=pk),
        save=_save_policy,
        template="certificates/policy_form.html",
        done="certificates:group_list",
        noun="Policy",
    )


@login_required
def group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    group = get_object_or_404(CertificateGroup, pk=pk)
    if request.method == "POST":
        try:
            services.group_delete(group=group, user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Group “{group.name}” deleted; its certificates are in the default group.")
        return redirect("certificates:group_list")
    return render(request, "certificates/confirm_delete.html", {"object": group, "noun": "group"})


@login_required
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    policy = get_object_or_404(Policy, pk=pk)
    if request.method == "POST":
        try:
            services.policy_delete(policy=policy, user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Policy “{policy.name}” deleted.")
        return redirect("certificates:group_list")
    return render(request, "certificates/confirm_delete.html", {"object": policy, "noun": "policy"})


# -- Reports ------------------------------------------------------------------------------------------------------


@login_required
def expiry_report(request: HttpRequest) -> HttpResponse:
    """Certificates expiring per week (next 26 weeks, and those already expired) as an inline SVG chart and a table."""
    _require_reader(request)
    kind = request.GET.get("kind") if request.GET.get("kind") in InventoryKind.values else None
    weeks = expiry_by_week(weeks=26, kind=kind)
    peak = max((w["count"] for w in weeks), default=0) or 1
    bar_width, gap, height = 22, 6, 180
    bars = []
    for index, week in enumerate(weeks):
        bar_height = int(week["count"] * height / peak)
        bars.append(
            {
                **week,
                "x": 40 + index * (bar_width + gap),
                "y": 10 + height - bar_height,
                "height": bar_height,
                "label": "Expired" if week.get("expired") else week["week"].strftime("%d %b"),
                "colour": "var(--red)" if week.get("expired") else ("var(--orange)" if index <= 5 else "var(--blue)"),
            }
        )
    context = {
        "weeks": bars,
        "kind": kind or "",
        "chart_width": 40 + len(bars) * (bar_width + gap),
        "chart_height": height + 60,
        "bar_width": bar_width,
        "peak": peak,
        "baseline": 10 + height,
        "total": sum(w["count"] for w in weeks),
    }
    return render(request, "certificates/expiry_report.html", context)
