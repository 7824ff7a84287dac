"""The production web server's settings (`clm/gunicorn_conf.py`): gunicorn accepts them, and each worker freezes its
start-up heap once the application is loaded (the inventory's p95 depends on it, see benchmarks/RESULTS.md)."""

from __future__ import annotations

import gc
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from clm import gunicorn_conf

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_freezes_what_it_loaded_at_start_up() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_gunicorn_loads_the_portal_with_these_settings(tmp_path: Path) -> None:
    env = {**os.environ, "DEBUG": "0", "CLM_DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
           "CLM_SECRET_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "127.0.0.1",
           "DJANGO_SETTINGS_MODULE": "clm.settings"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "python:clm.gunicorn_conf", "clm.wsgi:application"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert gunicorn_conf.workers == 3
