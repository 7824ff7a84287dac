from __future__ import annotations

from typing import Any

import pytest

from enrollment.models import CAAccount
from tests.enrollment.helpers import builtin_account


@pytest.fixture
def ca_account(db: Any) -> CAAccount:
    """The built-in CA's account, created as the set-up step creates it."""
    return builtin_account()
