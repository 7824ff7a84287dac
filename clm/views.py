"""Core pages: dashboard, "not built yet", jobs, audit trail, users, health."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from clm.choices import JobState
from clm.filtersets import AuditEventFilterSet, JobFilterSet
from clm.health import broker_ok, database_ok
from clm.jobs import job_enqueue
from clm.models import AuditEvent, Job
from clm.navigation import item_by_slug
from clm.roles import has_role, user_roles


def require_role(request: HttpRequest, *roles: str) -> None:
    if not has_role(request.user, *roles):
        raise PermissionDenied("Your role does not allow this page.")


def paginate(request: HttpRequest, queryset: Any, per_page: int = 50) -> Any:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    db, db_detail = database_ok()
    broker, broker_detail = broker_ok()
    status = 200 if db and broker else 503
    return JsonResponse({"database": db_detail, "broker": broker_detail}, status=status)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    db, _ = database_ok()
    broker, _ = broker_ok(timeout=1.0)
    context = {
        "health": {"database": db, "broker": broker},
        "recent_jobs": Job.objects.filter(created_by_id=request.user.pk)[:5],
        "recent_audit": AuditEvent.objects.all()[:8] if has_role(request.user, "auditor") else [],
        "jobs_running": Job.objects.filter(state__in=[JobState.QUEUED, JobState.RUNNING]).count(),
    }
    return render(request, "clm/dashboard.html", context)


@login_required
def not_built(request: HttpRequest, slug: str) -> HttpResponse:
    item = item_by_slug(slug)
    if item is None:
        raise Http404("No such page.")
    return render(request, "clm/not_built.html", {"item": item}, status=200)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    require_role(request, "auditor")
    filterset = JobFilterSet(request.GET, queryset=Job.objects.select_related("created_by"))
    return render(request, "clm/job_list.html", {"filter": filterset, "page": paginate(request, filterset.qs)})


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=pk)
    if job.created_by_id != request.user.pk:
        require_role(request, "auditor")
    template = "clm/_job_progress.html" if request.htmx else "clm/job_detail.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job})


@login_required
@require_POST
def job_selftest(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    job = job_enqueue(kind="selftest", params={"steps": 10, "delay": 0.3}, user=request.user)
    return redirect("job_detail", pk=job.pk)


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    require_role(request, "auditor")
    filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
    page = paginate(request, filterset.qs)
    return render(request, "clm/audit_list.html", {"filter": filterset, "page": page})


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [{"user": u, "roles": sorted(user_roles(u))} for u in users]
    return render(request, "clm/user_list.html", {"rows": rows})
