"""Forms of the connector pages. They only shape input: every rule lives in connectors.services."""

from __future__ import annotations

from typing import Any

from django import forms

from connectors.choices import (
    BindType,
    Category,
    LocationType,
    PostScriptFailure,
    PushType,
    ScriptLocation,
    StoreChoice,
    Vendor,
)
from connectors.models import GeneralSettings
from connectors.rules import BindingChanges, ConnectorInput, NewBinding
from devices.models import Device

TRISTATE = [("", "Keep as it is"), ("on", "On"), ("off", "Off")]


class GeneralSettingsForm(forms.ModelForm):
    class Meta:
        model = GeneralSettings
        fields = ["pkcs12_encryption", "push_validation_interval_minutes", "push_validation_concurrency"]
        labels = {
            "pkcs12_encryption": "PKCS#12 encryption",
            "push_validation_interval_minutes": "Push validation interval (minutes)",
            "push_validation_concurrency": "Push validation concurrency",
        }
        help_texts = {
            "pkcs12_encryption": "Used for hosts on Windows Server 2019 (build 17763) and later. Windows Server "
            "2016 and older always receive TripleDES-SHA1: they cannot import AES-256 PFX files.",
        }


def _tristate(value: str) -> bool | None:
    return {"on": True, "off": False}.get(value)


