"""Test settings: PostgreSQL and Redis when reachable (CLM_TEST_DATABASE_URL, CLM_TEST_BROKER_URL), else SQLite.

`tests/conftest.py` decides per test whether an integration test may run (see `tests/services.py`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

_tmp = Path(tempfile.mkdtemp(prefix="clm-test-"))
os.environ.setdefault("CLM_DATA_DIR", str(_tmp))
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 40)
# Two keys so that every test exercises MultiFernet with more than one key.
os.environ.setdefault("CLM_SECRET_KEYS", f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}")

from tests.services import postgres_url  # noqa: E402

_pg = postgres_url()
if _pg:
    os.environ["DATABASE_URL"] = _pg
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{_tmp / 'test.sqlite3'}"

from clm.settings import *  # noqa: E402,F403
from clm.settings import DATABASES, LOGGING  # noqa: E402

_db: dict = dict(DATABASES["default"])
DATABASES["default"] = _db  # type: ignore[assignment]
_logging: dict = LOGGING

_db["CONN_MAX_AGE"] = 0
_db.setdefault("TEST", {})
# Lets several checkouts (or xdist workers) share one PostgreSQL server without clobbering each other's database.
if os.environ.get("CLM_TEST_DB_NAME"):
    _db["TEST"]["NAME"] = os.environ["CLM_TEST_DB_NAME"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
_logging["root"]["level"] = "INFO"
LOG_FORMAT = "text"
_logging["handlers"]["console"]["formatter"] = "text"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
DEBUG = False
