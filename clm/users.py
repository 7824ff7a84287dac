"""User services: create or update a user with roles (used by `clm_user` and the demo set-up)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from clm.audit import audit_record
from clm.choices import Role
from clm.roles import set_roles


@dataclass(frozen=True)
class UserResult:
    username: str
    created: bool
    generated_password: str | None


def user_upsert(*, username: str, roles: list[str], password: str | None = None, email: str = "") -> UserResult:
    """Create the user or update its roles (and password when given). Idempotent: the same call twice leaves the
    same user. A new user without a password gets a generated one, returned once."""
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}; known: {', '.join(r.value for r in Role)}")
    user_model = get_user_model()
    generated = None
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
        if email and user.email != email:
            user.email = email
        if password:
            user.set_password(password)
        elif created:
            generated = secrets.token_urlsafe(12)
            user.set_password(generated)
        admin = Role.ADMINISTRATOR in roles
        user.is_staff = admin
        user.is_superuser = admin
        user.save()
        set_roles(user, roles)
        audit_record(
            actor=None,
            action="user.created" if created else "user.updated",
            summary=f"user {username} {'created' if created else 'updated'} with roles {', '.join(roles) or 'none'}",
            obj=user,
        )
    return UserResult(username=username, created=created, generated_password=generated)
