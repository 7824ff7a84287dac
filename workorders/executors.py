"""The registry of executors: the code that carries out a work order's action once it is implemented.

An app registers one function per action from its AppConfig.ready():

    @executor("push")
    def push(order: WorkOrder) -> dict[str, Any]:
        ...
        return {"certificate": cert.pk}

It runs in a Celery worker, outside any long transaction, with the order in state in_progress. It must be
idempotent (a re-delivered task may run it twice: look up what a previous run already did before doing it again).
It returns the JSON-serialisable result stored on the order, or raises:

- `TransientExecutionError`: a later attempt may succeed (host or CA unreachable, timeout); retried with back-off a
  bounded number of times, then the order fails;
- `ExecutionPending(retry_in)`: nothing is wrong, the outcome is not ready (a CA holds the request); polled again;
- `ExecutionError` (or any other exception): permanent; the order fails with the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workorders.models import WorkOrder

Executor = Callable[["WorkOrder"], dict[str, Any]]
QueueChoice = str | Callable[["WorkOrder"], str] | None

_executors: dict[str, Executor] = {}
_queues: dict[str, QueueChoice] = {}


class ExecutionError(Exception):
    """A permanent failure: the order fails and shows this message."""


class TransientExecutionError(Exception):
    """A failure that a later attempt may not hit."""


class ExecutionPending(Exception):
    """The work was handed over (e.g. a CA holds the request for approval); poll again after `retry_in` seconds."""

    def __init__(self, message: str, *, retry_in: int = 60) -> None:
        super().__init__(message)
        self.retry_in = retry_in


def executor(action: str, *, queue: QueueChoice = None) -> Callable[[Executor], Executor]:
    """Register `fn` as the executor of work orders with this action (one per action; the last one wins).

    `queue` is the Celery queue its runs go to: a name, or a function of the order (e.g. the queue of the target
    device's gateway, `clm.celery.gateway_queue(...)`); None means the `default` queue.
    """

    def register(fn: Executor) -> Executor:
        _executors[action] = fn
        _queues[action] = queue
        return fn

    return register


def executor_queue(order: WorkOrder) -> str | None:
    """The queue the order's executor runs on (None: the default routing)."""
    choice = _queues.get(order.action)
    return choice(order) if callable(choice) else choice


def executor_for(action: str) -> Executor | None:
    return _executors.get(action)


def registered_actions() -> list[str]:
    return sorted(_executors)
