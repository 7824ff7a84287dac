"""Structured logging helpers: the request id on every record, and secrets masked before any handler sees them.

Masking happens in a LogRecord factory (not only in a handler filter) so that every handler -- including test
capture handlers and third-party ones -- receives the masked text. Two nets:
1. patterns: `password=...`, `"password": "..."`, Authorization headers, PEM private keys;
2. values: every secret the portal decrypted or received recently (`register_secret`), masked wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any

from clm import context

MASK = "********"
_MAX_REMEMBERED = 2048
_MIN_SECRET_LEN = 4

_PATTERNS = [
    re.compile(
        r"""(?P<key>["']?(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|private[_-]?key|pfx_password)"""
        r"""["']?\s*[:=]\s*)(?P<q>["']?)(?P<value>[^"'\s,;}&]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<key>Authorization:\s*(?:Basic|Token|Bearer|Negotiate|NTLM)\s+)(?P<q>)(?P<value>\S+)", re.I),
]
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)

_remembered: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so that it is masked if it ever reaches a log line."""
    if value is None:
        return
    text = value.decode("utf-8", "ignore") if isinstance(value, bytes) else str(value)
    if len(text) < _MIN_SECRET_LEN:
        return
    with _lock:
        _remembered[text] = None
        _remembered.move_to_end(text)
        while len(_remembered) > _MAX_REMEMBERED:
            _remembered.popitem(last=False)


def mask(text: str) -> str:
    """Return `text` with every known secret and secret-looking assignment replaced by the mask."""
    if not text:
        return text
    with _lock:
        remembered = [s for s in _remembered if s in text]
    for secret in sorted(remembered, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _PEM_KEY.sub(f"-----PRIVATE KEY {MASK}-----", text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('key')}{m.group('q')}{MASK}", text)
    return text


_base_factory = logging.getLogRecordFactory()


def _masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not lose the log line
        message = str(record.msg)
    record.msg = mask(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
    ctx = context.current()
    record.request_id = ctx.request_id
    return record


def install_record_masking() -> None:
    """Install the masking record factory once per process."""
    if logging.getLogRecordFactory() is not _masking_factory:
        logging.setLogRecordFactory(_masking_factory)


class ContextFilter(logging.Filter):
    """Adds `request_id` to records created before masking was installed (e.g. during start-up)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = context.current().request_id
        return True


class SecretMaskingFilter(logging.Filter):
    """Second net for handlers configured in settings: masks the rendered message again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = mask(record.getMessage())
            record.args = None
        elif isinstance(record.msg, str):
            record.msg = mask(record.msg)
        return True
