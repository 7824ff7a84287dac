"""Django for the benchmarks: a scratch PostgreSQL database (created and migrated here), production settings.

`DATABASE_URL` picks the database; by default `postgres://postgres@127.0.0.1:5432/<BENCH_DB_PREFIX><name>` on the
local server, created if missing (BENCH_DB_PREFIX, empty by default, keeps concurrent runs apart). Secrets for the
run are generated (nothing is kept). Import and call `setup(name)` before any model import.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


def _ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup(name: str, *, fresh: bool = False) -> str:
    """Point Django at the benchmark database (`fresh` drops it first), migrate it, and return its URL."""
    from cryptography.fernet import Fernet

    sys.path.insert(0, str(ROOT))
    name = os.environ.get("BENCH_DB_PREFIX", "") + name
    url = os.environ.get("DATABASE_URL") or f"postgres://postgres@127.0.0.1:5432/{name}"
    if fresh and not os.environ.get("DATABASE_URL"):
        import psycopg

        admin = urlparse(url)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _ensure_database(url)
    data_dir = tempfile.mkdtemp(prefix="clm-bench-")
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "clm.settings",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + "x" * 50,
            "CLM_SECRET_KEYS": os.environ.get("CLM_SECRET_KEYS") or Fernet.generate_key().decode(),
            "CLM_DATA_DIR": data_dir,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "LOG_FORMAT": "text",
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def machine() -> str:
    import platform

    return f"CPython {platform.python_version()}, {os.cpu_count()} CPU, {platform.machine()}"
