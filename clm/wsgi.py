"""WSGI entry point. Refuses to serve when a system check fails (e.g. production without DJANGO_SECRET_KEY)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clm.settings")

application = get_wsgi_application()

from clm.checks import run_startup_checks  # noqa: E402

run_startup_checks()
