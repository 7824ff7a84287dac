"""State changes of enrollment: create an enrollment (validated, CSR made or read, draft work order), read an
uploaded CSR into the form's fields, and ask for a revocation (a work order)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from certificates.choices import KeyLocation
from certificates.models import Certificate, CertificateGroup, PrivateKey
from certificates.selectors import group_or_default
from certificates.x509 import public_key_fingerprint
from clm.api.errors import ApplicationError, Conflict
from clm.audit import audit_record
from clm.choices import Role
from clm.roles import has_role
from enrollment.ca import ca_module_get
from enrollment.choices import UNAVAILABLE_CSR_SOURCES, CsrSource, RevocationReason
from enrollment.csr import CsrError, ParsedCsr, build_csr, generate_private_key, parse_csr, private_key_pkcs8
from enrollment.models import CAAccount, Enrollment, EnrollmentAttachment
from enrollment.validation import (
    SUBJECT_LIMITS,
    check_challenge_password,
    check_common_name,
    check_country,
    check_crypto,
    check_validity,
    clean_sans,
    key_label,
)
from workorders.choices import OPEN_STATES, WorkOrderAction
from workorders.models import WorkOrder
from workorders.services import WorkOrderForbidden, workorder_create, workorder_submit

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
SUBJECT_FIELDS = ("organization", "organizational_unit", "locality", "state", "country", "email")


@dataclass
class AttachmentInput:
    name: str
    filename: str
    content: bytes
    comment: str = ""
    content_type: str = "application/octet-stream"


@dataclass
class EnrollmentInput:
    """An enrollment request as the API and the form both hand it to `enrollment_create` (already typed)."""

    ca_account: int | None
    connector_name: str
    csr_source: str
    params: dict[str, Any]
    group: int | None = None
    certificate_type: str = "server"
    description: str = ""
    csr: str | None = None
    renew_automatically: bool = False
    renew_days_before: int = 30
    regenerate_automatically: bool = False
    regenerate_days_before: int = 30
    reenroll_automatically: bool = False
    reenroll_days_before: int = 30
    challenge_password: str = ""
    challenge_password_confirm: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    vendor_certificate_id: str = ""
    device_name: str = ""
    application_ip: str | None = None
    tracking_id: str = ""
    attachments: list[AttachmentInput] = field(default_factory=list)


@dataclass
class _Checked:
    group: CertificateGroup
    account: CAAccount
    params: dict[str, Any]
    parsed_csr: ParsedCsr | None


class _Errors(dict[str, list[str]]):
    def add(self, name: str, messages: list[str] | str) -> None:
        if isinstance(messages, str):
            messages = [messages]
        if messages:
            self.setdefault(name, []).extend(messages)


def csr_prefill(*, csr: str | bytes) -> dict[str, Any]:
    """Read an uploaded CSR (signature checked) into the CSR parameter fields of the enrollment form.

    Raises ApplicationError naming the `csr` field when it is malformed or its signature does not verify.
    """
    try:
        parsed = parse_csr(csr)
    except CsrError as exc:
        raise ApplicationError(str(exc), errors={"csr": [str(exc)]}) from None
    return _params_from_csr(parsed, {})


def _params_from_csr(parsed: ParsedCsr, given: dict[str, Any]) -> dict[str, Any]:
    """The CSR's subject and SANs, overridden by the values the request gives; key type and size always from the
    CSR (the key is in it); the hash from the request, else the CSR's."""
    params: dict[str, Any] = {"common_name": parsed.subject.get("common_name", "")}
    for name in SUBJECT_FIELDS:
        params[name] = parsed.subject.get(name, "")
    params["sans"] = parsed.sans
    params["hash"] = parsed.hash if parsed.hash in ("sha256", "sha384", "sha512") else "sha256"
    for key, value in given.items():
        if key in ("key_type", "key_size"):
            continue
        if value not in (None, "", {}, []) and not (key == "sans" and not any(_values(value))):
            params[key] = value
    params["key_type"] = parsed.key_type
    params["key_size"] = parsed.key_size
    return params


def _values(sans: Any) -> list[Any]:
    return list(sans.values()) if isinstance(sans, dict) else [sans]


