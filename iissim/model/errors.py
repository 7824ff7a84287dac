"""The error an operation reports: a machine code, a human message, and the step it failed at."""

from __future__ import annotations


class OpError(Exception):
    """An operation failed the way the PowerShell script would report it: `{"code", "message", "step"}`."""

    def __init__(self, code: str, message: str, step: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.step = step

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "step": self.step}


class WindowsError(OpError):
    """A refusal that Windows itself gives (IIS, HTTP.sys, CryptoAPI), with the text Windows uses."""
