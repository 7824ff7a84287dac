"""Per-request (or per-task) context: request id, source IP, tracking id. Read by logging and the audit trail."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    request_id: str = "-"
    source_ip: str | None = None
    tracking_id: str = ""


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("clm_request", default=_EMPTY)


def current() -> RequestContext:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def bound(**values: str | None) -> Iterator[RequestContext]:
    """Bind context values (request_id, source_ip, tracking_id) for the duration of a block."""
    ctx = replace(_current.get(), **values)  # type: ignore[arg-type]
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
