"""Celery configuration: JSON only, late acks, routing of device work to gateway queues."""

from __future__ import annotations

from typing import Any

from clm.celery import app, device_task, gateway_queue, route_task


def test_only_json_crosses_the_broker() -> None:
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_gateway_queues_are_named_after_the_gateway() -> None:
    assert gateway_queue(None) == "devices"
    assert gateway_queue("integrated-gateway") == "devices"
    assert gateway_queue("dmz-east") == "gw.dmz-east"


@device_task(name="tests.probe_device")
def _probe(self: Any, device_id: int) -> int:
    return device_id


def test_device_tasks_go_to_the_devices_queue_with_time_limits(settings: Any) -> None:
    assert route_task("tests.probe_device", [], {}, {}, task=_probe) == {"queue": "devices"}
    assert _probe.soft_time_limit == settings.CLM_DEVICE_TASK_SOFT_TIME_LIMIT
    assert _probe.time_limit == settings.CLM_DEVICE_TASK_TIME_LIMIT
    assert _probe.acks_late is True


def test_an_explicit_queue_wins_over_the_default_route() -> None:
    assert route_task("tests.probe_device", [], {}, {"queue": "gw.dmz"}, task=_probe) == {"queue": "gw.dmz"}
    assert route_task("clm.run_job", [], {}, {}, task=None) == {"queue": "default"}


def _postrun() -> None:
    from celery.signals import task_postrun

    task_postrun.send(sender=_probe, task_id="t", task=_probe, args=(), kwargs={}, retval=None, state="SUCCESS")


def test_workers_keep_a_healthy_database_connection_between_tasks(transactional_db: Any) -> None:
    """A new PostgreSQL connection per task costs the server more than a discovered host's writes: Celery's fixup is
    held back, and a connection is retired only as Django retires a web one (too old, broken)."""
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 60
    try:
        connection.ensure_connection()
        raw = connection.connection
        DjangoWorkerFixup(app).close_database()  # what Celery does around each task
        _postrun()
        assert connection.connection is raw
        connection.close_at = 0  # past CONN_MAX_AGE
        _postrun()
        assert connection.connection is None
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.close()
