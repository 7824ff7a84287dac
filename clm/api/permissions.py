"""DRF permission classes per role, reused by every app's API.

`role_permission(write=[...], read=[...])` builds a class: safe methods need one of `read` (administrators and
auditors are always readers), unsafe methods need one of `write` (administrators always may).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from clm.choices import Role
from clm.roles import has_role


def role_permission(*, write: tuple[str, ...] = (), read: tuple[str, ...] | None = None) -> type[BasePermission]:
    readers = tuple(read) if read is not None else tuple(Role)
    readers = (*readers, Role.AUDITOR)

    class RolePermission(BasePermission):
        message = "Your role does not allow this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            if not (request.user and request.user.is_authenticated):
                return False
            if request.method in SAFE_METHODS:
                return has_role(request.user, *readers)
            return has_role(request.user, *write)

    RolePermission.__name__ = f"RolePermission(write={','.join(write) or 'admin'})"
    return RolePermission


IsAdministrator = role_permission(write=(), read=())
AdministratorOrAuditorReadOnly = role_permission(write=(), read=(Role.AUDITOR,))
