"""Roles are Django groups (created by a data migration). Administrators may do everything a role allows."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

from clm.choices import Role

ALL_ROLES = tuple(Role)


def user_roles(user: AbstractBaseUser | AnonymousUser | None) -> set[str]:
    """The role names a user holds (a superuser counts as administrator)."""
    if user is None or not user.is_authenticated:
        return set()
    cached: set[str] | None = getattr(user, "_clm_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        if getattr(user, "is_superuser", False):
            cached.add(Role.ADMINISTRATOR)
        user._clm_roles = cached  # type: ignore[attr-defined]
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """True when the user holds one of `roles`, or is an administrator."""
    held = user_roles(user)
    return Role.ADMINISTRATOR in held or bool(held.intersection(roles))


def set_roles(user: Any, roles: list[str]) -> None:
    """Replace the user's roles with `roles` (each must be a known role)."""
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    # get_or_create: a role's group may be missing (a flushed test database, a group deleted by hand); silently
    # dropping the role would leave the user without it.
    user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    if hasattr(user, "_clm_roles"):
        del user._clm_roles
