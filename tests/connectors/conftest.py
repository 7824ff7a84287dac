"""Fixtures shared by the connectors tests: the demo lab, and the people of a push (one requester, two approvers, one
implementer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iissim.lab import Lab
from tests.devices.labs import running_lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield from running_lab()


@pytest.fixture
def people(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> dict[str, Any]:
    return {"requester": requester, "approvers": [approver, approver_b], "implementer": implementer}
