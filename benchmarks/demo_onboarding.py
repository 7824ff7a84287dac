"""How long `make run` takes to show the three demo hosts Managed (target: within a minute).

Runs `manage.py run_portal` twice on empty data directories, as `make run` does (SQLite, embedded broker):
1. baseline: CLM_DEMO=0, time until the portal answers /healthz;
2. demo: time until the API lists the three demo hosts with status Managed (the lab on a free network).
Prints both figures, the ratio demo / baseline, and the margin to the 60 s target.

    .venv/bin/python benchmarks/demo_onboarding.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
ADMIN_PASSWORD = "Bench-admin-1!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def run_once(demo: bool, timeout: float = 180) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CLM_", "DJANGO_"))}
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="thumbprint-bench-") as data_dir:
        env.update(
            DEBUG="1",
            CLM_DATA_DIR=data_dir,
            DJANGO_SETTINGS_MODULE="clm.settings",
            CLM_ADMIN_PASSWORD=ADMIN_PASSWORD,
            CLM_DEMO="1" if demo else "0",
            CLM_DEMO_LAB_RELOCATE="auto",
        )
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_portal", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            token = None
            while time.monotonic() - started < timeout:
                try:
                    if not demo:
                        if call("GET", f"{base}/healthz")[0] == 200:
                            return time.monotonic() - started
                    elif token is None:
                        status, body = call(
                            "POST", f"{base}/api/v1/auth/token/", {"username": "admin", "password": ADMIN_PASSWORD}
                        )
                        token = body["token"] if status == 200 else None
                    else:
                        status, body = call("GET", f"{base}/api/v1/devices/", token=token)
                        results = body["results"] if status == 200 else []
                        if len(results) == 3 and all(d["status"] == "managed" for d in results):
                            return time.monotonic() - started
                except OSError:
                    pass
                time.sleep(0.2)
            raise RuntimeError(f"not ready within {timeout} s (demo={demo})")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    baseline = [run_once(demo=False) for _ in range(args.runs)]
    demo = [run_once(demo=True) for _ in range(args.runs)]
    b, d = statistics.median(baseline), statistics.median(demo)
    print(
        f"portal answering /healthz (CLM_DEMO=0), median of {args.runs}: {b:.1f} s  {[round(x, 1) for x in baseline]}"
    )
    print(f"three demo hosts Managed (make run),   median of {args.runs}: {d:.1f} s  {[round(x, 1) for x in demo]}")
    verdict = "met" if d <= TARGET_SECONDS else "MISSED"
    print(f"ratio demo / baseline: {d / b:.2f}x; target {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
