"""Find the real services the integration tests need: PostgreSQL and Redis.

CLM_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and CLM_TEST_BROKER_URL
(default redis://127.0.0.1:6379/15). A service that does not answer within a second is unreachable.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def database_url() -> str:
    return os.environ.get("CLM_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)


def broker_url() -> str:
    return os.environ.get("CLM_TEST_BROKER_URL", DEFAULT_BROKER_URL)


@cache
def postgres_url() -> str | None:
    """The PostgreSQL URL when it answers, else None."""
    url = database_url()
    return url if _reachable(url, 5432) else None


@cache
def redis_url() -> str | None:
    """The Redis URL when it answers, else None."""
    url = broker_url()
    return url if _reachable(url, 6379) else None


def missing_services() -> list[str]:
    missing = []
    if postgres_url() is None:
        missing.append(f"PostgreSQL at {database_url()}")
    if redis_url() is None:
        missing.append(f"Redis at {broker_url()}")
    return missing