def _check(data: EnrollmentInput, now: datetime) -> _Checked:
    """Every rule of the reference and the group's policy; raises one ApplicationError naming all failing fields."""
    errors = _Errors()
    group = account = None
    try:
        group = group_or_default(data.group)
    except CertificateGroup.DoesNotExist:
        errors.add("group", "No such certificate group.")
    account = CAAccount.objects.filter(pk=data.ca_account, enabled=True).first() if data.ca_account else None
    if account is None:
        errors.add("ca_account", "Choose an enabled CA account." if data.ca_account else "A CA account is required.")
    elif ca_module_get(account.ca).template(account, data.certificate_type) is None:
        names = ", ".join(t.name for t in ca_module_get(account.ca).templates(account))
        errors.add("certificate_type", f"This CA has no certificate type {data.certificate_type!r}; use {names}.")
    if not data.connector_name.strip():
        errors.add("connector_name", "Connector name is required.")
    elif len(data.connector_name) > 100:
        errors.add("connector_name", "Connector name can have at most 100 characters.")
    if len(data.description) > 2000:
        errors.add("description", f"Description can have at most 2000 characters (it has {len(data.description)}).")
    for name in ("renew", "regenerate", "reenroll"):
        days = getattr(data, f"{name}_days_before")
        if not 1 <= days <= 120:
            errors.add(f"{name}_days_before", "Days before expiry must be between 1 and 120.")
    for key, value in check_challenge_password(data.challenge_password, data.challenge_password_confirm).items():
        errors.add(key, value)
    _check_extras(data, errors)

    policy = group.policy if group is not None else None
    parsed = None
    params = dict(data.params or {})
    if data.csr_source in UNAVAILABLE_CSR_SOURCES:
        errors.add("csr_source", UNAVAILABLE_CSR_SOURCES[CsrSource(data.csr_source)])
    elif data.csr_source == CsrSource.UPLOAD:
        try:
            parsed = parse_csr(data.csr or "")
            params = _params_from_csr(parsed, params)
        except CsrError as exc:
            errors.add("csr", str(exc))
    elif data.csr_source != CsrSource.APP:
        errors.add("csr_source", "CSR generation must be app, upload, hsm or endpoint.")
    if data.csr_source in (CsrSource.APP, CsrSource.UPLOAD) and "csr" not in errors:
        params = _check_params(params, policy, now, generated=data.csr_source == CsrSource.APP, errors=errors)
    if errors:
        raise ApplicationError(_summary(errors), errors=dict(errors))
    assert group is not None and account is not None
    return _Checked(group=group, account=account, params=params, parsed_csr=parsed)


