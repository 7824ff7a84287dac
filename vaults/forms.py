"""Forms of the credential list and password vaults (secrets never pre-filled)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

KEEP = "Leave empty to keep the current value."


class _ServiceErrors:
    def add_service_errors(self, exc: ValidationError) -> None:
        raw = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        for key, messages in raw.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)  # type: ignore[attr-defined]


class CredentialForm(_ServiceErrors, forms.Form):
    use_required_attribute = False

    # Presence is checked by the service, so the form shows the same messages as the API.
    name = forms.CharField(label="Name", max_length=100, required=False)
    description = forms.CharField(label="Description", max_length=500, required=False)
    username = forms.CharField(
        label="Username", max_length=256, required=False, help_text="DOMAIN\\user, user@domain or user."
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["password"].help_text = KEEP


class PasswordVaultForm(_ServiceErrors, forms.Form):
    use_required_attribute = False

    name = forms.CharField(label="Name", max_length=100, required=False)
    description = forms.CharField(label="Description", max_length=500, required=False)
    passwords = forms.CharField(
        label="Passwords",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One password per line, tried in this order on protected .pfx/.p12 files.",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["passwords"].help_text += " " + "Leave empty to keep the current list; text here replaces it."

    def password_list(self) -> list[str]:
        return [line for line in (self.cleaned_data.get("passwords") or "").splitlines() if line]
