"""Forms of the Server inventory: the onboarding form (reference Tables 1-5, with their conditional fields), the
gateway form, and the CSV import. Forms only collect input; the services validate it (errors come back keyed by
field) so that the form, the API and the import share one set of rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from devices.choices import (
    CertSync,
    CredentialType,
    FolderCredentialMode,
    FolderCredentialType,
    GatewayLocation,
    GatewayMode,
    GatewayType,
    WinrmAuth,
    WinrmScheme,
)
from devices.models import Device, Gateway
from devices.services import DeviceInput, GatewayInput
from vaults.choices import VaultProvider
from vaults.models import Credential, PasswordVault

VAULT_PREFIX = "vault:"
CREDENTIAL_TYPE_CHOICES = [
    (CredentialType.MANUAL.value, "Manual entry"),
    (CredentialType.CREDENTIAL_LIST.value, "Credential List - Thumbprint"),
    (CredentialType.GATEWAY.value, "Gateway credential"),
    *[(f"{VAULT_PREFIX}{value}", label) for value, label in VaultProvider.choices],
]
FOLDER_CREDENTIAL_TYPE_CHOICES = [
    (FolderCredentialType.MANUAL.value, "Manual entry"),
    (FolderCredentialType.CREDENTIAL_LIST.value, "Credential List - Thumbprint"),
    (f"{VAULT_PREFIX}{VaultProvider.CYBERARK}", "Credential List - CyberArk"),
    (f"{VAULT_PREFIX}{VaultProvider.THYCOTIC}", "Credential List - Thycotic"),
    (f"{VAULT_PREFIX}{VaultProvider.HASHICORP}", "Credential List - HashiCorp"),
    (f"{VAULT_PREFIX}{VaultProvider.BEYONDTRUST}", "Credential List - BeyondTrust"),
]
VAULT_VALUES = ",".join(f"{VAULT_PREFIX}{v}" for v in VaultProvider.values)
KEEP_SECRET = "Leave empty to keep the current value."

# Service error keys whose form field has another name.
FORM_FIELD_FOR_ERROR = {
    "vault_provider": "credential_type",
    "folder_vault_provider": "folder_credential_type",
    "gateway": "gateway",
    "new_gateway_gateway_type": "new_gateway_type",
}


def _secret(label: str, *, editing: bool, required_note: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=KEEP_SECRET if editing else required_note,
    )


class DeviceForm(forms.Form):
    """Add or edit a Microsoft IIS server. Conditional fields carry `data-show-when` in the template."""

    use_required_attribute = False

    # Server details (Table 1)
    # Presence is checked by the service, so the form shows the same messages as the API and the import.
    name = forms.CharField(label="Server name", max_length=128, required=False)
    hostname = forms.CharField(
        label="Hostname",
        max_length=255,
        required=False,
        help_text="FQDN preferred. It must resolve from the gateway's network (for the integrated gateway: from the "
        "portal's device workers). An IP address works too.",
    )
    data_center = forms.CharField(label="Data center", max_length=100, required=False)
    cert_sync = forms.ChoiceField(
        label="Cert Sync",
        choices=CertSync.choices,
        initial=CertSync.MANAGED,
        widget=forms.RadioSelect,
        help_text="Managed: configuration fetch and discovery; certificates can be pushed and bound. Monitored: "
        "configuration fetch and discovery; certificates are read-only. Ignored: configuration fetch only, no "
        "certificate discovery.",
    )

    # Credentials (Table 2)
    credential_type = forms.ChoiceField(
        label="Credential type", choices=CREDENTIAL_TYPE_CHOICES, initial=CredentialType.MANUAL
    )
    username = forms.CharField(label="Username", max_length=256, required=False)
    password = forms.CharField(label="Password", required=False)  # replaced in __init__
    credential = forms.ModelChoiceField(
        label="Credentials list", queryset=Credential.objects.order_by("name"), required=False, empty_label="Choose…"
    )
    vault_path = forms.CharField(label="Vault path", max_length=500, required=False)
    vault_key = forms.CharField(label="Vault key", max_length=200, required=False)

    # Windows gateway (Table 3)
    gateway_mode = forms.ChoiceField(
        label="Windows Gateway Mode",
        choices=GatewayMode.choices,
        initial=GatewayMode.INTEGRATED,
        widget=forms.RadioSelect,
    )
    gateway_select = forms.ChoiceField(
        label="Select gateway",
        choices=[("new", "New"), ("existing", "Existing")],
        initial="existing",
        widget=forms.RadioSelect,
        required=False,  # hidden (and so not sent) when the mode is Integrated
    )
    gateway = forms.ModelChoiceField(
        label="Windows gateway",
        queryset=Gateway.objects.filter(mode=GatewayMode.EXTERNAL).order_by("name"),
        required=False,
        empty_label="Choose…",
    )
    new_gateway_name = forms.CharField(label="Windows gateway name", max_length=63, required=False)
    new_gateway_type = forms.ChoiceField(
        label="Gateway type",
        choices=GatewayType.choices,
        initial=GatewayType.POWERSHELL,
        required=False,
        help_text="Device operations run through PowerShell; a WMI gateway is stored but cannot validate devices yet.",
    )
    new_gateway_location = forms.ChoiceField(
        label="Gateway location", choices=GatewayLocation.choices, initial=GatewayLocation.REMOTE, required=False
    )
    new_gateway_fqdn = forms.CharField(label="FQDN", max_length=255, required=False)
    new_gateway_port = forms.IntegerField(label="Port", min_value=1, max_value=65535, required=False)
    new_gateway_url = forms.CharField(label="Windows gateway URL", max_length=500, required=False)
    new_gateway_client_certificate = forms.FileField(
        label="Client authentication certificate", required=False, help_text="The gateway's client certificate (PFX)."
    )
    new_gateway_client_certificate_password = forms.CharField(
        label="Certificate password", required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    new_gateway_username = forms.CharField(label="Gateway credential: username", max_length=256, required=False)
    new_gateway_password = forms.CharField(
        label="Gateway credential: password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
    )

    # WinRM endpoint
    winrm_scheme = forms.ChoiceField(label="WinRM scheme", choices=WinrmScheme.choices, initial=WinrmScheme.HTTPS)
    winrm_port = forms.IntegerField(
        label="WinRM port",
        min_value=1,
        max_value=65535,
        required=False,
        help_text="Empty: 5986 (HTTPS) or 5985 (HTTP).",
    )
    winrm_auth = forms.ChoiceField(label="Authentication", choices=WinrmAuth.choices, initial=WinrmAuth.NEGOTIATE)
    verify_tls = forms.BooleanField(label="Verify the HTTPS certificate", required=False, initial=True)
    ca_bundle = forms.CharField(
        label="Trusted CA bundle (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Optional: the CA certificates that issued the WinRM HTTPS certificate, if the system trust store "
        "does not hold them.",
    )
    allow_basic_over_http = forms.BooleanField(
        label="Allow Basic authentication without protection",
        required=False,
        help_text="Warning: Basic over plain HTTP (or HTTPS without verification) sends the password readable by "
        "anyone on the path. Tick only for a lab or an isolated network.",
    )

    # Certificate location (Table 4)
    file_system_enabled = forms.BooleanField(label="Centralized file system", required=False)
    file_system_path = forms.CharField(
        label="Certificate location",
        max_length=500,
        required=False,
        help_text="One local folder (C:\\Cert\\folder) or one shared path (\\\\server\\share\\folder), not both. "
        ".pfx and .p12 files there are discovered.",
    )
    password_vault = forms.ModelChoiceField(
        label="Password vault",
        queryset=PasswordVault.objects.order_by("name"),
        required=False,
        empty_label="None",
        help_text="Passwords tried on password-protected certificate files.",
    )

    # Folder credential (Table 5)
    folder_credential_mode = forms.ChoiceField(
        label="Folder credentials",
        choices=FolderCredentialMode.choices,
        initial=FolderCredentialMode.DEVICE,
        widget=forms.RadioSelect,
        required=False,
    )
    folder_credential_type = forms.ChoiceField(
        label="Credential type",
        choices=FOLDER_CREDENTIAL_TYPE_CHOICES,
        initial=FolderCredentialType.MANUAL,
        required=False,
    )
    folder_username = forms.CharField(label="Username", max_length=256, required=False)
    folder_password = forms.CharField(label="Password", required=False)  # replaced in __init__
    folder_credential = forms.ModelChoiceField(
        label="Credentials list", queryset=Credential.objects.order_by("name"), required=False, empty_label="Choose…"
    )
    folder_vault_path = forms.CharField(label="Vault path", max_length=500, required=False)
    folder_vault_key = forms.CharField(label="Vault key", max_length=200, required=False)

    def __init__(self, *args: Any, device: Device | None = None, **kwargs: Any) -> None:
        self.device = device
        if device is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(device)
        super().__init__(*args, **kwargs)
        editing = device is not None
        self.fields["password"] = _secret("Password", editing=editing)
        self.fields["folder_password"] = _secret("Password", editing=editing)

    @staticmethod
    def initial_for(device: Device) -> dict[str, Any]:
        credential_type = device.credential_type
        if credential_type == CredentialType.VAULT:
            credential_type = f"{VAULT_PREFIX}{device.vault_provider}"
        folder_type = device.folder_credential_type
        if folder_type == FolderCredentialType.VAULT:
            folder_type = f"{VAULT_PREFIX}{device.folder_vault_provider}"
        return {
            "name": device.name,
            "hostname": device.hostname,
            "data_center": device.data_center,
            "cert_sync": device.cert_sync,
            "credential_type": credential_type,
            "username": device.username,
            "credential": device.credential_id,
            "vault_path": device.vault_path,
            "vault_key": device.vault_key,
            "gateway_mode": device.gateway.mode,
            "gateway_select": "existing",
            "gateway": device.gateway_id if not device.gateway.is_integrated else None,
            "winrm_scheme": device.winrm_scheme,
            "winrm_port": device.winrm_port,
            "winrm_auth": device.winrm_auth,
            "verify_tls": device.verify_tls,
            "ca_bundle": device.ca_bundle,
            "allow_basic_over_http": device.allow_basic_over_http,
            "file_system_enabled": bool(device.file_system_path),
            "file_system_path": device.file_system_path,
            "password_vault": device.password_vault_id,
            "folder_credential_mode": device.folder_credential_mode,
            "folder_credential_type": folder_type,
            "folder_username": device.folder_username,
            "folder_credential": device.folder_credential_id,
            "folder_vault_path": device.folder_vault_path,
            "folder_vault_key": device.folder_vault_key,
        }

    def to_input(self) -> DeviceInput:
        """The cleaned form as the services' input (fields hidden by the conditions are ignored by the service)."""
        c = self.cleaned_data
        data = DeviceInput(
            name=c.get("name") or "",
            hostname=c.get("hostname") or "",
            data_center=c.get("data_center") or "",
            cert_sync=c.get("cert_sync") or CertSync.MANAGED,
            username=c.get("username") or "",
            password=c.get("password") or None,
            credential=c.get("credential"),
            vault_path=c.get("vault_path") or "",
            vault_key=c.get("vault_key") or "",
            gateway_mode=c.get("gateway_mode") or GatewayMode.INTEGRATED,
            gateway_select=c.get("gateway_select") or "existing",
            gateway=c.get("gateway"),
            winrm_scheme=c.get("winrm_scheme") or WinrmScheme.HTTPS,
            winrm_port=c.get("winrm_port"),
            winrm_auth=c.get("winrm_auth") or WinrmAuth.NEGOTIATE,
            verify_tls=bool(c.get("verify_tls")),
            ca_bundle=c.get("ca_bundle") or "",
            allow_basic_over_http=bool(c.get("allow_basic_over_http")),
            file_system_path=(c.get("file_system_path") or "") if c.get("file_system_enabled") else "",
            password_vault=c.get("password_vault"),
            folder_credential_mode=c.get("folder_credential_mode") or FolderCredentialMode.DEVICE,
            folder_username=c.get("folder_username") or "",
            folder_password=c.get("folder_password") or None,
            folder_credential=c.get("folder_credential"),
            folder_vault_path=c.get("folder_vault_path") or "",
            folder_vault_key=c.get("folder_vault_key") or "",
        )
        kind = c.get("credential_type") or CredentialType.MANUAL
        if kind.startswith(VAULT_PREFIX):
            data.credential_type, data.vault_provider = CredentialType.VAULT, kind.removeprefix(VAULT_PREFIX)
        else:
            data.credential_type = kind
        folder_kind = c.get("folder_credential_type") or FolderCredentialType.MANUAL
        if folder_kind.startswith(VAULT_PREFIX):
            data.folder_credential_type = FolderCredentialType.VAULT
            data.folder_vault_provider = folder_kind.removeprefix(VAULT_PREFIX)
        else:
            data.folder_credential_type = folder_kind
        if c.get("file_system_enabled") and not data.file_system_path:
            data.extra["file_system_missing"] = True
        if data.gateway_mode == GatewayMode.EXTERNAL and data.gateway_select == "new":
            upload = c.get("new_gateway_client_certificate")
            data.new_gateway = GatewayInput(
                name=c.get("new_gateway_name") or "",
                gateway_type=c.get("new_gateway_type") or GatewayType.POWERSHELL,
                location=c.get("new_gateway_location") or GatewayLocation.REMOTE,
                fqdn=c.get("new_gateway_fqdn") or "",
                port=c.get("new_gateway_port"),
                url=c.get("new_gateway_url") or "",
                client_certificate=upload.read() if upload else None,
                client_certificate_password=c.get("new_gateway_client_certificate_password") or None,
                username=c.get("new_gateway_username") or "",
                password=c.get("new_gateway_password") or None,
            )
        return data

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show a service's field errors next to the fields they belong to."""
        raw = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        for key, messages in raw.items():
            name = FORM_FIELD_FOR_ERROR.get(key, key)
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message)


