"""Discovery pages: Managed Devices Scan (definitions: list, add/edit with the device picker and the live schedule
summary, run now, delete), Runs (list, detail with live progress), discovery rules and access control rules."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from certificates.models import CertificateLocation
from clm.api.errors import ApplicationError
from clm.roles import has_role
from devices.models import Device
from discovery import services
from discovery.choices import DeviceRunState, RunType
from discovery.forms import AccessRuleForm, DiscoveryForm, RuleForm
from discovery.models import AccessControlRule, DeviceFavourite, Discovery, DiscoveryRule, DiscoveryRun
from discovery.schedule import ScheduleSpec, schedule_next, schedule_summary


def _require_reader(request: HttpRequest) -> None:
    if not has_role(request.user, "requester", "approver", "implementer", "auditor"):
        raise PermissionDenied("Your role does not allow this page.")


def _require_admin(request: HttpRequest) -> None:
    if not has_role(request.user, "administrator"):
        raise PermissionDenied("Only administrators run and change discoveries.")


@login_required
def discovery_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    discoveries = Discovery.objects.prefetch_related("devices").select_related("periodic_task", "rule", "group")
    rows = []
    now = timezone.now()
    for discovery in discoveries:
        spec = ScheduleSpec.of(discovery) if discovery.run_type == RunType.SCHEDULED else None
        upcoming: list[Any] = []
        if spec and discovery.periodic_task and discovery.periodic_task.enabled:
            upcoming = schedule_next(spec, after=now, count=1, already_run=discovery.occurrences_run)
        rows.append(
            {
                "discovery": discovery,
                "summary": schedule_summary(spec) if spec else "",
                "next": upcoming[0] if upcoming else None,
                "last_run": discovery.runs.order_by("-created_at", "-id").first(),
                "devices": len(discovery.devices.all()),
            }
        )
    context = {"rows": rows, "can_write": has_role(request.user, "administrator")}
    return render(request, "discovery/discovery_list.html", context)


def _picker_context(request: HttpRequest, form: DiscoveryForm) -> dict[str, Any]:
    selected = {str(v) for v in (form["devices"].value() or [])}
    favourites = set(DeviceFavourite.objects.filter(user_id=request.user.pk or 0).values_list("device_id", flat=True))
    devices = [
        {"device": d, "selected": str(d.pk) in selected, "favourite": d.pk in favourites}
        for d in Device.objects.order_by("name").select_related("gateway")
    ]
    return {"picker": devices, "selected_count": len(selected)}


def _edit(request: HttpRequest, discovery: Discovery | None) -> HttpResponse:
    _require_admin(request)
    initial = DiscoveryForm.initial_from(discovery) if discovery else None
    form = DiscoveryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.discovery_save(data=form.to_input(), user=request.user, discovery=discovery)
        except ApplicationError as exc:
            form.add_service_errors(exc.errors)
        else:
            verb = "scheduled" if saved.run_type == RunType.SCHEDULED else "saved"
            messages.success(request, f"Discovery “{saved.name}” {verb}.")
            if request.POST.get("then") == "run" and saved.run_type == RunType.ON_DEMAND:
                run = services.discovery_run_now(discovery=saved, user=request.user)
                return redirect("discovery:run_detail", pk=run.pk)
            return redirect("discovery:discovery_list")
    summary = ""
    if form.is_bound and hasattr(form, "cleaned_data"):
        summary = schedule_summary(form.schedule_spec())
    elif discovery is not None and discovery.run_type == RunType.SCHEDULED:
        summary = schedule_summary(ScheduleSpec.of(discovery))
    context = {"form": form, "object": discovery, "summary": summary, **_picker_context(request, form)}
    return render(request, "discovery/discovery_form.html", context, status=400 if form.errors else 200)


@login_required
def discovery_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
def discovery_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Discovery, pk=pk))


@login_required
def discovery_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    discovery = get_object_or_404(Discovery, pk=pk)
    if request.method == "POST":
        try:
            services.discovery_delete(discovery=discovery, user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Discovery “{discovery.name}” deleted.")
        return redirect("discovery:discovery_list")
    return render(request, "discovery/confirm_delete.html", {"object": discovery, "noun": "discovery"})


@login_required
@require_POST
def discovery_run(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    discovery = get_object_or_404(Discovery, pk=pk)
    try:
        run = services.discovery_run_now(discovery=discovery, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("discovery:discovery_list")
    return redirect("discovery:run_detail", pk=run.pk)


@login_required
@require_GET
def schedule_preview(request: HttpRequest) -> HttpResponse:
    """The plain-language summary of the schedule being typed (htmx swaps it in as the form changes)."""
    form = DiscoveryForm(request.GET)
    form.is_valid()
    spec = form.schedule_spec() if hasattr(form, "cleaned_data") else ScheduleSpec()
    upcoming = schedule_next(spec, after=timezone.now(), count=3)
    return render(request, "discovery/_schedule_summary.html", {"summary": schedule_summary(spec), "next": upcoming})


@login_required
@require_POST
def device_favourite(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reader(request)
    device = get_object_or_404(Device, pk=pk)
    favourite = request.POST.get("favourite") == "1"
    services.device_favourite_set(user=request.user, device=device, favourite=favourite)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "discovery/_favourite.html", {"row": {"device": device, "favourite": favourite}})
    return redirect(request.POST.get("next") or "discovery:discovery_list")


# -- runs ------------------------------------------------------------------------------------------------------


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    queryset = DiscoveryRun.objects.select_related("discovery", "requested_by")
    state = request.GET.get("state")
    if state:
        queryset = queryset.filter(state=state)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "discovery/run_list.html", {"page": page, "state": state or ""})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run with its per-device rows; while it runs, the progress block polls itself every two seconds."""
    _require_reader(request)
    run = get_object_or_404(DiscoveryRun.objects.select_related("discovery", "requested_by"), pk=pk)
    rows = list(run.device_rows.select_related("device").order_by("batch", "device_name"))
    locked = (
        CertificateLocation.objects.filter(device_id__in=[r.device_id for r in rows if r.device_id], state="locked")
        .select_related("device")
        .order_by("device__name", "path")
        if run.locked_files
        else []
    )
    elapsed = ((run.finished_at or timezone.now()) - (run.started_at or run.created_at)).total_seconds()
    context = {
        "run": run,
        "rows": rows,
        "locked": locked,
        "elapsed": int(elapsed),
        "running_states": (DeviceRunState.QUEUED, DeviceRunState.RUNNING),
    }
    template = "discovery/_run_progress.html" if request.htmx else "discovery/run_detail.html"  # type: ignore[attr-defined]
    return render(request, template, context)


