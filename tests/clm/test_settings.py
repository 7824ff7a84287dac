"""Start-up validation: production mode refuses a missing or default secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "CLM_SECRET_KEYS", "DEBUG"}}
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "clm.settings",
            "CLM_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_production_without_django_secret_key(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="0", CLM_SECRET_KEYS=Fernet.generate_key().decode())
    assert result.returncode != 0
    assert "clm.E001" in result.stderr


def test_it_refuses_production_with_a_default_secret_key(tmp_path: Path) -> None:
    result = run_check(
        tmp_path, DEBUG="0", DJANGO_SECRET_KEY="changeme", CLM_SECRET_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode != 0
    assert "clm.E001" in result.stderr


def test_it_refuses_production_without_encryption_keys(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="0", DJANGO_SECRET_KEY="k" * 20 + "ab3-_Zq" + "y" * 20)
    assert result.returncode != 0
    assert "clm.E003" in result.stderr


def test_it_refuses_a_malformed_encryption_key(tmp_path: Path) -> None:
    result = run_check(
        tmp_path, DEBUG="0", DJANGO_SECRET_KEY="k" * 20 + "ab3-_Zq" + "y" * 20, CLM_SECRET_KEYS="not-a-fernet-key"
    )
    assert result.returncode != 0
    assert "clm.E004" in result.stderr


def test_it_starts_in_production_with_both_secrets(tmp_path: Path) -> None:
    result = run_check(
        tmp_path,
        DEBUG="0",
        DJANGO_SECRET_KEY="k" * 20 + "ab3-_Zq" + "y" * 20,
        CLM_SECRET_KEYS=Fernet.generate_key().decode(),
    )
    assert result.returncode == 0, result.stderr


def test_development_generates_its_secrets_into_the_data_dir_once(tmp_path: Path) -> None:
    first = run_check(tmp_path, DEBUG="1")
    assert first.returncode == 0, first.stderr
    secret = (tmp_path / "django_secret_key").read_text()
    keys = (tmp_path / "secret_keys").read_text()
    Fernet(keys.strip().encode())
    assert oct((tmp_path / "secret_keys").stat().st_mode & 0o777) == "0o600"
    assert run_check(tmp_path, DEBUG="1").returncode == 0
    assert (tmp_path / "django_secret_key").read_text() == secret
    assert (tmp_path / "secret_keys").read_text() == keys


def test_it_rejects_a_non_boolean_debug_value(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr
