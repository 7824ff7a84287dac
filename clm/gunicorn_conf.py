"""gunicorn settings of the portal's web server (`make run` with DEBUG=0, docker-compose):
`-c python:clm.gunicorn_conf`."""

from __future__ import annotations

from typing import Any

workers = 3
# A device never runs in a request (long work is a Celery job), so a request longer than this is a bug, not a load.
timeout = 60
accesslog = "-"


def post_worker_init(worker: Any) -> None:
    # The application is loaded at this point (gunicorn imports it in the worker after post_fork).
    from clm.runtime import freeze_startup_heap

    freeze_startup_heap()
