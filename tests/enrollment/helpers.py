"""Helpers shared by the enrollment, work-order and end-to-end tests: the built-in CA, a valid enrollment request,
driving an order through its approvals, and running openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from enrollment.ca.builtin import builtin_ca_ensure
from enrollment.models import CAAccount

OPENSSL = "/usr/bin/openssl"


def builtin_account() -> CAAccount:
    return builtin_ca_ensure(base_url="http://portal.test")


def enrollment_payload(account: CAAccount, **overrides: Any) -> dict[str, Any]:
    """A valid `POST /api/v1/enrollments/` body (API.md), with `overrides` merged in (params merged key by key)."""
    params = {
        "common_name": "www.example.test",
        "sans": {"dns": ["www.example.test", "example.test"], "ip": ["192.0.2.10"]},
        "organization": "Example Org",
        "organizational_unit": "Web",
        "locality": "Springfield",
        "state": "Oregon",
        "country": "US",
        "email": "",
        "key_type": "rsa",
        "key_size": 2048,
        "hash": "sha256",
        "validity": {"value": 90, "unit": "days"},
    }
    params.update(overrides.pop("params", {}))
    body: dict[str, Any] = {
        "group": None,
        "ca_account": account.pk,
        "connector_name": "web-prod",
        "csr_source": "app",
        "csr": None,
        "params": params,
        "renew_automatically": False,
        "renew_days_before": 30,
        "regenerate_automatically": False,
        "regenerate_days_before": 30,
    }
    body.update(overrides)
    return body


def openssl(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd, check=check, timeout=60)
