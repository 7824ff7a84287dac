"""Reachability checks for /healthz and the dashboard."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return False, f"database unreachable: {exc.__class__.__name__}"
    return True, "ok"


def broker_ok(timeout: float = 2.0) -> tuple[bool, str]:
    from clm.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            if settings.CELERY_BROKER_URL.startswith("filesystem://"):
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
                __import__("os").makedirs(folder, exist_ok=True)
    except Exception as exc:
        return False, f"broker unreachable: {exc.__class__.__name__}"
    return True, "ok"
