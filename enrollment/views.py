"""Enrollment pages: Enroll (Server, Client), an enrollment's holistic view before issuance, revocation dialog,
attachments, Settings > CA Accounts, and the public CA files (CRLs, CA certificates)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from certificates.holistic import holistic_context
from certificates.models import Certificate, CertificateGroup
from certificates.selectors import group_default
from clm.api.errors import ApplicationError
from clm.roles import has_role
from enrollment.ca import CAError, ca_module_get
from enrollment.ca.builtin import BUILTIN, ca_certificate_pem, crl_current
from enrollment.forms import (
    EnrollmentForm,
    RevokeForm,
    apply_service_errors,
    attachment_forms,
    attribute_forms,
    policy_initial,
)
from enrollment.models import CAAccount, Enrollment
from enrollment.services import csr_prefill, enrollment_create, revocation_request

TITLES = {"server": "Enroll Server Certificate", "client": "Enroll Client Certificate"}


def _group(request: HttpRequest) -> CertificateGroup:
    raw = request.POST.get("group") or request.GET.get("group")
    if raw and raw.isdigit():
        group = CertificateGroup.objects.select_related("policy").filter(pk=int(raw)).first()
        if group is not None:
            return group
    return group_default()


def _initial(group: CertificateGroup, kind: str) -> dict[str, Any]:
    account = CAAccount.objects.filter(enabled=True).order_by("pk").first()
    initial: dict[str, Any] = {"group": group.pk, "certificate_type": kind, **policy_initial(group)}
    if account is not None:
        initial.update(ca_account=account.pk, certificate_authority=account.ca)
    return initial


def _unbound(request: HttpRequest, group: CertificateGroup, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The page again with what the user typed (secrets and files excepted), plus `extra` values."""
    typed = {k: v for k, v in request.POST.dict().items() if "password" not in k and k != "csrfmiddlewaretoken"}
    initial = {**typed, **extra}
    attributes = attribute_forms()
    for index, row in enumerate(attributes):
        row.initial = {"name": typed.get(f"attr{index}-name", ""), "value": typed.get(f"attr{index}-value", "")}
    return {
        "form": EnrollmentForm(initial=initial, group=group, kind=kind),
        "attachments": attachment_forms(),
        "attributes": attributes,
    }


@login_required
def enroll_server(request: HttpRequest) -> HttpResponse:
    return _enroll(request, "server")


@login_required
def enroll_client(request: HttpRequest) -> HttpResponse:
    return _enroll(request, "client")


def _enroll(request: HttpRequest, kind: str) -> HttpResponse:
    if not has_role(request.user, "requester"):
        raise PermissionDenied("Your role does not allow enrolling certificates.")
    group = _group(request)
    context: dict[str, Any] = {"kind": kind, "title": TITLES[kind], "group": group, "policy": group.policy}
    status = 200
    action = request.POST.get("action", "add") if request.method == "POST" else ""
    if request.method != "POST":
        context.update(
            form=EnrollmentForm(initial=_initial(group, kind), group=group, kind=kind),
            attachments=attachment_forms(),
            attributes=attribute_forms(),
        )
    elif action == "refresh":
        context.update(_unbound(request, group, kind, policy_initial(group)))
    elif action == "prefill":
        context.update(_prefill(request, group, kind))
    else:
        form = EnrollmentForm(request.POST, request.FILES, group=group, kind=kind)
        attachments = attachment_forms(request.POST, request.FILES)
        attributes = attribute_forms(request.POST)
        valid = all([form.is_valid(), *(a.is_valid() for a in attachments), *(a.is_valid() for a in attributes)])
        if valid:
            inputs = [i for i in (a.to_input() for a in attachments) if i is not None]
            custom = {
                a.cleaned_data["name"].strip(): a.cleaned_data["value"] for a in attributes if a.cleaned_data["name"]
            }
            try:
                enrollment = enrollment_create(user=request.user, data=form.to_input(inputs, custom))
            except ApplicationError as exc:
                apply_service_errors(form, attachments, exc.errors, exc.message)
            else:
                messages.success(request, "Enrollment added. Submit it to start the approval.")
                return redirect(enrollment.get_absolute_url())
        context.update(form=form, attachments=attachments, attributes=attributes)
        status = 400
    return render(request, "enrollment/enroll_form.html", context, status=status)


