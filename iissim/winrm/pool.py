"""The process-wide worker pool that runs `CommandRunner.run_command` for every listener in the process."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def default_executor() -> Executor:
    """One pool for all hosts: commands are short, and hundreds of per-host pools would only hold idle threads."""
    global _executor
    with _lock:
        if _executor is None:
            workers = int(os.environ.get("IISSIM_COMMAND_THREADS", "64"))
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="iissim-cmd")
        return _executor