class GatewayForm(forms.Form):
    """An external Windows gateway (reference Table 3) with its optional gateway credential."""

    use_required_attribute = False

    name = forms.CharField(
        label="Windows gateway name",
        max_length=63,
        required=False,
        help_text="Lower-case letters, digits and hyphens. Its worker runs `python manage.py run_gateway <name>`.",
    )
    gateway_type = forms.ChoiceField(label="Gateway type", choices=GatewayType.choices, initial=GatewayType.POWERSHELL)
    location = forms.ChoiceField(
        label="Gateway location",
        choices=GatewayLocation.choices,
        initial=GatewayLocation.REMOTE,
        widget=forms.RadioSelect,
    )
    fqdn = forms.CharField(label="FQDN", max_length=255, required=False)
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, required=False)
    url = forms.CharField(label="Windows gateway URL", max_length=500, required=False)
    client_certificate = forms.FileField(label="Client authentication certificate (PFX)", required=False)
    client_certificate_password = forms.CharField(
        label="Certificate password", required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    username = forms.CharField(
        label="Gateway credential: username",
        max_length=256,
        required=False,
        help_text="Used by devices whose credential type is Gateway credential.",
    )
    password = forms.CharField(
        label="Gateway credential: password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
    )

    def __init__(self, *args: Any, gateway: Gateway | None = None, **kwargs: Any) -> None:
        self.gateway = gateway
        if gateway is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": gateway.name,
                "gateway_type": gateway.gateway_type,
                "location": gateway.location,
                "fqdn": gateway.fqdn,
                "port": gateway.port,
                "url": gateway.url,
                "username": gateway.username,
            }
        super().__init__(*args, **kwargs)
        if gateway is not None:
            self.fields["password"].help_text = KEEP_SECRET
            self.fields["client_certificate"].help_text = "Leave empty to keep the current certificate."
        if gateway is not None and gateway.is_integrated:
            # The reference hides these for the integrated gateway: it is named, typed and located by the portal.
            for name in (
                "name",
                "gateway_type",
                "location",
                "fqdn",
                "port",
                "url",
                "client_certificate",
                "client_certificate_password",
            ):
                del self.fields[name]

    def to_input(self) -> GatewayInput:
        c = self.cleaned_data
        upload = c.get("client_certificate")
        return GatewayInput(
            name=c.get("name") or (self.gateway.name if self.gateway else ""),
            gateway_type=c.get("gateway_type") or GatewayType.POWERSHELL,
            location=c.get("location") or GatewayLocation.REMOTE,
            fqdn=c.get("fqdn") or "",
            port=c.get("port"),
            url=c.get("url") or "",
            client_certificate=upload.read() if upload else None,
            client_certificate_password=c.get("client_certificate_password") or None,
            username=c.get("username") or "",
            password=c.get("password") or None,
        )

    def add_service_errors(self, exc: ValidationError) -> None:
        raw = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        for key, messages in raw.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)


class ImportForm(forms.Form):
    use_required_attribute = False

    file = forms.FileField(label="CSV file", help_text="UTF-8, one server per row; download the template below.")
    gateway = forms.ModelChoiceField(
        label="Windows gateway",
        queryset=Gateway.objects.filter(mode=GatewayMode.EXTERNAL).order_by("name"),
        empty_label="Choose…",
        help_text="Import works through an external gateway only (not the integrated gateway). A row may name "
        "another external gateway in its gateway column.",
    )


class CommentForm(forms.Form):
    comment = forms.CharField(label="Comment", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))