def _prefill(request: HttpRequest, group: CertificateGroup, kind: str) -> dict[str, Any]:
    """ "Upload": read the CSR into the CSR parameter fields, or say why it cannot be read."""
    probe = EnrollmentForm(request.POST, request.FILES, group=group, kind=kind)
    probe.is_valid()
    text = probe.csr_text() if "csr" in probe.cleaned_data else None
    try:
        params = csr_prefill(csr=text or "")
    except ApplicationError as exc:
        context = _unbound(request, group, kind, {"csr_source": "upload"})
        context["prefill_error"] = exc.errors.get("csr", [exc.message])[0]
        return context
    sans = params["sans"]
    extra = {
        "csr_source": "upload",
        "csr": text if text and "-----BEGIN" in text else request.POST.get("csr", ""),
        "common_name": params["common_name"],
        "vendor_certificate_id": request.POST.get("vendor_certificate_id") or params["common_name"],
        **{f"san_{t}": ", ".join(sans.get(t, [])) for t in ("dns", "ip", "email", "uri")},
        **{k: params.get(k, "") for k in ("organization", "organizational_unit", "locality", "state", "country")},
        "email": params.get("email", ""),
        "hash": params["hash"],
        "key_type": params["key_type"],
        "rsa_key_size" if params["key_type"] == "rsa" else "ec_key_size": params["key_size"],
    }
    context = _unbound(request, group, kind, extra)
    context["prefill_message"] = (
        f"Filled in from the CSR: {params['key_type'].upper()} {params['key_size']}-bit key, signed with "
        f"{params['hash']}. Check the fields, then Add."
    )
    return context


@login_required
def enrollment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The holistic view of an enrollment that has no certificate yet; once issued, the certificate's own view."""
    enrollment = get_object_or_404(Enrollment.objects.select_related("ca_account", "group", "requester"), pk=pk)
    if enrollment.certificate_id is not None:
        return redirect("certificates:certificate_detail", pk=enrollment.certificate_id)
    context = holistic_context(request, enrollment=enrollment)
    return render(request, "certificates/certificate_holistic.html", context)


@login_required
def attachment_download(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    enrollment = get_object_or_404(Enrollment, pk=pk)
    attachment = get_object_or_404(enrollment.attachments.all(), pk=attachment_id)
    response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
    response["Content-Disposition"] = f'attachment; filename="{attachment.filename}"'
    return response


@login_required
def certificate_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the Revoke dialog (reason, comment). POST: a revoke work order, submitted for approval."""
    if not has_role(request.user, "requester"):
        raise PermissionDenied("Your role does not allow asking for revocations.")
    certificate = get_object_or_404(Certificate, pk=pk)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = revocation_request(
                user=request.user,
                certificate_id=certificate.pk,
                reason=form.cleaned_data["reason"],
                comment=form.cleaned_data["comment"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{order.work_order_id}: revocation submitted for approval.")
            return redirect("certificates:certificate_detail", pk=certificate.pk)
    template = "enrollment/_revoke_form.html" if request.htmx else "enrollment/certificate_revoke.html"  # type: ignore[attr-defined]
    return render(request, template, {"certificate": certificate, "form": form}, status=400 if form.errors else 200)


@login_required
def ca_account_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for account in CAAccount.objects.all():
        module = ca_module_get(account.ca)
        rows.append(
            {
                "account": account,
                "module": module,
                "templates": module.templates(account),
                "details": module.describe(account),
            }
        )
    return render(request, "enrollment/ca_account_list.html", {"rows": rows})


PKI_FILES = {
    "root.crl": ("crl", "root"),
    "issuing.crl": ("crl", "issuing"),
    "root.crt": ("der", "root"),
    "issuing.crt": ("der", "issuing"),
    "root.pem": ("pem", "root"),
    "issuing.pem": ("pem", "issuing"),
}


@require_GET
@cache_control(max_age=300, public=True)
def pki_file(request: HttpRequest, account_id: int, name: str) -> HttpResponse:
    """The built-in CA's published files, without sign-in (relying parties fetch CRLs and CA certificates)."""
    if name not in PKI_FILES:
        raise Http404("No such file.")
    account = get_object_or_404(CAAccount, pk=account_id, ca=BUILTIN)
    kind, which = PKI_FILES[name]
    try:
        if kind == "crl":
            return HttpResponse(crl_current(account, which), content_type="application/pkix-crl")
        pem = ca_certificate_pem(account, which)
    except CAError as exc:
        raise Http404(str(exc)) from None
    if kind == "pem":
        return HttpResponse(pem, content_type="application/x-pem-file")
    der = x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(serialization.Encoding.DER)
    return HttpResponse(der, content_type="application/pkix-cert")