def _check_params(
    raw: dict[str, Any], policy: Any, now: datetime, *, generated: bool, errors: _Errors
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    params["common_name"] = str(raw.get("common_name") or "")
    errors.add("params.common_name", check_common_name(params["common_name"]))
    sans, san_errors = clean_sans(raw.get("sans"))
    for key, messages in san_errors.items():
        errors.add(f"params.{key}", messages)
    params["sans"] = sans
    for name in SUBJECT_FIELDS:
        value = str(raw.get(name) or "").strip()
        if name in SUBJECT_LIMITS and len(value) > SUBJECT_LIMITS[name]:
            errors.add(f"params.{name}", f"At most {SUBJECT_LIMITS[name]} characters.")
        params[name] = value
    errors.add("params.country", check_country(params["country"]))
    params["country"] = params["country"].upper()
    if params["email"]:
        _, email_errors = clean_sans({"email": [params["email"]]})
        errors.add("params.email", email_errors.get("sans.email", []))
    validity, validity_errors = check_validity(raw.get("validity"), policy, now)
    errors.add("params.validity", validity_errors)
    params["validity"] = {"value": validity.value, "unit": validity.unit} if validity else raw.get("validity")
    key_type = str(raw.get("key_type") or (policy.default_key_type if policy else "rsa")).lower()
    try:
        key_size = int(raw.get("key_size") or (policy.default_key_size if policy else 2048))
    except (TypeError, ValueError):
        errors.add("params.key_size", "Bit length must be a number.")
        key_size = 0
    hash_name = str(raw.get("hash") or (policy.default_hash if policy else "sha256")).lower()
    if key_size:
        crypto = check_crypto(
            key_type=key_type, key_size=key_size, hash_name=hash_name, policy=policy, generated=generated
        )
        for key, messages in crypto.items():
            errors.add(f"params.{key}", messages)
    params.update(key_type=key_type, key_size=key_size, hash=hash_name)
    return params


def _check_extras(data: EnrollmentInput, errors: _Errors) -> None:
    if data.application_ip:
        _, ip_errors = clean_sans({"ip": [data.application_ip]})
        errors.add("application_ip", ip_errors.get("sans.ip", []))
    if len(data.tracking_id) > 128:
        errors.add("tracking_id", "Tracking ID can have at most 128 characters.")
    if data.tracking_id and not all(c.isalnum() or c in "-_.:/" for c in data.tracking_id):
        errors.add("tracking_id", "Tracking ID may contain letters, digits and - _ . : / only.")
    if len(data.vendor_certificate_id) > 200:
        errors.add("vendor_certificate_id", "Certificate ID can have at most 200 characters.")
    if len(data.device_name) > 255:
        errors.add("device_name", "Device name can have at most 255 characters.")
    if not isinstance(data.attributes, dict) or not all(
        isinstance(k, str) and k.strip() and len(k) <= 100 and isinstance(v, str) and len(v) <= 500
        for k, v in data.attributes.items()
    ):
        errors.add("attributes", "Attributes are name/value pairs of text (names up to 100, values up to 500).")
    for index, attachment in enumerate(data.attachments):
        prefix = f"attachments[{index}]"
        if not attachment.name.strip():
            errors.add(f"{prefix}.name", "Name is required.")
        if len(attachment.comment) > 2000:
            errors.add(f"{prefix}.comment", "Comments can have at most 2000 characters.")
        if not attachment.content:
            errors.add(f"{prefix}.file", "Choose a file to upload.")
        elif len(attachment.content) > MAX_ATTACHMENT_BYTES:
            errors.add(f"{prefix}.file", f"A file can be at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.")


def _summary(errors: dict[str, list[str]]) -> str:
    first = next(iter(errors.items()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"The enrollment is not valid. {first[0]}: {first[1][0]}{more}"


def enrollment_create(*, user: Any, data: EnrollmentInput, now: datetime | None = None) -> Enrollment:
    """Validate the request, make the key and CSR in the portal (key encrypted at rest) or take the uploaded CSR,
    and create the enrollment with its attachments and a draft `enroll` work order. Nothing is created when any
    rule fails (one ApplicationError naming every failing field)."""
    if not has_role(user, Role.REQUESTER):
        raise WorkOrderForbidden("Your role does not allow you to enroll certificates.")
    now = now or timezone.now()
    checked = _check(data, now)
    params = checked.params
    subject = {"common_name": params["common_name"], **{k: params[k] for k in SUBJECT_FIELDS}}
    key_row = None
    if checked.parsed_csr is not None:
        csr_pem = checked.parsed_csr.pem
    else:
        key = generate_private_key(params["key_type"], params["key_size"])
        csr_pem = build_csr(
            key=key,
            subject=subject,
            sans=params["sans"],
            hash_name=params["hash"],
            challenge_password=data.challenge_password,
        )
        key_row = PrivateKey(
            location=KeyLocation.PORTAL,
            key_type=params["key_type"],
            key_size=params["key_size"],
            pkcs8=cast(Any, private_key_pkcs8(key)),  # EncryptedBinaryField holds bytes; its stub says text
            public_key_sha256=public_key_fingerprint(key.public_key()),
        )
    with transaction.atomic():
        if key_row is not None:
            key_row.save()
        enrollment = Enrollment.objects.create(
            group=checked.group,
            ca_account=checked.account,
            certificate_type=data.certificate_type,
            connector_name=data.connector_name.strip(),
            description=data.description,
            renew_automatically=data.renew_automatically,
            renew_days_before=data.renew_days_before,
            regenerate_automatically=data.regenerate_automatically,
            regenerate_days_before=data.regenerate_days_before,
            reenroll_automatically=data.reenroll_automatically,
            reenroll_days_before=data.reenroll_days_before,
            csr_source=data.csr_source,
            csr_pem=csr_pem,
            private_key=key_row,
            params=params,
            challenge_password=data.challenge_password or None,
            attributes={k.strip(): v for k, v in data.attributes.items()},
            vendor_certificate_id=data.vendor_certificate_id.strip() or f"{params['common_name']}-{now:%Y%m%d%H%M%S}",
            device_name=data.device_name,
            application_ip=data.application_ip or None,
            tracking_id=data.tracking_id,
            requester=user,
        )
        for attachment in data.attachments:
            EnrollmentAttachment.objects.create(
                enrollment=enrollment,
                name=attachment.name.strip(),
                comment=attachment.comment,
                filename=attachment.filename[:255] or "attachment",
                content_type=attachment.content_type[:100] or "application/octet-stream",
                size=len(attachment.content),
                content=attachment.content,
                uploaded_by=user,
            )
        source = "key and CSR generated in the portal" if key_row else "uploaded CSR"
        audit_record(
            actor=user,
            action="enrollment.create",
            summary=(
                f"enrollment '{enrollment.connector_name}' for {params['common_name']} "
                f"({key_label(params['key_type'], params['key_size'])}, {source}) from {checked.account}"
            ),
            obj=enrollment,
            tracking_id=data.tracking_id or None,
        )
        workorder_create(
            action=WorkOrderAction.ENROLL,
            requester=user,
            summary=f"Enroll {params['common_name']} from {checked.account} ({enrollment.connector_name})",
            target=enrollment,
            group=checked.group,
            tracking_id=data.tracking_id,
        )
    return enrollment


def enrollment_work_order(enrollment: Enrollment) -> WorkOrder:
    """The enrollment's enroll work order (created with it)."""
    order = enrollment.work_orders.filter(action=WorkOrderAction.ENROLL).order_by("-pk").first()
    if order is None:
        raise LookupError(f"enrollment {enrollment.pk} has no work order")
    return order


def revocation_request(
    *, user: Any, certificate_id: int, reason: str = RevocationReason.UNSPECIFIED, comment: str = ""
) -> WorkOrder:
    """Ask for a certificate's revocation: a `revoke` work order, created and submitted for approval at once
    (nothing → draft → submitted, or → approved when the policy needs no approval)."""
    if not has_role(user, Role.REQUESTER):
        raise WorkOrderForbidden("Your role does not allow you to ask for revocations.")
    if reason not in RevocationReason.values:
        raise ApplicationError("Unknown revocation reason.", errors={"reason": ["Choose a listed reason."]})
    certificate = Certificate.objects.filter(pk=certificate_id).select_related("group").first()
    if certificate is None:
        raise ApplicationError("No such certificate.", status_code=404)
    enrollment = Enrollment.objects.filter(certificate=certificate).select_related("ca_account").order_by("-pk").first()
    if enrollment is None:
        raise ApplicationError(
            "Only certificates enrolled through a CA account of the portal can be revoked here.",
            errors={"certificate": ["This certificate was not issued through a CA account of the portal."]},
        )
    if certificate.revoked_at is not None:
        raise Conflict("This certificate is already revoked.")
    with transaction.atomic():
        if WorkOrder.objects.filter(
            certificate=certificate, action=WorkOrderAction.REVOKE, state__in=OPEN_STATES
        ).exists():
            raise Conflict("A revocation of this certificate is already under way.")
        order = workorder_create(
            action=WorkOrderAction.REVOKE,
            requester=user,
            summary=f"Revoke {certificate.common_name} (serial {certificate.serial}) at {enrollment.ca_account}",
            target=certificate,
            certificate=certificate,
            group=certificate.group or enrollment.group,
            params={"reason": reason, "enrollment": enrollment.pk},
            tracking_id=enrollment.tracking_id,
            comment=comment,
        )
        order = workorder_submit(work_order_id=order.pk, user=user, comment=comment)
    return order
