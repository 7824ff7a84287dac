"""Shared fixtures: users with roles, API clients, service gating for integration tests, a real Celery worker."""

from __future__ import annotations

import os

import pytest

from tests.services import missing_services

pytest_plugins = ["tests.fixtures.users", "tests.fixtures.workers", "tests.fixtures.browser"]


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_services()
    if missing and _ci():
        pytest.exit(f"CI=true but integration services are unreachable: {', '.join(missing)}", returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_services()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"integration test skipped: {', '.join(missing)} unreachable")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)
