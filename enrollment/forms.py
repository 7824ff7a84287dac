"""The Enroll Server / Client Certificate form (reference Tables 11, 15-18).

The form only types the input; the rules (Table 15, the group's policy) are checked by
enrollment.services.enrollment_create, whose field errors `apply_service_errors` puts next to the fields here.
"""

from __future__ import annotations

import base64
from typing import Any

from django import forms

from certificates.choices import HashFunction, KeyType
from certificates.models import CertificateGroup, Policy
from enrollment.ca import ca_module_get, ca_modules
from enrollment.choices import (
    EC_SIZE_TO_CURVE,
    GENERATED_EC_SIZES,
    GENERATED_RSA_SIZES,
    CsrSource,
    RevocationReason,
    ValidityUnit,
)
from enrollment.models import CAAccount
from enrollment.services import AttachmentInput, EnrollmentInput

ATTACHMENT_ROWS = 3
ATTRIBUTE_ROWS = 3
POLICY_FIELDS = ("organization", "organizational_unit", "locality", "state", "country", "hash", "key_type")
SERVICE_FIELD_MAP = {
    "params.common_name": "common_name",
    "params.sans": "san_dns",
    "params.sans.dns": "san_dns",
    "params.sans.ip": "san_ip",
    "params.sans.email": "san_email",
    "params.sans.uri": "san_uri",
    "params.organization": "organization",
    "params.organizational_unit": "organizational_unit",
    "params.locality": "locality",
    "params.state": "state",
    "params.country": "country",
    "params.email": "email",
    "params.validity": "validity_value",
    "params.hash": "hash",
    "params.key_type": "key_type",
}


def policy_initial(group: CertificateGroup | None) -> dict[str, Any]:
    """The CSR defaults a group's policy pre-fills (O, OU, L, ST, C, hash, key type and size)."""
    policy = group.policy if group is not None else None
    if policy is None:
        return {"hash": "sha256", "key_type": "rsa", "rsa_key_size": 2048, "ec_key_size": 256}
    return {
        "organization": policy.organization,
        "organizational_unit": policy.organizational_unit,
        "locality": policy.locality,
        "state": policy.state,
        "country": policy.country,
        "hash": policy.default_hash,
        "key_type": policy.default_key_type,
        "rsa_key_size": policy.default_key_size if policy.default_key_type == KeyType.RSA else 2048,
        "ec_key_size": policy.default_key_size if policy.default_key_type == KeyType.EC else 256,
        "validity_value": min(90, policy.max_validity_days),
        "validity_unit": ValidityUnit.DAYS,
    }


