"""`make run`'s command on an empty data directory: it migrates, prints the demo administrator's credentials once,
serves the portal (SQLite + embedded broker, no server needed), runs jobs, and Ctrl-C stops every process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else raw
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_run_portal_serves_runs_jobs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CLM_", "DJANGO_"))}
    env.update(
        {
            "DEBUG": "1",
            "CLM_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "clm.settings",
            "PYTHONUNBUFFERED": "1",
            "CLM_DEMO": "0",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.5)
            try:
                status, health = http("GET", f"{base}/healthz")
            except OSError:
                continue
        assert status == 200, "".join(output)
        assert health == {"database": "ok", "broker": "ok"}
        match = re.search(r"user name 'admin', password '([^']+)'", "".join(output))
        assert match, "".join(output)
        status, body = http("POST", f"{base}/api/v1/auth/token/", {"username": "admin", "password": match.group(1)})
        assert status == 200
        token = body["token"]
        assert http("GET", f"{base}/api/schema/")[0] == 200
        assert http("GET", f"{base}/api/docs/")[0] == 200
        status, body = http("POST", f"{base}/api/v1/jobs/selftest/", {"steps": 2, "delay": 0.1}, token)
        assert status == 202
        job_url = f"{base}/api/v1/jobs/{body['job']}/"
        while time.monotonic() < deadline and http("GET", job_url, token=token)[1]["state"] != "completed":
            time.sleep(0.3)
        assert http("GET", job_url, token=token)[1]["state"] == "completed", "".join(output)
        kids = children_of(proc.pid)
        assert len(kids) >= 3  # web, worker, beat
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=40)
    assert "Thumbprint stopped." in "".join(output)
    time.sleep(0.5)
    assert not [k for k in kids if Path(f"/proc/{k}").exists()], "a child outlived Ctrl-C"
