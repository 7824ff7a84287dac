"""Management commands: clm_user (idempotent)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from clm.roles import user_roles


def run(*args: str, stdin: str | None = None, monkeypatch: Any = None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("clm_user", *args, stdout=out)
    return out.getvalue()


def test_clm_user_creates_then_updates_idempotently(db: Any, monkeypatch: Any) -> None:
    out = run(
        "pat",
        "--role",
        "approver",
        "--role",
        "requester",
        "--password-stdin",
        stdin="Pw-1234567!\n",
        monkeypatch=monkeypatch,
    )
    assert "created" in out and "Generated password" not in out
    user = get_user_model().objects.get(username="pat")
    assert user_roles(user) == {"approver", "requester"}
    assert authenticate(username="pat", password="Pw-1234567!") is not None
    run("pat", "--role", "approver")
    run("pat", "--role", "approver")
    user = get_user_model().objects.get(username="pat")
    assert user_roles(user) == {"approver"}
    assert get_user_model().objects.filter(username="pat").count() == 1
    # The password is kept when none is given.
    assert authenticate(username="pat", password="Pw-1234567!") is not None


def test_clm_user_generates_a_password_once_for_a_new_user(db: Any) -> None:
    out = run("sam", "--role", "auditor")
    password = out.split("Generated password (shown once): ")[1].strip()
    assert authenticate(username="sam", password=password) is not None
    assert "Generated password" not in run("sam", "--role", "auditor")


def test_clm_user_administrator_gets_the_admin_site(db: Any) -> None:
    run("root2", "--role", "administrator")
    user = get_user_model().objects.get(username="root2")
    assert user.is_staff and user.is_superuser
    run("root2", "--role", "auditor")
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser


def test_clm_user_refuses_an_unknown_role(db: Any) -> None:
    with pytest.raises(CommandError):
        call_command("clm_user", "x", "--role", "wizard")
    assert not get_user_model().objects.filter(username="x").exists()