# -- rules ---------------------------------------------------------------------------------------------------------


def _rules(request: HttpRequest, model: type[Any], template: str) -> HttpResponse:
    _require_reader(request)
    context = {"rules": model.objects.all(), "can_write": has_role(request.user, "administrator")}
    return render(request, template, context)


def _rule_edit(
    request: HttpRequest, *, form_class: type[RuleForm], instance: Any, save: Any, done: str, noun: str
) -> HttpResponse:
    _require_admin(request)
    form = form_class(request.POST or None, initial=form_class.initial_from(instance) if instance else None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(data=form.to_data(), user=request.user, rule=instance)
        except ApplicationError as exc:
            for name, errors in exc.errors.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
        else:
            messages.success(request, f"{noun} “{saved.name}” saved.")
            return redirect(done)
    context = {"form": form, "object": instance, "noun": noun, "done": done}
    return render(request, "discovery/rule_form.html", context, status=400 if form.errors else 200)


def _rule_delete(request: HttpRequest, *, instance: Any, delete: Any, done: str, noun: str) -> HttpResponse:
    _require_admin(request)
    if request.method == "POST":
        try:
            delete(rule=instance, user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{noun} “{instance.name}” deleted.")
        return redirect(done)
    return render(request, "discovery/confirm_delete.html", {"object": instance, "noun": noun.lower(), "done": done})


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    return _rules(request, DiscoveryRule, "discovery/rule_list.html")


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_edit(
        request,
        form_class=RuleForm,
        instance=None,
        save=services.discovery_rule_save,
        done="discovery:rule_list",
        noun="Discovery rule",
    )


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_edit(
        request,
        form_class=RuleForm,
        instance=get_object_or_404(DiscoveryRule, pk=pk),
        save=services.discovery_rule_save,
        done="discovery:rule_list",
        noun="Discovery rule",
    )


@login_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_delete(
        request,
        instance=get_object_or_404(DiscoveryRule, pk=pk),
        delete=services.discovery_rule_delete,
        done="discovery:rule_list",
        noun="Discovery rule",
    )


@login_required
def access_rule_list(request: HttpRequest) -> HttpResponse:
    return _rules(request, AccessControlRule, "discovery/access_rule_list.html")


@login_required
def access_rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_edit(
        request,
        form_class=AccessRuleForm,
        instance=None,
        save=services.access_rule_save,
        done="discovery:access_rule_list",
        noun="Access control rule",
    )


@login_required
def access_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_edit(
        request,
        form_class=AccessRuleForm,
        instance=get_object_or_404(AccessControlRule, pk=pk),
        save=services.access_rule_save,
        done="discovery:access_rule_list",
        noun="Access control rule",
    )


@login_required
def access_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_delete(
        request,
        instance=get_object_or_404(AccessControlRule, pk=pk),
        delete=services.access_rule_delete,
        done="discovery:access_rule_list",
        noun="Access control rule",
    )
