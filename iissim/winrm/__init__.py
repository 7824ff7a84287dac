"""The simulated WinRM endpoint (WS-Management over HTTP/HTTPS, WinRS cmd shell) that unmodified clients reach.

Public API (the host side and the tests use only this):

- `await start_winrm(config, runner, faults) -> WinRMListener`, inside a running asyncio loop. The listener has
  `.http_port`, `.https_port`, `.open_shells`, `.stats`, `await .close()` (inside the loop; alias `aclose`) and
  `.close_threadsafe()` (from any other thread).
- `serve_in_thread(config, runner, faults) -> context manager yielding a WinRMListener` running in a loop of its own
  on a background thread (tests, small tools).
- `LoopThread`: an event loop on a daemon thread, for callers that run many listeners in one loop.

Every WinRS command (command line + complete stdin) goes to `runner.run_command` in a worker thread of a shared pool
(`default_executor()`), so one loop serves hundreds of hosts without blocking.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

from iissim.contract import CommandRunner, TransportFaults, WinRMConfig
from iissim.winrm.pool import default_executor
from iissim.winrm.server import WinRMListener

__all__ = ["LoopThread", "WinRMListener", "default_executor", "serve_in_thread", "start_winrm"]

_T = TypeVar("_T")


async def start_winrm(
    config: WinRMConfig,
    runner: CommandRunner,
    faults: TransportFaults | None = None,
    *,
    executor: Executor | None = None,
) -> WinRMListener:
    """Start one host's WinRM listeners in the running loop; ports 0 pick free ports (read them back)."""
    listener = WinRMListener(config, runner, faults, executor=executor)
    await listener.start()
    return listener


class LoopThread:
    """An asyncio event loop running on a daemon thread; `run(coro)` executes a coroutine there and waits."""

    def __init__(self, name: str = "iissim-winrm") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = 60.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_in_thread(
    config: WinRMConfig,
    runner: CommandRunner,
    faults: TransportFaults | None = None,
) -> Iterator[WinRMListener]:
    """Run one host's WinRM listeners on a background loop for the duration of the `with` block."""
    with LoopThread() as loop_thread:
        listener = loop_thread.run(start_winrm(config, runner, faults))
        try:
            yield listener
        finally:
            loop_thread.run(listener.close())
