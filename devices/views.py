"""Server inventory pages (Device Management > Server) and Settings > Gateways. Thin: services do the work."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from clm.api.errors import ApplicationError
from clm.views import require_role
from devices.choices import ValidationState
from devices.filtersets import DeviceFilterSet
from devices.forms import VAULT_VALUES, CommentForm, DeviceForm, GatewayForm, ImportForm
from devices.importing import COLUMNS, IMPORT_TEMPLATE, ImportResult, device_import_csv
from devices.models import Device, DeviceValidation, Gateway
from devices.selectors import device_data_centers, device_list, device_pending_validation, device_profiles, gateway_list
from devices.services import device_create, device_delete, device_update, gateway_create, gateway_delete, gateway_update
from devices.validation import device_validation_request, device_validation_request_many

SORTABLE = {
    "name": "name",
    "hostname": "hostname",
    "data_center": "data_center",
    "status": "status",
    "validated": "validated_at",
    "gateway": "gateway__name",
}


def _with_validating(queryset: QuerySet[Device]) -> QuerySet[Device]:
    pending = DeviceValidation.objects.filter(
        device=OuterRef("pk"), state__in=[ValidationState.QUEUED, ValidationState.RUNNING]
    )
    return queryset.annotate(validating=Exists(pending))


def _sorted(request: HttpRequest, queryset: QuerySet[Device]) -> tuple[QuerySet[Device], str]:
    key = request.GET.get("o", "name")
    field = SORTABLE.get(key.lstrip("-"))
    if field is None:
        return queryset.order_by("name"), "name"
    prefix = "-" if key.startswith("-") else ""
    return queryset.order_by(f"{prefix}{field}", "name"), key


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return default


@login_required
def device_list_view(request: HttpRequest) -> HttpResponse:
    """The Server inventory: search, filters, sorting, bulk validate; CSV export; the table refreshes itself while a
    validation runs."""
    filterset = DeviceFilterSet(request.GET, queryset=_with_validating(device_list()))
    queryset, order = _sorted(request, filterset.qs)
    if request.GET.get("export") == "csv":
        return _export_csv(queryset)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "order": order,
        "data_centers": device_data_centers(),
        "any_validating": any(getattr(d, "validating", False) for d in page.object_list),
        "can_write": _is_admin(request),
        "query": request.GET.copy(),
    }
    if request.htmx and request.GET.get("partial") == "table":  # type: ignore[attr-defined]
        return render(request, "devices/_device_table.html", context)
    return render(request, "devices/device_list.html", context)


def _is_admin(request: HttpRequest) -> bool:
    from clm.roles import has_role

    return has_role(request.user, "administrator")


def _export_csv(queryset: QuerySet[Device]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="servers.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "name",
            "hostname",
            "vendor",
            "data_center",
            "cert_sync",
            "status",
            "status_reason",
            "gateway",
            "os_build",
            "iis_version",
            "validated_at",
        ]
    )
    for d in queryset.iterator():
        writer.writerow(
            [
                d.name,
                d.hostname,
                d.get_vendor_display(),
                d.data_center,
                d.cert_sync,
                d.status,
                d.status_reason,
                d.gateway.name,
                d.os_build or "",
                d.iis_version,
                d.validated_at.isoformat() if d.validated_at else "",
            ]
        )
    return response


def _form_context(form: DeviceForm, device: Device | None) -> dict[str, Any]:
    return {
        "form": form,
        "device": device,
        "vault_values": VAULT_VALUES,
        "data_centers": device_data_centers(),
        "has_external_gateways": Gateway.objects.filter(mode="external").exists(),
    }


@login_required
def device_create_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    if request.method == "POST":
        form = DeviceForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                device = device_create(data=form.to_input(), user=request.user)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Server {device.name} onboarded; validation is running.")
                return redirect("devices:device_detail", pk=device.pk)
    else:
        form = DeviceForm()
    return render(request, "devices/device_form.html", _form_context(form, None))


@login_required
def device_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    device = get_object_or_404(device_list(), pk=pk)
    if request.method == "POST":
        form = DeviceForm(request.POST, request.FILES, device=device)
        if form.is_valid():
            try:
                device = device_update(device=device, data=form.to_input(), user=request.user)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Server {device.name} saved; validation is running.")
                return redirect("devices:device_detail", pk=device.pk)
    else:
        form = DeviceForm(device=device)
    return render(request, "devices/device_form.html", _form_context(form, device))


def _status_context(device: Device) -> dict[str, Any]:
    pending = device_pending_validation(device=device)
    return {"device": device, "pending": pending, "job": pending.job if pending else None}


@login_required
def device_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(device_list().select_related("last_validation"), pk=pk)
    context = {
        **_status_context(device),
        "profiles": device_profiles(device=device),
        "push_profile": device_profiles(device=device, push_type="push")[0],
        "can_write": _is_admin(request),
        "delete_form": CommentForm(),
        "history": device.validations.order_by("-id")[:10],
    }
    return render(request, "devices/device_detail.html", context)


@login_required
@require_GET
def device_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The live status card of the detail page (htmx polling); the page reloads when a validation finishes."""
    device = get_object_or_404(device_list().select_related("last_validation"), pk=pk)
    context = _status_context(device)
    response = render(request, "devices/_device_status.html", {**context, "can_write": _is_admin(request)})
    if request.GET.get("was_pending") and context["pending"] is None:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def device_status_log_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The Device Status Log (a dialog from the status badge, or a page without JavaScript)."""
    device = get_object_or_404(device_list().select_related("last_validation"), pk=pk)
    context = _status_context(device)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "devices/_status_log.html", context)
    return render(request, "devices/device_status_log.html", context)


@login_required
@require_POST
def device_validate_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    device = get_object_or_404(device_list(), pk=pk)
    with transaction.atomic():
        validation = device_validation_request(device=device, user=request.user)
    messages.info(request, f"Validation of {device.name} queued on {validation.queue} (job #{validation.job_id}).")
    return HttpResponseRedirect(_next_url(request, reverse("devices:device_detail", args=[device.pk])))


@login_required
@require_POST
def device_bulk_validate_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    ids = [int(v) for v in request.POST.getlist("devices") if v.isdigit()]
    devices = list(device_list().filter(pk__in=ids))
    if not devices:
        messages.warning(request, "Select one or more servers to validate.")
    else:
        device_validation_request_many(devices=devices, user=request.user)
        messages.info(request, f"Validation queued for {len(devices)} server(s).")
    return HttpResponseRedirect(_next_url(request, reverse("devices:device_list")))


@login_required
def device_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation (a dialog with a comment); POST: delete."""
    require_role(request, "administrator")
    device = get_object_or_404(Device, pk=pk)
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = device.name
        device_delete(device=device, user=request.user, comment=form.cleaned_data["comment"])
        messages.success(request, f"Server {name} deleted.")
        return redirect("devices:device_list")
    template = "devices/_device_delete.html" if request.htmx else "devices/device_delete.html"  # type: ignore[attr-defined]
    return render(request, template, {"device": device, "form": form})


