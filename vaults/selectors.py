"""Queries of the credential list and password vaults used by more than one caller."""

from __future__ import annotations

from django.db.models import QuerySet

from vaults.models import Credential, PasswordVault


def credential_list() -> QuerySet[Credential]:
    return Credential.objects.order_by("name")


def password_vault_list() -> QuerySet[PasswordVault]:
    return PasswordVault.objects.order_by("name")


def password_vault_passwords(*, vault_id: int | None) -> list[str]:
    """The passwords to try on protected PFX/P12 files of a location, in order (empty when there is no vault)."""
    if vault_id is None:
        return []
    vault = PasswordVault.objects.filter(pk=vault_id).first()
    return vault.password_list() if vault is not None else []
