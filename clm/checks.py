"""System checks that keep a misconfigured portal from starting (run by manage.py, wsgi.py and the workers)."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

WEAK_SECRET_KEYS = {"", "changeme", "secret", "django-insecure", "please-change-me"}


def _production() -> bool:
    return not settings.DEBUG


@register(Tags.security, deploy=False)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    key = settings.SECRET_KEY
    if not _production():
        return []
    if key == settings.INSECURE_SECRET_KEY or key in WEAK_SECRET_KEYS or key.startswith("django-insecure"):
        return [
            Error(
                "DJANGO_SECRET_KEY is missing or a default value; production mode (DEBUG=0) refuses to start.",
                hint="Set DJANGO_SECRET_KEY to a long random value, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'`.",
                id="clm.E001",
            )
        ]
    if len(set(key)) < 5 or len(key) < 32:
        return [Error("DJANGO_SECRET_KEY is too short or too simple (32+ characters).", id="clm.E002")]
    return []


@register(Tags.security, deploy=False)
def check_encryption_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    keys = settings.CLM_SECRET_KEYS
    if not keys:
        return [
            Error(
                "CLM_SECRET_KEYS is empty: secrets cannot be encrypted at rest.",
                hint="Set CLM_SECRET_KEYS to one or more comma-separated Fernet keys, newest first "
                "(`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`).",
                id="clm.E003",
            )
        ]
    errors = []
    for index, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(Error(f"CLM_SECRET_KEYS entry {index + 1} is not a valid Fernet key.", id="clm.E004"))
    return errors


@register(Tags.compatibility)
def check_broker(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    url = settings.CELERY_BROKER_URL
    known = ("redis://", "rediss://", "filesystem://", "memory://", "amqp://", "sqla+")
    if not url.startswith(known):
        return [Error(f"CELERY_BROKER_URL has an unsupported scheme: {url.split('://')[0]!r}.", id="clm.E005")]
    if _production() and url.startswith(("filesystem://", "memory://")):
        return [
            Warning(
                "The embedded broker is meant for one machine; production normally uses Redis.",
                hint="Set CELERY_BROKER_URL=redis://host:6379/0.",
                id="clm.W001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_device_time_limits(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.CLM_WINRM_TIMEOUT >= settings.CLM_DEVICE_TASK_SOFT_TIME_LIMIT:
        return [
            Error(
                "CLM_WINRM_TIMEOUT must be below CLM_DEVICE_TASK_SOFT_TIME_LIMIT, or a hung host kills the worker "
                "before the WinRM call times out cleanly.",
                id="clm.E006",
            )
        ]
    return []


def run_startup_checks() -> None:
    """Run the system checks and raise when any error is found (for gunicorn and the workers, which skip them)."""
    from django.core import checks
    from django.core.management.base import SystemCheckError

    errors = [msg for msg in checks.run_checks(include_deployment_checks=False) if msg.is_serious()]
    if errors:
        raise SystemCheckError("\n".join(f"{e.id}: {e.msg}" for e in errors))
