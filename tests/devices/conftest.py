"""Fixtures of the onboarding tests: the demo lab (simulated IIS hosts over real WinRM), a Redis broker, and a real
Celery worker for the integrated gateway's `devices` queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iissim.lab import Lab
from tests.devices.labs import running_lab
from tests.fixtures.workers import use_broker
from tests.services import broker_url


@pytest.fixture(scope="session")
def demo_lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """This test process and its workers on the Redis broker (CLM_TEST_BROKER_URL), emptied first."""
    url = broker_url()
    with use_broker(url, {}):
        from clm.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
        yield url


@pytest.fixture
def device_worker(redis_broker: str, worker_factory: Any) -> Any:
    """A real worker consuming the integrated gateway's queue (`devices`)."""
    return worker_factory("devices", ["devices"], redis_broker, concurrency=2)
