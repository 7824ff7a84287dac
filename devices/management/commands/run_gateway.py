"""`python manage.py run_gateway <name>`: a Celery worker that consumes only one Windows gateway's queue.

Run it inside the network of the devices behind an external gateway (it needs the portal's database and broker
settings, as any worker does). The integrated gateway's queue is `devices`, which the portal's own workers consume.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.models import Gateway


class Command(BaseCommand):
    help = "Run a worker for one Windows gateway: it consumes only that gateway's queue (gw.<name>)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The gateway's name (Settings > Gateways).")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--hostname", default="", help="Celery node name (default gw-<name>@%%h).")

    def argv(self, gateway: Gateway, options: dict[str, Any]) -> list[str]:
        node = options["hostname"] or f"gw-{gateway.name}@%h"
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clm",
            "worker",
            "-Q",
            gateway.queue,
            "-n",
            node,
            "--concurrency",
            str(max(1, options["concurrency"])),
            "--loglevel",
            options["loglevel"],
        ]
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # The file-system transport has no fanout exchange: gossip, mingle and heartbeats would only warn.
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return argv

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip().lower()
        gateway = Gateway.objects.filter(name__iexact=name).first()
        if gateway is None:
            known = ", ".join(Gateway.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No gateway named {name!r} (known: {known}). Add it under Settings > Gateways first.")
        argv = self.argv(gateway, options)
        self.stdout.write(f"Gateway {gateway.name!r}: consuming queue {gateway.queue!r} ({' '.join(argv[3:])})")
        self.stdout.flush()
        # exec: the worker becomes this process, so signals and exit codes reach it directly.
        os.chdir(settings.BASE_DIR)
        os.execv(sys.executable, argv)  # noqa: S606 - a fixed argv, no shell involved
