"""Fixtures of the onboarding tests: the demo lab (simulated IIS hosts over real WinRM), a Redis broker, and a real
Celery worker for the integrated gateway's `devices` queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iissim.lab import Lab
from tests.devices.labs import redis_broker_in_use, running_lab


@pytest.fixture(scope="session")
def demo_lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """This test process and its workers on the Redis broker (CLM_TEST_BROKER_URL), emptied first."""
    with redis_broker_in_use() as url:
        yield url


@pytest.fixture
def device_worker(redis_broker: str, worker_factory: Any) -> Any:
    """A real worker consuming the integrated gateway's queue (`devices`)."""
    return worker_factory("devices", ["devices"], redis_broker, concurrency=2)