class ConnectorForm(forms.Form):
    """General Information (Table 27), Certificate Details (Table 28) and Push Details (Table 29)."""

    category = forms.ChoiceField(choices=Category.choices, label="Category")
    vendor = forms.ChoiceField(choices=Vendor.choices, label="Vendor")
    name = forms.CharField(max_length=128, label="Connector Name")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    push_type = forms.ChoiceField(choices=PushType.choices, widget=forms.RadioSelect, label="Push Certificate Type")
    devices = forms.ModelMultipleChoiceField(
        queryset=Device.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        label="Server selection",
        required=False,
        help_text="The onboarded IIS servers to push to.",
    )
    http_sites = forms.BooleanField(required=False, label="HTTP sites", help_text="Offer only HTTP sites' profiles.")
    profiles = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Profiles")
    location_type = forms.ChoiceField(
        choices=LocationType.choices, widget=forms.RadioSelect, label="Location Type", required=False
    )
    store = forms.ChoiceField(
        choices=StoreChoice.choices, widget=forms.RadioSelect, label="Certificate Store", required=False
    )
    file_path = forms.CharField(required=False, max_length=500, label="File system path")
    file_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="PFX file password",
        help_text="The password the PFX files there use (e.g. the Centralized Certificate Store's). Leave empty to "
        "keep the current one.",
    )
    friendly_name = forms.CharField(max_length=255, label="Friendly name")
    push_chain = forms.BooleanField(required=False, label="Push Root and Intermediate Certificates")
    bind_type = forms.ChoiceField(choices=BindType.choices, widget=forms.RadioSelect, required=False, label="Bind type")
    new_site = forms.CharField(required=False, max_length=255, label="Site")
    new_ip = forms.CharField(required=False, max_length=64, initial="*", label="IP address")
    new_port = forms.IntegerField(required=False, min_value=1, max_value=65535, initial=443, label="Port")
    new_host = forms.CharField(required=False, max_length=255, label="Host name")
    new_sni = forms.BooleanField(required=False, label="Require Server Name Indication (SNI)")
    change_ip = forms.CharField(required=False, max_length=64, label="New IP address")
    change_port = forms.IntegerField(required=False, min_value=1, max_value=65535, label="New port")
    change_host = forms.CharField(required=False, max_length=255, label="New host name")
    change_sni = forms.ChoiceField(choices=TRISTATE, required=False, label="SNI")
    change_http2 = forms.ChoiceField(choices=TRISTATE, required=False, label="Disable HTTP/2")
    change_ocsp = forms.ChoiceField(choices=TRISTATE, required=False, label="Disable OCSP stapling")
    change_tls13 = forms.ChoiceField(choices=TRISTATE, required=False, label="Disable TLS 1.3 over TCP")
    change_legacy_tls = forms.ChoiceField(choices=TRISTATE, required=False, label="Disable legacy TLS")
    script_location = forms.ChoiceField(
        choices=ScriptLocation.choices, widget=forms.RadioSelect, label="Script Location"
    )
    pre_script_name = forms.CharField(required=False, max_length=255, label="Pre - Push Script File Name")
    pre_script_path = forms.CharField(required=False, max_length=500, label="Pre - Push Script File Path")
    pre_script_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Pre-push script")
    post_script_name = forms.CharField(required=False, max_length=255, label="Post - Push Script File Name")
    post_script_path = forms.CharField(required=False, max_length=500, label="Post - Push Script File Path")
    post_script_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Post-push script"
    )
    post_script_failure = forms.ChoiceField(
        choices=PostScriptFailure.choices,
        widget=forms.RadioSelect,
        label="When the post-push script fails",
        required=False,
    )
    overwrite = forms.BooleanField(required=False, label="Overwrite")
    push_automatically = forms.BooleanField(required=False, label="Push Automatically")
    secure_push = forms.BooleanField(required=False, initial=True, label="Secure Push")
    all_or_nothing = forms.BooleanField(required=False, label="All or nothing")
    remove_previous = forms.BooleanField(required=False, label="Remove the previous certificate when unused")

    def __init__(self, *args: Any, profile_choices: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        profiles = self.fields["profiles"]
        assert isinstance(profiles, forms.MultipleChoiceField)
        profiles.choices = profile_choices or []

    def to_input(self) -> ConnectorInput:
        d = self.cleaned_data
        profiles: list[str | tuple[int, str]] = []
        for value in d.get("profiles") or []:
            device_id, _, name = str(value).partition("|")
            profiles.append((int(device_id), name) if device_id.isdigit() else name)
        data = ConnectorInput(
            name=d["name"],
            description=d.get("description", ""),
            push_type=d["push_type"],
            http_sites=d.get("http_sites", False),
            devices=[device.pk for device in d.get("devices") or []],
            location_type=d.get("location_type") or LocationType.CERTIFICATE_STORE,
            store=d.get("store") or StoreChoice.PERSONAL,
            file_path=d.get("file_path", ""),
            file_password=d.get("file_password") or None,
            friendly_name=d["friendly_name"],
            push_chain=d.get("push_chain", False),
            bind_type=d.get("bind_type") or "",
            profiles=profiles,
            script_location=d["script_location"],
            pre_script_name=d.get("pre_script_name", ""),
            pre_script_path=d.get("pre_script_path", ""),
            pre_script_text=d.get("pre_script_text", ""),
            post_script_name=d.get("post_script_name", ""),
            post_script_path=d.get("post_script_path", ""),
            post_script_text=d.get("post_script_text", ""),
            post_script_failure=d.get("post_script_failure") or PostScriptFailure.ROLLBACK,
            overwrite=d.get("overwrite", False),
            push_automatically=d.get("push_automatically", False),
            secure_push=d.get("secure_push", False),
            all_or_nothing=d.get("all_or_nothing", False),
            remove_previous=d.get("remove_previous", False),
        )
        if data.bind_type == BindType.CREATE_BINDING and d.get("new_site"):
            data.new_bindings = [
                NewBinding(
                    site=d["new_site"],
                    ip=d.get("new_ip") or "*",
                    port=d.get("new_port") or 443,
                    host=d.get("new_host", ""),
                    sni=d.get("new_sni", False),
                )
            ]
        if data.bind_type == BindType.UPDATE_BINDING:
            data.changes = BindingChanges(
                ip=d.get("change_ip", ""),
                port=d.get("change_port"),
                host=d.get("change_host", ""),
                sni=_tristate(d.get("change_sni", "")),
                disable_http2=_tristate(d.get("change_http2", "")),
                disable_ocsp_stapling=_tristate(d.get("change_ocsp", "")),
                disable_tls13=_tristate(d.get("change_tls13", "")),
                disable_legacy_tls=_tristate(d.get("change_legacy_tls", "")),
            )
        return data


# Service error keys -> the form field that shows them.
ERROR_FIELDS = {"location": "location_type", "bindings": "new_site", "changes": "change_host", "certificate": None}


def initial_from_input(data: ConnectorInput) -> dict[str, Any]:
    """The form's initial values for an existing connector (secrets excepted)."""
    initial: dict[str, Any] = {
        "category": Category.SERVER,
        "vendor": Vendor.IIS,
        **{
            name: getattr(data, name)
            for name in ConnectorInput.__dataclass_fields__
            if name in ConnectorForm.base_fields
        },
        "devices": data.devices,
        "profiles": [f"{p[0]}|{p[1]}" if isinstance(p, tuple) else p for p in data.profiles],
    }
    initial.pop("file_password", None)
    if data.new_bindings:
        nb = data.new_bindings[0]
        initial.update(new_site=nb.site, new_ip=nb.ip, new_port=nb.port, new_host=nb.host, new_sni=nb.sni)
    changes = data.changes
    initial.update(change_ip=changes.ip, change_port=changes.port, change_host=changes.host)
    for field, value in (
        ("change_sni", changes.sni),
        ("change_http2", changes.disable_http2),
        ("change_ocsp", changes.disable_ocsp_stapling),
        ("change_tls13", changes.disable_tls13),
        ("change_legacy_tls", changes.disable_legacy_tls),
    ):
        initial[field] = "" if value is None else ("on" if value else "off")
    return initial


class CommentForm(forms.Form):
    """The confirmation dialog of Push to Device and Rollback."""

    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