@login_required
def device_import_view(request: HttpRequest) -> HttpResponse:
    """Import servers from CSV through an external gateway; the result of every row is shown."""
    require_role(request, "administrator")
    result: ImportResult | None = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = device_import_csv(
                content=form.cleaned_data["file"].read(), gateway=form.cleaned_data["gateway"], user=request.user
            )
        except ApplicationError as exc:
            form.add_error("file" if "file" in exc.errors else None, exc.message)
        else:
            level = messages.SUCCESS if not result.failed else messages.WARNING
            messages.add_message(
                request, level, f"{result.created} server(s) created, {result.failed} row(s) with errors."
            )
    context = {
        "form": form,
        "result": result,
        "columns": COLUMNS,
        "has_external_gateways": Gateway.objects.filter(mode="external").exists(),
    }
    return render(request, "devices/device_import.html", context)


@login_required
@require_GET
def device_import_template_view(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(IMPORT_TEMPLATE, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="server-import-template.csv"'
    return response


# -- gateways --------------------------------------------------------------------------------------------------------


@login_required
def gateway_list_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "auditor")
    gateways = list(gateway_list())
    counts = {g.pk: g.devices.count() for g in gateways}
    rows = [{"gateway": g, "devices": counts[g.pk]} for g in gateways]
    return render(request, "devices/gateway_list.html", {"rows": rows, "can_write": _is_admin(request)})


@login_required
def gateway_create_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    form = GatewayForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            gateway = gateway_create(data=form.to_input(), user=request.user)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Gateway {gateway.name} added. Start its worker: run_gateway {gateway.name}.")
            return redirect("devices:gateway_list")
    return render(request, "devices/gateway_form.html", {"form": form, "gateway": None})


@login_required
def gateway_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    gateway = get_object_or_404(Gateway, pk=pk)
    form = GatewayForm(request.POST or None, request.FILES or None, gateway=gateway)
    if request.method == "POST" and form.is_valid():
        try:
            gateway = gateway_update(gateway=gateway, data=form.to_input(), user=request.user)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Gateway {gateway.name} saved.")
            return redirect("devices:gateway_list")
    return render(request, "devices/gateway_form.html", {"form": form, "gateway": gateway})


@login_required
@require_POST
def gateway_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    gateway = get_object_or_404(Gateway, pk=pk)
    try:
        gateway_delete(gateway=gateway, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Gateway {gateway.name} deleted.")
    return redirect("devices:gateway_list")
