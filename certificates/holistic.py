"""The holistic view: a certificate's home page (UI.md "The holistic view").

Centre: the certificate (or, before issuance, what was requested). Left: its CA connectors (enrollments) with their
work orders. Right: its application connectors -- other apps add cards with `@holistic_panel`. Along the top: the
actions the user's role and the state allow. Below: history (parent/children, work orders, audit events).
Also the downloads (PEM, PEM with chain, DER, PFX with a password).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from certificates.compliance import certificate_compliance
from certificates.exports import (
    Export,
    can_download_private_key,
    certificate_export_der,
    certificate_export_pem,
    certificate_export_pfx,
    portal_key,
)
from certificates.models import Certificate
from clm.api.errors import ApplicationError
from clm.models import AuditEvent
from clm.roles import has_role

PanelProvider = Callable[[HttpRequest, "Certificate | None"], "dict[str, Any] | None"]


@dataclass(frozen=True)
class HolisticPanel:
    side: str  # "left" (CA side) or "right" (application side)
    order: int
    template: str
    provider: PanelProvider


_panels: list[HolisticPanel] = []


def holistic_panel(*, side: str, order: int, template: str) -> Callable[[PanelProvider], PanelProvider]:
    """Register a card for the holistic view: `provider(request, certificate)` returns the template's context, or
    None to show nothing (e.g. the application connectors of the [push] issue, on the right)."""

    def register(provider: PanelProvider) -> PanelProvider:
        _panels.append(HolisticPanel(side=side, order=order, template=template, provider=provider))
        return provider

    return register


def _panels_for(request: HttpRequest, certificate: Certificate | None, side: str) -> list[dict[str, Any]]:
    cards = []
    for panel in sorted((p for p in _panels if p.side == side), key=lambda p: p.order):
        context = panel.provider(request, certificate)
        if context is not None:
            cards.append({"template": panel.template, "context": context})
    return cards


def _validity_percent(not_before: Any, not_after: Any) -> int:
    total = (not_after - not_before).total_seconds()
    if total <= 0:
        return 100
    return max(0, min(100, int((timezone.now() - not_before).total_seconds() * 100 / total)))


def holistic_context(request: HttpRequest, *, certificate: Certificate | None = None, enrollment: Any = None) -> dict:
    """Everything the holistic template shows, for an issued certificate or an enrollment not issued yet."""
    from enrollment.ca import ca_module_get
    from enrollment.models import Enrollment
    from workorders.choices import OPEN_STATES, WorkOrderAction
    from workorders.models import WorkOrder
    from workorders.selectors import workorder_available_verbs, workorder_latest_for_target

    user = request.user
    if certificate is not None:
        enrollments = list(certificate.enrollments.select_related("ca_account", "group", "requester"))
    else:
        enrollments = [enrollment]
    enrollment_type = ContentType.objects.get_for_model(Enrollment)
    order_query = Q(target_type=enrollment_type, target_id__in=[e.pk for e in enrollments])
    if certificate is not None:
        order_query |= Q(certificate=certificate)
    orders = list(WorkOrder.objects.filter(order_query).select_related("requester").order_by("-created_at", "-id"))
    open_order = next((o for o in orders if o.state in OPEN_STATES), None)
    connectors = [
        {
            "enrollment": e,
            "ca_label": ca_module_get(e.ca_account.ca).label,
            "order": workorder_latest_for_target(e),
        }
        for e in enrollments
    ]
    context: dict[str, Any] = {
        "certificate": certificate,
        "enrollment": enrollment or (enrollments[0] if enrollments else None),
        "connectors": connectors,
        "orders": orders,
        "order": open_order,
        "verbs": workorder_available_verbs(order=open_order, user=user) if open_order else [],
        "live": open_order is not None and open_order.state in ("scheduled", "in_progress"),
        "left_panels": _panels_for(request, certificate, "left"),
        "right_panels": _panels_for(request, certificate, "right"),
    }
    if certificate is not None:
        validity_days = (certificate.not_after - certificate.not_before).days
        context.update(
            # The same verdict as the inventory list and API (a certificate in no group gets the default group's).
            violations=list(certificate_compliance(certificate).reasons),
            validity_days=validity_days,
            validity_percent=_validity_percent(certificate.not_before, certificate.not_after),
            has_key=portal_key(certificate) is not None,
            can_pfx=can_download_private_key(user, certificate),
            can_revoke=(
                has_role(user, "requester")
                and bool(enrollments)
                and certificate.revoked_at is None
                and not any(o.action == WorkOrderAction.REVOKE and o.state in OPEN_STATES for o in orders)
            ),
            children=certificate.children.all()[:20],
        )
    audit_query = Q(object_type="workorders.workorder", object_id__in=[str(o.pk) for o in orders]) | Q(
        object_type="enrollment.enrollment", object_id__in=[str(e.pk) for e in enrollments]
    )
    if certificate is not None:
        audit_query |= Q(object_type="certificates.certificate", object_id=str(certificate.pk))
    context["audit_events"] = AuditEvent.objects.filter(audit_query)[:50]
    return context


def _require_reader(request: HttpRequest) -> None:
    if not has_role(request.user, "requester", "approver", "implementer", "auditor"):
        raise PermissionDenied("Your role does not allow this page.")


@login_required
def certificate_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_reader(request)
    certificate = get_object_or_404(Certificate.objects.select_related("group__policy", "parent"), pk=pk)
    return render(request, "certificates/certificate_holistic.html", holistic_context(request, certificate=certificate))


class PfxForm(forms.Form):
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="PFX password",
        help_text="At least 8 characters; needed to import the file.",
    )
    password_confirm = forms.CharField(
        strip=False, widget=forms.PasswordInput(render_value=False), label="Confirm password"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords do not match.")
        return data


def _file(export: Export) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def certificate_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """PEM, PEM with chain, DER: a file. PFX: a dialog asking for a password (twice), then the file."""
    _require_reader(request)
    certificate = get_object_or_404(Certificate, pk=pk)
    if fmt == "pem":
        return _file(certificate_export_pem(certificate=certificate))
    if fmt == "chain":
        return _file(certificate_export_pem(certificate=certificate, with_chain=True))
    if fmt == "der":
        return _file(certificate_export_der(certificate=certificate))
    if fmt != "pfx":
        raise Http404("No such format.")
    if not can_download_private_key(request.user, certificate):
        raise PermissionDenied("Your role does not allow downloading private keys.")
    form = PfxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            export = certificate_export_pfx(
                certificate=certificate, password=form.cleaned_data["password"], user=request.user
            )
        except ApplicationError as exc:
            for name, errors in exc.errors.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
            if not exc.errors:
                form.add_error(None, exc.message)
        else:
            return _file(export)
    template = "certificates/_pfx_form.html" if request.htmx else "certificates/certificate_pfx.html"  # type: ignore[attr-defined]
    return render(request, template, {"certificate": certificate, "form": form}, status=400 if form.errors else 200)
