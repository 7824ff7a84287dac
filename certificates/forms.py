"""Forms of the inventory pages: groups, policies, saved filters, moving certificates. They only shape input; the
services check the rules and their field errors are put back on the form."""

from __future__ import annotations

from typing import Any

from django import forms

from certificates.choices import INVENTORY_STATUSES, HashFunction, KeyType
from certificates.models import CertificateGroup, Policy
from certificates.services import EC_CURVES, RSA_SIZES
from clm.api.errors import ApplicationError


def apply_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Put a service's field errors on the form (unknown fields go to the top of the form)."""
    for name, messages in exc.errors.items():
        field = name.split(".")[-1]
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
    if not exc.errors:
        form.add_error(None, exc.message)


class GroupForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    policy = forms.ModelChoiceField(queryset=Policy.objects.all(), required=False, empty_label="No policy")
    renew_automatically = forms.BooleanField(required=False, label="Renew Automatically")
    regenerate_automatically = forms.BooleanField(required=False, label="Regenerate Automatically")
    push_automatically = forms.BooleanField(required=False, label="Push Certificate Automatically")

    @classmethod
    def initial_from(cls, group: CertificateGroup) -> dict[str, Any]:
        return {
            "name": group.name,
            "description": group.description,
            "policy": group.policy_id,
            "renew_automatically": group.renew_automatically,
            "regenerate_automatically": group.regenerate_automatically,
            "push_automatically": group.push_automatically,
        }


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    allowed_key_types = forms.MultipleChoiceField(
        choices=[(KeyType.RSA, "RSA"), (KeyType.EC, "EC")],
        widget=forms.CheckboxSelectMultiple,
        label="Allowed key types",
    )
    allowed_rsa_sizes = forms.TypedMultipleChoiceField(
        choices=[(s, f"{s} bits") for s in RSA_SIZES],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Allowed RSA key sizes",
    )
    allowed_ec_curves = forms.MultipleChoiceField(
        choices=[(c, c) for c in EC_CURVES], required=False, widget=forms.CheckboxSelectMultiple, label="Allowed curves"
    )
    allowed_hashes = forms.MultipleChoiceField(
        choices=HashFunction.choices, widget=forms.CheckboxSelectMultiple, label="Allowed hash functions"
    )
    max_validity_days = forms.IntegerField(min_value=1, max_value=36500, label="Maximum validity (days)")
    default_key_type = forms.ChoiceField(choices=[(KeyType.RSA, "RSA"), (KeyType.EC, "EC")], label="Default key type")
    default_key_size = forms.IntegerField(min_value=256, label="Default bit length")
    default_hash = forms.ChoiceField(choices=HashFunction.choices, label="Default hash function")
    organization = forms.CharField(required=False, max_length=64, label="Organization (O)")
    organizational_unit = forms.CharField(required=False, max_length=64, label="Organization Unit (OU)")
    locality = forms.CharField(required=False, max_length=128, label="Locality (L)")
    state = forms.CharField(required=False, max_length=128, label="State (ST)")
    country = forms.CharField(required=False, max_length=2, label="Country (C)", help_text="Two letters, e.g. US.")
    approval_levels = forms.TypedChoiceField(
        choices=[(0, "No approval"), (1, "One level"), (2, "Two levels")], coerce=int, label="Approval levels"
    )

    @classmethod
    def initial_from(cls, policy: Policy) -> dict[str, Any]:
        return {name: getattr(policy, name) for name in cls.base_fields}


class SavedFilterForm(forms.Form):
    name = forms.CharField(max_length=100, label="Save this filter as")
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class MoveForm(forms.Form):
    status = forms.ChoiceField(choices=[(s.value, s.label) for s in INVENTORY_STATUSES], label="Status")
    group = forms.ModelChoiceField(queryset=CertificateGroup.objects.all(), required=False, empty_label="Default")
