"""State changes of the credential list and the password vaults. Secrets are write-only: callers pass a new value
or None ("keep the current one"); nothing here returns or logs a secret."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from clm.api.errors import Conflict
from clm.audit import audit_record
from vaults.choices import VaultProvider
from vaults.models import Credential, PasswordVault

VAULT_NOT_AVAILABLE = (
    "{provider} is an external vault: the portal stores the reference (vault, path, key), but fetching secrets "
    "from external vaults is not available yet. Choose Manual entry, Credential List or Gateway credential."
)


def vault_not_available_message(provider: str) -> str:
    """The refusal given when a device or folder credential chooses an external vault (until vaults land)."""
    label = VaultProvider(provider).label if provider in VaultProvider.values else "The chosen vault"
    return VAULT_NOT_AVAILABLE.format(provider=label)


def _check_name(model: type[Credential] | type[PasswordVault], name: str, instance: Any | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Enter a name."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    else:
        clash = model.objects.filter(name__iexact=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = [f"A {model._meta.verbose_name} named {name!r} already exists."]
    return errors


@transaction.atomic
def credential_create(
    *, name: str, username: str, password: str, description: str = "", user: Any = None
) -> Credential:
    """Add a named credential to the credential list (nothing -> stored, password encrypted)."""
    name, username = name.strip(), username.strip()
    errors = _check_name(Credential, name, None)
    if not username:
        errors["username"] = ["Enter the user name."]
    if not password:
        errors["password"] = ["Enter the password."]
    if errors:
        raise ValidationError(errors)
    credential = Credential.objects.create(
        name=name,
        username=username,
        password=password,
        description=description.strip()[:500],
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    audit_record(actor=user, action="credential.create", summary=f"Added credential {name!r}", obj=credential)
    return credential


@transaction.atomic
def credential_update(
    *,
    credential: Credential,
    name: str,
    username: str,
    password: str | None = None,
    description: str = "",
    user: Any = None,
) -> Credential:
    """Change a credential; an empty `password` keeps the current one (stored -> stored)."""
    name, username = name.strip(), username.strip()
    errors = _check_name(Credential, name, credential)
    if not username:
        errors["username"] = ["Enter the user name."]
    if errors:
        raise ValidationError(errors)
    credential.name, credential.username, credential.description = name, username, description.strip()[:500]
    fields = ["name", "username", "description", "updated_at"]
    if password:
        credential.password = password
        fields.append("password")
    credential.save(update_fields=fields)
    changed = " (password changed)" if password else ""
    audit_record(
        actor=user, action="credential.update", summary=f"Changed credential {name!r}{changed}", obj=credential
    )
    return credential


def credential_users(*, credential: Credential) -> list[str]:
    """Names of the devices that use this credential (as device or folder credential)."""
    from devices.models import Device

    return list(
        Device.objects.filter(Q(credential=credential) | Q(folder_credential=credential))
        .order_by("name")
        .values_list("name", flat=True)
    )


@transaction.atomic
def credential_delete(*, credential: Credential, user: Any = None) -> None:
    """Remove a credential from the list; refused (409) while a device uses it (stored -> deleted)."""
    users = sorted(credential_users(credential=credential))
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        raise Conflict(
            f"Credential {credential.name!r} is in use by {len(users)} device(s): {shown}. Change those devices first.",
        )
    name = credential.name
    audit_record(actor=user, action="credential.delete", summary=f"Deleted credential {name!r}", obj=credential)
    credential.delete()


def _clean_passwords(passwords: list[str]) -> list[str]:
    return [p for p in (p.rstrip("\r\n") for p in passwords) if p]


@transaction.atomic
def password_vault_create(*, name: str, passwords: list[str], description: str = "", user: Any = None) -> PasswordVault:
    """Add a password vault (nothing -> stored; the passwords encrypted as one list)."""
    name = name.strip()
    errors = _check_name(PasswordVault, name, None)
    values = _clean_passwords(passwords)
    if not values:
        errors["passwords"] = ["Enter at least one password (one per line)."]
    if errors:
        raise ValidationError(errors)
    vault = PasswordVault.objects.create(name=name, description=description.strip()[:500], passwords=json.dumps(values))
    audit_record(
        actor=user, action="password_vault.create", summary=f"Added password vault {name!r} ({len(values)})", obj=vault
    )
    return vault


@transaction.atomic
def password_vault_update(
    *, vault: PasswordVault, name: str, passwords: list[str] | None = None, description: str = "", user: Any = None
) -> PasswordVault:
    """Rename or re-describe a vault; a non-empty `passwords` replaces its list (stored -> stored)."""
    name = name.strip()
    errors = _check_name(PasswordVault, name, vault)
    if errors:
        raise ValidationError(errors)
    vault.name, vault.description = name, description.strip()[:500]
    fields = ["name", "description", "updated_at"]
    values = _clean_passwords(passwords or [])
    if values:
        vault.passwords = json.dumps(values)
        fields.append("passwords")
    vault.save(update_fields=fields)
    audit_record(actor=user, action="password_vault.update", summary=f"Changed password vault {name!r}", obj=vault)
    return vault


@transaction.atomic
def password_vault_delete(*, vault: PasswordVault, user: Any = None) -> None:
    """Remove a password vault; refused (409) while a device's file system location uses it."""
    users = sorted(vault.devices.values_list("name", flat=True))
    if users:
        raise Conflict(f"Password vault {vault.name!r} is in use by {len(users)} device(s): {', '.join(users[:5])}.")
    audit_record(
        actor=user, action="password_vault.delete", summary=f"Deleted password vault {vault.name!r}", obj=vault
    )
    vault.delete()
