"""Audit receivers for Django's authentication signals (login, logout, failed login)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from clm.audit import audit_record
from clm.middleware import client_ip


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        actor=user,
        action="auth.login",
        summary=f"{user.get_username()} signed in",
        obj=user,
        source_ip=client_ip(request) if request is not None else None,
    )


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    audit_record(
        actor=user,
        action="auth.logout",
        summary=f"{user.get_username()} signed out",
        obj=user,
        source_ip=client_ip(request) if request is not None else None,
    )


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        action="auth.login_failed",
        summary=f"failed sign-in for user name {username!r}",
        object_type="auth.user",
        object_id=username,
        source_ip=client_ip(request) if request is not None else None,
    )
