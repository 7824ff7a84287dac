"""`make run`: migrate, set up, then run web + worker + beat (+ registered processes) as one process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from clm.bootstrap import ProcessSpec, after_start_steps, extra_processes, setup_steps
from clm.choices import Role
from clm.users import user_upsert


class Command(BaseCommand):
    help = "Run the whole portal in the foreground: web, a worker, beat and the demo lab. Ctrl-C stops all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--concurrency", type=int, default=4)

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self.ensure_admin()
        for step in setup_steps():
            step(self.say)
        processes = self.process_specs(options)
        self.supervise(processes, options)

    def ensure_admin(self) -> None:
        username = os.environ.get("CLM_ADMIN_USER", "admin")
        password = os.environ.get("CLM_ADMIN_PASSWORD") or None
        result = user_upsert(username=username, roles=[Role.ADMINISTRATOR], password=password)
        if result.generated_password:
            self.say(
                f"Demo administrator: user name {username!r}, password {result.generated_password!r} "
                "(shown once; set CLM_ADMIN_PASSWORD to choose it)."
            )
        elif password:
            self.say(f"Demo administrator: user name {username!r}, password from CLM_ADMIN_PASSWORD.")
        else:
            self.say(f"Demo administrator {username!r} already exists; its password is unchanged.")

    def process_specs(self, options: dict[str, Any]) -> list[ProcessSpec]:
        python = sys.executable
        bind = f"{options['host']}:{options['port']}"
        if settings.DEBUG:
            web = [python, "manage.py", "runserver", "--noreload", bind]
        else:
            web = [
                python,
                "-m",
                "gunicorn",
                "clm.wsgi:application",
                "-c",
                "python:clm.gunicorn_conf",
                "--bind",
                bind,
            ]
        celery = [python, "-m", "celery", "-A", "clm"]
        return [
            *extra_processes(),
            ProcessSpec("web", web),
            ProcessSpec(
                "worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "default,devices",
                    "--concurrency",
                    str(options["concurrency"]),
                    "--loglevel",
                    "INFO",
                    "-n",
                    "portal@%h",
                ],
            ),
            ProcessSpec(
                "beat",
                [
                    *celery,
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--pidfile=",
                    "-s",
                    str(settings.DATA_DIR / "celerybeat-schedule"),
                ],
            ),
        ]

    def broker_flags(self) -> list[str]:
        # The file-system transport has no fanout exchange: gossip, mingle and heartbeats would only warn.
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            return ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return []

    def supervise(self, specs: list[ProcessSpec], options: dict[str, Any]) -> None:
        children: list[tuple[ProcessSpec, subprocess.Popen[bytes]]] = []
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for spec in specs:
                env = {**os.environ, **spec.env}
                children.append((spec, subprocess.Popen(spec.argv, env=env)))
                self.say(f"started {spec.name} (pid {children[-1][1].pid})")
                if spec.ready_check is not None:
                    self.wait_ready(spec)
            self.say(f"Thumbprint is running on http://{options['host']}:{options['port']}/ (Ctrl-C stops it)")
            for step in after_start_steps():
                if stopping:
                    break
                step(self.say)
            while not stopping:
                for spec, proc in children:
                    if proc.poll() is not None:
                        self.say(f"{spec.name} exited with code {proc.returncode}; stopping the portal")
                        stopping = True
                time.sleep(0.5)
        finally:
            self.terminate(children)

    def wait_ready(self, spec: ProcessSpec, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        assert spec.ready_check is not None
        while time.monotonic() < deadline:
            if spec.ready_check():
                return
            time.sleep(0.2)
        self.say(f"{spec.name} did not become ready within {timeout:.0f} s")

    def terminate(self, children: list[tuple[ProcessSpec, subprocess.Popen[bytes]]]) -> None:
        for _, proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for spec, proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{spec.name} did not stop in time; killing it")
                proc.kill()
        self.say("Thumbprint stopped.")
