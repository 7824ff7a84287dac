"""The errors of the IIS device layer: every failure talking to a host maps to one of these (DESIGN.md §6).

Each says whether retrying can help (`retryable`): jobs retry transient errors only, with back-off. Messages never
contain credentials or operation parameters.
"""

from __future__ import annotations

from typing import ClassVar


class DeviceError(Exception):
    """Base of all device-layer errors. `kind` is the stable name used in job results and the API."""

    kind: ClassVar[str] = "device_error"
    default_retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, host: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        return f"{self.host}: {self.message}" if self.host else self.message

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "message": self.message, "retryable": self.retryable}


class Unreachable(DeviceError):
    """No connection: refused, reset, dropped mid-operation, name not resolved, connect timeout."""

    kind = "unreachable"
    default_retryable = True


class AuthFailed(DeviceError):
    """The host refused the credentials (or the authentication method)."""

    kind = "auth_failed"


class TlsUntrusted(DeviceError):
    """The host's HTTPS certificate did not validate; `reason` is the TLS library's verdict."""

    kind = "tls_untrusted"

    def __init__(self, message: str, *, reason: str, host: str | None = None) -> None:
        super().__init__(message, host=host)
        self.reason = reason

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "reason": self.reason}


class Timeout(DeviceError):
    """The operation did not finish within the session's timeout (the host may still be working on it)."""

    kind = "timeout"
    default_retryable = True


class OperationFailed(DeviceError):
    """The operation ran and reported failure: `code` and `step` come from the script's JSON error."""

    kind = "operation_failed"

    def __init__(
        self, code: str, message: str, step: str | None = None, *, op: str | None = None, host: str | None = None
    ) -> None:
        super().__init__(message, host=host)
        self.code = code
        self.step = step
        self.op = op

    def __str__(self) -> str:
        where = f" at step {self.step}" if self.step else ""
        return f"{super().__str__()} [{self.op or 'operation'} failed{where}: {self.code}]"

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "code": self.code, "step": self.step, "op": self.op}


class ProtocolError(DeviceError):
    """The host answered something the device layer cannot use (WSMan fault, no JSON, inconsistent result)."""

    kind = "protocol_error"


class InsecureTransport(DeviceError):
    """Refused before connecting: the endpoint would send credentials or payloads unprotected (e.g. Basic over
    plain HTTP without the device's explicit permission)."""

    kind = "insecure_transport"