class EnrollmentForm(forms.Form):
    # General information
    group = forms.ModelChoiceField(queryset=CertificateGroup.objects.all(), label="Assign Group", empty_label=None)
    # CA details (Table 11)
    certificate_authority = forms.ChoiceField(label="Certificate Authority")
    ca_account = forms.ModelChoiceField(queryset=CAAccount.objects.none(), label="CA Account", empty_label=None)
    certificate_type = forms.ChoiceField(label="Certificate Type")
    connector_name = forms.CharField(max_length=100, label="Connector Name", help_text="Shown in the holistic view.")
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="Up to 2,000 characters."
    )
    renew_automatically = forms.BooleanField(required=False, label="Renew Automatically")
    renew_days_before = forms.IntegerField(
        min_value=1, max_value=120, initial=30, label="Start Renewing (days before expiry)"
    )
    regenerate_automatically = forms.BooleanField(required=False, label="Regenerate Automatically")
    regenerate_days_before = forms.IntegerField(
        required=False, min_value=1, max_value=120, initial=30, label="Start Regenerating (days before expiry)"
    )
    reenroll_automatically = forms.BooleanField(required=False, label="Re-enroll Automatically")
    reenroll_days_before = forms.IntegerField(
        required=False, min_value=1, max_value=120, initial=30, label="Start Re-enrolling (days before expiry)"
    )
    csr_source = forms.ChoiceField(
        choices=CsrSource.choices, initial=CsrSource.APP, widget=forms.RadioSelect, label="CSR Generation"
    )
    csr = forms.CharField(
        required=False,
        label="Please paste your CSR",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        strip=False,
    )
    csr_file = forms.FileField(required=False, label="Or choose a CSR file (PEM or DER)")
    # CSR parameters (Table 15)
    common_name = forms.CharField(required=False, label="Common Name", help_text="Up to 64 characters.")
    san_dns = forms.CharField(required=False, label="DNS", help_text="Separate several values with commas.")
    san_ip = forms.CharField(required=False, label="IP address", help_text="Separate several values with commas.")
    san_email = forms.CharField(required=False, label="E-mail", help_text="Separate several values with commas.")
    san_uri = forms.CharField(required=False, label="URI", help_text="Separate several values with commas.")
    organization = forms.CharField(required=False, label="Organization")
    organizational_unit = forms.CharField(required=False, label="Organization Unit")
    locality = forms.CharField(required=False, label="Locality")
    state = forms.CharField(required=False, label="State")
    country = forms.CharField(required=False, label="Country", help_text="2-letter country code, e.g. US.")
    email = forms.CharField(required=False, label="Email Address")
    validity_value = forms.IntegerField(required=False, min_value=1, label="Validity", initial=90)
    validity_unit = forms.ChoiceField(choices=ValidityUnit.choices, initial=ValidityUnit.DAYS, label="Unit")
    challenge_password = forms.CharField(
        required=False,
        strip=False,
        label="Challenge Password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Upper- and lower-case letters, a digit and a special character. Re-enter it after an error.",
    )
    challenge_password_confirm = forms.CharField(
        required=False,
        strip=False,
        label="Confirm Password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    hash = forms.ChoiceField(label="Hash Function")
    key_type = forms.ChoiceField(label="Key Type")
    rsa_key_size = forms.TypedChoiceField(coerce=int, label="Bit Length", required=False)
    ec_key_size = forms.TypedChoiceField(coerce=int, label="Bit Length (curve)", required=False)
    # Vendor-specific (Table 18) and generic fields (Table 17)
    vendor_certificate_id = forms.CharField(
        required=False, max_length=200, label="Certificate ID", help_text="The common name unless you change it."
    )
    device_name = forms.CharField(required=False, max_length=255, label="Device Name")
    application_ip = forms.CharField(required=False, label="Application IP Address")
    tracking_id = forms.CharField(
        required=False, max_length=128, label="Tracking ID", help_text="Included in the audit events of this request."
    )

    def __init__(self, *args: Any, group: CertificateGroup | None = None, kind: str = "server", **kwargs: Any):
        super().__init__(*args, **kwargs)
        policy: Policy | None = group.policy if group is not None else None
        accounts = CAAccount.objects.filter(enabled=True)
        ca_field: Any = self.fields["ca_account"]
        ca_field.queryset = accounts
        modules = ca_modules()
        names = sorted({a.ca for a in accounts if a.ca in modules})
        self.fields["certificate_authority"].choices = [(n, modules[n].label) for n in names]  # type: ignore[attr-defined]
        templates: dict[str, str] = {}
        for account in accounts:
            for template in ca_module_get(account.ca).templates(account):
                templates.setdefault(template.name, template.label)
        self.fields["certificate_type"].choices = list(templates.items())  # type: ignore[attr-defined]
        self.fields["certificate_type"].initial = kind if kind in templates else next(iter(templates), "")
        hashes = list(policy.allowed_hashes) if policy else ["sha256", "sha384", "sha512"]
        labels = dict(HashFunction.choices)
        self.fields["hash"].choices = [(h, labels.get(h, h)) for h in hashes]  # type: ignore[attr-defined]
        key_types = [t for t in (policy.allowed_key_types if policy else ["rsa", "ec"]) if t in ("rsa", "ec")]
        self.fields["key_type"].choices = [(t, dict(KeyType.choices)[t]) for t in key_types]  # type: ignore[attr-defined]
        rsa_sizes = [
            s for s in (policy.allowed_rsa_sizes if policy else GENERATED_RSA_SIZES) if s in GENERATED_RSA_SIZES
        ]
        self.fields["rsa_key_size"].choices = [(s, f"{s}") for s in rsa_sizes]  # type: ignore[attr-defined]
        curves = policy.allowed_ec_curves if policy else ["P-256", "P-384"]
        ec_sizes = [s for s in GENERATED_EC_SIZES if EC_SIZE_TO_CURVE[s] in curves]
        self.fields["ec_key_size"].choices = [(s, f"{s} ({EC_SIZE_TO_CURVE[s]})") for s in ec_sizes]  # type: ignore[attr-defined]
        self.max_validity_days = policy.max_validity_days if policy else None

    def csr_text(self) -> str | None:
        upload = self.cleaned_data.get("csr_file")
        if upload is not None:
            content = upload.read(256 * 1024)
            if b"-----BEGIN" in content:
                return content.decode("ascii", "ignore")
            return base64.b64encode(content).decode("ascii")
        return self.cleaned_data.get("csr") or None

    def params(self) -> dict[str, Any]:
        data = self.cleaned_data
        key_type = data.get("key_type") or "rsa"
        return {
            "common_name": data.get("common_name", ""),
            "sans": {t: data.get(f"san_{t}", "") for t in ("dns", "ip", "email", "uri")},
            **{name: data.get(name, "") for name in POLICY_FIELDS[:5]},
            "email": data.get("email", ""),
            "key_type": key_type,
            "key_size": data.get("ec_key_size" if key_type == KeyType.EC else "rsa_key_size"),
            "hash": data.get("hash"),
            "validity": {"value": data.get("validity_value"), "unit": data.get("validity_unit")},
        }

    def to_input(self, attachments: list[AttachmentInput], attributes: dict[str, str]) -> EnrollmentInput:
        data = self.cleaned_data
        source = data["csr_source"]
        params = self.params()
        if source == CsrSource.UPLOAD:
            # With an uploaded CSR the key is in the CSR; the other fields override what it says when filled in.
            params.pop("key_type")
            params.pop("key_size")
        return EnrollmentInput(
            group=data["group"].pk,
            ca_account=data["ca_account"].pk,
            certificate_type=data["certificate_type"],
            connector_name=data["connector_name"],
            description=data["description"],
            csr_source=source,
            csr=self.csr_text() if source == CsrSource.UPLOAD else None,
            params=params,
            renew_automatically=data["renew_automatically"],
            renew_days_before=data["renew_days_before"] or 30,
            regenerate_automatically=data["regenerate_automatically"],
            regenerate_days_before=data["regenerate_days_before"] or 30,
            reenroll_automatically=data["reenroll_automatically"],
            reenroll_days_before=data["reenroll_days_before"] or 30,
            challenge_password=data["challenge_password"],
            challenge_password_confirm=data["challenge_password_confirm"],
            attributes=attributes,
            vendor_certificate_id=data["vendor_certificate_id"],
            device_name=data["device_name"],
            application_ip=data["application_ip"] or None,
            tracking_id=data["tracking_id"],
            attachments=attachments,
        )


class AttachmentForm(forms.Form):
    """One row of the Attachments section (Table 16): all three fields, or none."""

    name = forms.CharField(required=False, max_length=100, label="Name")
    comment = forms.CharField(required=False, max_length=2000, label="Comments")
    file = forms.FileField(required=False, label="Upload File")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("file") is not None and not (data.get("name") or "").strip():
            self.add_error("name", "Give the attachment a name.")
        if data.get("file") is None and ((data.get("name") or "").strip() or data.get("comment")):
            self.add_error("file", "Choose the file to attach (files must be chosen again after an error).")
        return data

    def to_input(self) -> AttachmentInput | None:
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        return AttachmentInput(
            name=self.cleaned_data["name"],
            comment=self.cleaned_data["comment"],
            filename=upload.name or "attachment",
            content_type=getattr(upload, "content_type", "") or "application/octet-stream",
            content=upload.read(),
        )


class AttributeForm(forms.Form):
    """One custom certificate attribute (a name and a value, e.g. cost center)."""

    name = forms.CharField(required=False, max_length=100, label="Attribute")
    value = forms.CharField(required=False, max_length=500, label="Value")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("value") and not (data.get("name") or "").strip():
            self.add_error("name", "Name the attribute.")
        return data


def attachment_forms(data: Any = None, files: Any = None) -> list[AttachmentForm]:
    return [AttachmentForm(data, files, prefix=f"att{i}") for i in range(ATTACHMENT_ROWS)]


def attribute_forms(data: Any = None) -> list[AttributeForm]:
    return [AttributeForm(data, prefix=f"attr{i}") for i in range(ATTRIBUTE_ROWS)]


def apply_service_errors(
    form: EnrollmentForm, attachments: list[AttachmentForm], errors: dict[str, list[str]], fallback: str
) -> None:
    """Put the service's field errors (API names) next to the form's fields; the rest at the top."""
    key_type = form.cleaned_data.get("key_type")
    placed = False
    for name, messages in errors.items():
        target: forms.Form = form
        field: str | None = SERVICE_FIELD_MAP.get(name, name)
        if name == "params.key_size":
            field = "ec_key_size" if key_type == KeyType.EC else "rsa_key_size"
        elif name.startswith("attachments["):
            index = int(name[len("attachments[") : name.index("]")])
            target, field = attachments[index], name.rsplit(".", 1)[-1]
        if field not in target.fields:
            field = None
        for message in messages:
            target.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, fallback)


class RevokeForm(forms.Form):
    reason = forms.ChoiceField(choices=RevocationReason.choices, initial=RevocationReason.UNSPECIFIED, label="Reason")
    comment = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), label="Comments"
    )
