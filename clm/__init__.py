"""Thumbprint project package: settings, URLs, the Celery app and the shared building blocks."""

from clm.celery import app as celery_app

__all__ = ["celery_app"]
