"""Extension point for what must follow a device's discovery, without discovery importing it.

The application connectors issue registers a handler here to create connectors for what discovery found (the
reference: "The AppConnector is created dynamically based on the discovery method used") and to refresh their sync
status. Handlers run in the worker after the device's findings are committed, one call per device and run; a
handler that raises is logged and reported on the device's row, and does not fail the discovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceDiscovered:
    """What one device's discovery recorded: the device, the run, the certificates kept (ids), those bound to a site
    binding, FTP site or HTTP.sys entry there, and the status new certificates got."""

    device_id: int
    run_id: int
    certificate_ids: tuple[int, ...]
    bound_certificate_ids: tuple[int, ...]
    status: str


Handler = Callable[[DeviceDiscovered], None]
_handlers: list[Handler] = []


def on_device_discovered(handler: Handler) -> Handler:
    """Decorator: call `handler(event)` after each device's discovery is recorded."""
    _handlers.append(handler)
    return handler


def device_discovered(event: DeviceDiscovered) -> list[str]:
    """Call every handler; returns the errors of those that failed (for the device row's notes)."""
    errors = []
    for handler in _handlers:
        try:
            handler(event)
        except Exception as exc:
            logger.exception("handler %s failed after discovery of device %s", handler.__name__, event.device_id)
            errors.append(f"{handler.__name__}: {exc}")
    return errors
