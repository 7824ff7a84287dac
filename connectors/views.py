"""Connector pages: add / edit / delete a connector (from a certificate's holistic view), its detail, the Push to
Device and Rollback dialogs, the Push to Device lists (Server, Client), the Push Validation Report and General
Settings. Views shape input and call connectors.services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from certificates.choices import INVENTORY_STATUSES
from certificates.models import Certificate
from clm.api.errors import ApplicationError
from clm.choices import Role
from clm.roles import has_role
from clm.views import require_role
from connectors import services
from connectors.charts import series_chart, share_bar
from connectors.choices import PostScriptFailure, PushType, ScriptLocation, StoreChoice
from connectors.forms import ERROR_FIELDS, CommentForm, ConnectorForm, GeneralSettingsForm, initial_from_input
from connectors.models import AppConnector, PushDevice
from connectors.settings_services import general_settings_get, general_settings_update
from connectors.validation import report_data
from devices.models import Device
from devices.selectors import device_profiles

READERS = (Role.REQUESTER, Role.APPROVER, Role.IMPLEMENTER, Role.AUDITOR)


def _reader(request: HttpRequest) -> None:
    if not has_role(request.user, *READERS):
        raise PermissionDenied("Your role does not allow this page.")


def _writer(request: HttpRequest) -> None:
    if not has_role(request.user, Role.REQUESTER):
        raise PermissionDenied("Your role does not allow managing application connectors.")


def _next(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return default


@login_required
def general_settings(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    form = GeneralSettingsForm(request.POST or None, instance=general_settings_get())
    if request.method == "POST" and form.is_valid():
        general_settings_update(actor=request.user, **{f: form.cleaned_data[f] for f in form.Meta.fields})
        messages.success(request, "General settings saved.")
        return redirect("connectors:general_settings")
    return render(request, "connectors/general_settings.html", {"form": form})


# --- the connector form ---------------------------------------------------------------------------------------------


def _profile_choices(device_ids: list[int], push_type: str, http_only: bool) -> list[tuple[str, str]]:
    if push_type != PushType.PUSH_AND_BIND:
        return []
    choices = []
    for device in Device.objects.filter(pk__in=device_ids).order_by("name"):
        for profile in device_profiles(device=device, push_type=push_type, http_only=http_only):
            choices.append((f"{device.pk}|{profile.name}", f"{device.name}: {profile.name}"))
    return choices


def _selected_devices(request: HttpRequest, initial: dict[str, Any]) -> list[int]:
    source = request.POST if request.method == "POST" else request.GET
    values = source.getlist("devices") if "devices" in source else initial.get("devices") or []
    return [int(v) for v in values if str(v).isdigit()]


def _form_context(
    request: HttpRequest, certificate: Certificate, connector: AppConnector | None, initial: dict[str, Any]
) -> tuple[ConnectorForm, dict[str, Any]]:
    source = request.POST if request.method == "POST" else None
    if source is not None:
        push_type, http_only = source.get("push_type") or "", bool(source.get("http_sites"))
    else:
        push_type, http_only = initial.get("push_type", PushType.PUSH_AND_BIND), bool(initial.get("http_sites"))
    choices = _profile_choices(_selected_devices(request, initial), push_type, http_only)
    form = ConnectorForm(source, initial=initial, profile_choices=choices)
    context = {
        "certificate": certificate,
        "connector": connector,
        "form": form,
        "has_devices": Device.objects.exists(),
    }
    return form, context


def _save(request: HttpRequest, form: ConnectorForm, certificate: Certificate, connector: AppConnector | None) -> Any:
    data = form.to_input()
    try:
        if connector is None:
            return services.connector_create(certificate=certificate, data=data, user=request.user)
        return services.connector_update(connector=connector, data=data, user=request.user)
    except ApplicationError as exc:
        for name, errors in exc.errors.items():
            target = ERROR_FIELDS.get(name, name)
            for error in errors:
                form.add_error(target if target in form.fields else None, error)
        if not exc.errors:
            form.add_error(None, exc.message)
        return None


@login_required
def connector_create(request: HttpRequest) -> HttpResponse:
    _writer(request)
    cert_id = request.GET.get("certificate") or request.POST.get("certificate") or ""
    certificate = get_object_or_404(Certificate, pk=int(cert_id) if cert_id.isdigit() else 0)
    initial = {
        "category": "server",
        "vendor": "iis",
        "push_type": PushType.PUSH if certificate.is_client else PushType.PUSH_AND_BIND,
        "location_type": "certificate_store",
        "store": StoreChoice.PERSONAL,
        "bind_type": "update_certificate",
        "script_location": ScriptLocation.NONE,
        "post_script_failure": PostScriptFailure.ROLLBACK,
        "secure_push": True,
        "friendly_name": certificate.common_name,
    }
    form, context = _form_context(request, certificate, None, initial)
    if request.method == "POST" and "refresh" not in request.POST and form.is_valid():
        connector = _save(request, form, certificate, None)
        if connector is not None:
            messages.success(request, f"Connector {connector.name} added.")
            return redirect("certificates:certificate_detail", pk=certificate.pk)
    status = 400 if request.method == "POST" and form.errors and "refresh" not in request.POST else 200
    return render(request, "connectors/connector_form.html", context, status=status)


@login_required
def connector_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _writer(request)
    connector = get_object_or_404(AppConnector.objects.select_related("certificate"), pk=pk)
    initial = initial_from_input(services.connector_input_from(connector))
    form, context = _form_context(request, connector.certificate, connector, initial)
    if request.method == "POST" and "refresh" not in request.POST and form.is_valid():
        saved = _save(request, form, connector.certificate, connector)
        if saved is not None:
            messages.success(request, f"Connector {saved.name} saved.")
            return redirect("certificates:certificate_detail", pk=connector.certificate_id)
    status = 400 if request.method == "POST" and form.errors and "refresh" not in request.POST else 200
    return render(request, "connectors/connector_form.html", context, status=status)


@login_required
def connector_profiles(request: HttpRequest) -> HttpResponse:
    """The profile checkboxes for the servers and push type chosen so far (htmx swap in the form)."""
    _writer(request)
    device_ids = [int(v) for v in request.GET.getlist("devices") if v.isdigit()]
    choices = _profile_choices(device_ids, request.GET.get("push_type", ""), bool(request.GET.get("http_sites")))
    selected = set(request.GET.getlist("profiles"))
    return render(
        request,
        "connectors/_profiles.html",
        {"choices": choices, "selected": selected, "devices_chosen": bool(device_ids)},
    )


@login_required
@require_POST
def connector_remove(request: HttpRequest, pk: int) -> HttpResponse:
    _writer(request)
    connector = get_object_or_404(AppConnector, pk=pk)
    certificate_id = connector.certificate_id
    try:
        services.connector_delete(connector=connector, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("connectors:connector_detail", pk=pk)
    messages.success(request, "Connector deleted.")
    return redirect("certificates:certificate_detail", pk=certificate_id)


@login_required
def connector_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _reader(request)
    connector = get_object_or_404(AppConnector.objects.select_related("certificate", "created_by"), pk=pk)
    rows = PushDevice.objects.filter(connector=connector).select_related("work_order", "device")[:50]
    context = {
        "connector": connector,
        "targets": connector.targets.select_related("device"),
        "rows": rows,
        "endpoints": connector.endpoints.select_related("device").order_by("-active", "device__name", "port"),
        "can_write": has_role(request.user, Role.REQUESTER),
    }
    return render(request, "connectors/connector_detail.html", context)


# --- push and rollback dialogs --------------------------------------------------------------------------------------


def _dialog(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    _writer(request)
    connector = get_object_or_404(AppConnector.objects.select_related("certificate"), pk=pk)
    default = reverse("certificates:certificate_detail", args=[connector.certificate_id])
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        comment = form.cleaned_data["comment"]
        try:
            if verb == "push":
                orders = services.push_request(connector=connector, user=request.user, comment=comment)
            else:
                orders = services.rollback_request(connector=connector, user=request.user, comment=comment)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            for errors in exc.errors.values():
                for error in errors:
                    if error != exc.message:
                        form.add_error(None, error)
        else:
            ids = ", ".join(o.work_order_id or "" for o in orders)
            what = "previewing; submitted for approval when ready" if verb == "push" else "submitted for approval"
            messages.success(request, f"{ids}: {what}.")
            return redirect(_next(request, default))
    context = {
        "connector": connector,
        "form": form,
        "verb": verb,
        "title": "Push to Device" if verb == "push" else "Rollback",
        "next": _next(request, default),
        "undo": services.rollback_candidates(connector) if verb == "rollback" else [],
    }
    template = "connectors/_verb_form.html" if request.htmx else "connectors/connector_verb.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=400 if form.errors else 200)


@login_required
def connector_push(request: HttpRequest, pk: int) -> HttpResponse:
    return _dialog(request, pk, "push")


@login_required
def connector_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    return _dialog(request, pk, "rollback")


# --- Push to Device lists -------------------------------------------------------------------------------------------


def _push_list(request: HttpRequest, *, client: bool) -> HttpResponse:
    _reader(request)
    query = request.GET.get("q", "").strip()
    certificates = (
        Certificate.objects.filter(is_client=client, status__in=INVENTORY_STATUSES)
        .annotate(
            connector_count=Count("app_connectors", distinct=True),
            out_of_sync=Count("app_connectors", filter=Q(app_connectors__sync_status="out_of_sync"), distinct=True),
        )
        .order_by("not_after", "id")
    )
    if query:
        certificates = certificates.filter(Q(common_name__icontains=query) | Q(thumbprint__iexact=query))
    page = Paginator(certificates, 50).get_page(request.GET.get("page"))
    context = {"page": page, "client": client, "q": query, "title": "Client" if client else "Server"}
    return render(request, "connectors/push_list.html", context)


@login_required
def push_server(request: HttpRequest) -> HttpResponse:
    return _push_list(request, client=False)


@login_required
def push_client(request: HttpRequest) -> HttpResponse:
    return _push_list(request, client=True)


# --- the report -----------------------------------------------------------------------------------------------------


@login_required
def push_validation_report(request: HttpRequest) -> HttpResponse:
    _reader(request)
    days_text = request.GET.get("days", "7")
    days = int(days_text) if days_text.isdigit() and 1 <= int(days_text) <= 90 else 7
    data = report_data(days=days)
    context = {
        **data,
        "share_chart": share_bar(succeeded=data["succeeded"], failed=data["failed"]),
        "series_chart": series_chart(data["series"], hourly=days <= 1),
        "hourly": days <= 1,
        "day_choices": (1, 7, 30, 90),
        "can_run": has_role(request.user, Role.ADMINISTRATOR),
    }
    return render(request, "connectors/push_validation_report.html", context)


@login_required
@require_POST
def push_validation_run(request: HttpRequest) -> HttpResponse:
    """Administrators: queue a validation sweep now instead of waiting for beat."""
    require_role(request, "administrator")
    from connectors.tasks import push_validation_task

    push_validation_task.delay()
    messages.success(request, "Push validation queued; the report updates when it finishes.")
    return redirect("connectors:push_validation_report")
