"""One WinRM session to one IIS host: the only module that imports the WinRM client library.

Library choice: pypsrp's `WinRS` + `Process` over a `WSMan` transport (winrm-protocol.md §6). It keeps the HTTP
connection and its NTLM/Negotiate context across calls, so a job pays the handshake once per host and each operation
costs four requests (Command, Send, Receive, Signal) on an already-open shell; NTLM, SPNEGO and Kerberos all go
through pyspnego (no C extension); message encryption is on by default over HTTP and channel binding over HTTPS; it
parses namespaced XML, checks RelatesTo on every response and raises WSMan faults with their codes. pywinrm's
`Session.run_ps` puts the script on the command line (a 3,061-character ceiling under cmd.exe's limit) and
reconnects on every call, so it is not used.

Transport pattern (DESIGN.md §6): the command line carries only a fixed bootstrap
(`powershell.exe -NoProfile -NonInteractive -EncodedCommand <bootstrap.ps1>`); the operation travels on stdin as one
ASCII JSON envelope `{"op", "v": 1, "params", "script"}`, sent in chunks of at most STDIN_CHUNK bytes. The bootstrap
runs `script` with `$Params` and writes one JSON document. Parameters are never spliced into script text. Success is
judged by exit code + JSON, never by an empty stderr (PowerShell writes CLIXML progress records there).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import requests
import spnego.exceptions
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.shell import CommandState, Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from devices.iis.errors import (
    AuthFailed,
    DeviceError,
    InsecureTransport,
    OperationFailed,
    ProtocolError,
    Timeout,
    TlsUntrusted,
    Unreachable,
)

log = logging.getLogger(__name__)

Scheme = Literal["http", "https"]
AuthMode = Literal["negotiate", "ntlm", "kerberos", "basic"]

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.ps1")
ENVELOPE_VERSION = 1
STDIN_CHUNK = 96 * 1024  # raw bytes per Send: base64 plus SOAP stays under a 150 KB MaxEnvelopeSizekb (2008 R2)
MAX_OPERATION_TIMEOUT = 20  # seconds per WSMan Receive; longer waits poll again (the w:TimedOut fault is expected)
FAULT_TIMED_OUT = 2150858793
FAULT_SHELL_NOT_FOUND = 2150858843


class _NoMessageDumps(logging.Filter):
    """pypsrp logs whole SOAP messages at DEBUG, stdin included: the envelope carries passwords and PFX bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith(("Sending message", "Received message", "Sending http request"))


logging.getLogger("pypsrp.wsman").addFilter(_NoMessageDumps())


@dataclass(frozen=True)
class Endpoint:
    """How to reach one host's WinRM service. `ca_bundle` is PEM text (None: the system trust store)."""

    host: str
    scheme: Scheme = "https"
    port: int | None = None  # None: 5985 for http, 5986 for https
    auth: AuthMode = "negotiate"
    username: str = ""
    password: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_bundle: str | None = field(default=None, repr=False)
    allow_basic_over_http: bool = False
    timeout: float = 60.0  # seconds for one operation, every request included

    def __post_init__(self) -> None:
        if self.scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, not {self.scheme!r}")
        if self.auth not in ("negotiate", "ntlm", "kerberos", "basic"):
            raise ValueError(f"auth must be negotiate, ntlm, kerberos or basic, not {self.auth!r}")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5986 if self.scheme == "https" else 5985

    @property
    def channel_is_protected(self) -> bool:
        """TLS with a validated certificate protects everything inside it."""
        return self.scheme == "https" and self.verify_tls

    def check_security(self) -> None:
        """Refuse, before connecting, what would send credentials in the clear."""
        if self.auth == "basic" and not self.channel_is_protected and not self.allow_basic_over_http:
            where = "plain HTTP" if self.scheme == "http" else "HTTPS without certificate validation"
            raise InsecureTransport(
                f"Basic authentication over {where} is refused; use HTTPS with validation, NTLM/Negotiate/Kerberos "
                "(message encryption), or allow Basic over HTTP explicitly for this device",
                host=self.host,
            )

    @property
    def encryption(self) -> Literal["auto", "always", "never"]:
        """WinRM message encryption: on over HTTP for NTLM/Negotiate/Kerberos; also inside TLS when the certificate
        is not validated; never with Basic (it cannot encrypt)."""
        if self.auth == "basic":
            return "never" if self.scheme == "http" else "auto"
        if self.scheme == "https" and not self.verify_tls:
            return "always"
        return "auto"


@cache
def bootstrap_arguments() -> tuple[str, ...]:
    """The fixed command line: powershell.exe plus the bootstrap, comment lines removed, as -EncodedCommand."""
    lines = [line.strip() for line in BOOTSTRAP_PATH.read_text(encoding="utf-8").splitlines()]
    script = "\n".join(line for line in lines if line and not line.startswith("#"))
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return ("-NoProfile", "-NonInteractive", "-EncodedCommand", encoded)


def build_envelope(op: str, params: dict[str, Any], script: str) -> bytes:
    """The stdin of one operation. ASCII-only JSON, so no console code page can garble it."""
    document = {"op": op, "v": ENVELOPE_VERSION, "params": params, "script": script}
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\r\n"


_CLIXML_STRING = re.compile(r'<S S="(Error|Warning)">(.*?)</S>', re.DOTALL)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_text(stderr: bytes) -> str:
    """Readable text from PowerShell's stderr (`#< CLIXML` error records decoded; progress records dropped)."""
    text = stderr.decode("utf-8", errors="replace")
    if not text.lstrip().startswith("#< CLIXML"):
        return text.strip()
    parts = [html.unescape(match.group(2)) for match in _CLIXML_STRING.finditer(text)]
    return _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), "".join(parts)).strip()


def parse_result(op: str, exit_code: int | None, stdout: bytes, stderr: bytes, host: str | None = None) -> Any:
    """`data` of a successful operation; OperationFailed for a reported failure; ProtocolError otherwise."""
    text = stdout.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    document = _json_document(text)
    if not isinstance(document, dict) or not isinstance(document.get("ok"), bool):
        detail = clixml_text(stderr) or text
        raise ProtocolError(f"{op}: no JSON result (exit code {exit_code}): {detail[:500]}", host=host)
    if document["ok"] and exit_code == 0:
        return document.get("data")
    if not document["ok"] and exit_code not in (0, None):
        error = document.get("error")
        error = error if isinstance(error, dict) else {}
        step = error.get("step")
        raise OperationFailed(
            str(error.get("code") or "unknown"),
            str(error.get("message") or "the operation failed"),
            str(step) if step is not None else None,
            op=op,
            host=host,
        )
    raise ProtocolError(f"{op}: inconsistent result (ok={document['ok']} with exit code {exit_code})", host=host)


def _json_document(text: str) -> Any:
    """The bootstrap's document: all of stdout, or else its last line (anything a host printed before it, such as
    a logon banner or a stray warning, is not part of the result)."""
    for candidate in (text, text.rsplit("\n", 1)[-1].strip()):
        if not candidate:
            continue
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _tls_reason(exc: BaseException) -> str | None:
    """The certificate verification verdict buried in requests' and urllib3's exception chain, if any."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current.reason or current)
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return None


class _CountingWSMan(WSMan):
    """WSMan that counts the SOAP requests it sends (one per WS-Management round trip)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips = 0

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self.round_trips += 1
        return super().invoke(*args, **kwargs)


class IISSession:
    """One connection to one host, reused for every operation of a job: `with IISSession(endpoint) as s: s.run(...)`.

    After a transport failure the session reconnects on the next `run` (a new TCP connection, authentication and
    shell); operation-level failures keep the connection. Not thread-safe: one session per host per job, used by one
    thread (NTLM sealing numbers every message of the connection in order).
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._wsman: _CountingWSMan | None = None
        self._shell: WinRS | None = None
        self._ca_file: str | None = None
        self._round_trips_closed = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def __enter__(self) -> IISSession:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def round_trips(self) -> int:
        """WS-Management requests sent so far (auth handshakes excluded), across reconnects."""
        current = self._wsman.round_trips if self._wsman is not None else 0
        return self._round_trips_closed + current

    def open(self) -> None:
        """Connect, authenticate and create the WinRS shell (one Create round trip)."""
        if self._shell is not None:
            return
        self.endpoint.check_security()
        deadline = time.monotonic() + self.endpoint.timeout
        try:
            self._wsman = self._new_wsman()
            self._set_read_timeout(deadline)
            shell = WinRS(self._wsman)
            shell.open()
            self._shell = shell
        except DeviceError:
            self._discard()
            raise
        except Exception as exc:
            self._discard()
            raise self._map(exc, "connect") from exc

    def close(self, grace: float = 10.0) -> None:
        """Delete the shell and close the connection; errors here are logged, never raised."""
        shell, self._shell = self._shell, None
        if shell is not None and self._wsman is not None:
            try:
                self._wsman.transport.read_timeout = _whole_seconds(min(self.endpoint.timeout, grace))
                shell.close()
            except Exception as exc:
                log.info("closing the WinRM shell on %s failed: %s", self.endpoint.host, type(exc).__name__)
        self._discard()

    def _discard(self) -> None:
        self._shell = None
        if self._wsman is not None:
            self._round_trips_closed += self._wsman.round_trips
            try:
                self._wsman.close()
            except Exception as exc:
                log.debug("closing the WinRM transport failed: %s", type(exc).__name__)
            self._wsman = None
        if self._ca_file is not None:
            try:
                os.unlink(self._ca_file)
            except OSError:
                log.debug("temporary CA bundle already gone")
            self._ca_file = None

    def _cert_validation(self) -> bool | str:
        endpoint = self.endpoint
        if endpoint.scheme != "https" or not endpoint.verify_tls:
            return False
        if endpoint.ca_bundle is None:
            return True
        # requests verifies against a file path only.
        fd, path = tempfile.mkstemp(prefix="thumbprint-ca-", suffix=".pem")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(endpoint.ca_bundle)
        self._ca_file = path
        return path

    def _operation_timeout(self) -> int:
        return max(1, min(MAX_OPERATION_TIMEOUT, int(self.endpoint.timeout)))

    def _new_wsman(self) -> _CountingWSMan:
        endpoint = self.endpoint
        operation_timeout = self._operation_timeout()
        return _CountingWSMan(
            endpoint.host,
            port=endpoint.effective_port,
            ssl=endpoint.scheme == "https",
            username=endpoint.username or None,
            password=endpoint.password or None,
            auth=endpoint.auth,
            cert_validation=self._cert_validation(),
            encryption=endpoint.encryption,
            operation_timeout=operation_timeout,
            connection_timeout=max(1, min(10, int(endpoint.timeout))),
            read_timeout=operation_timeout + 5,
            no_proxy=True,
            reconnection_retries=0,
        )

    def _set_read_timeout(self, deadline: float) -> None:
        """Keep every HTTP wait inside the operation's deadline (Receive sets its own, OperationTimeout + 2 s)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"no answer within {self.endpoint.timeout:g} s", host=self.endpoint.host)
        assert self._wsman is not None
        self._wsman.transport.read_timeout = _whole_seconds(min(self._operation_timeout() + 5, remaining))

    # -- operations -----------------------------------------------------------------------------------------------

    def run(self, op: str, params: dict[str, Any], script: str) -> Any:
        """Run one operation: `script` with `params` as `$Params`; returns the JSON `data` it produced."""
        if not op or not isinstance(params, dict):
            raise ValueError("op must be a name and params a dict")
        if self._shell is None:
            self.open()
        envelope = build_envelope(op, params, script)
        deadline = time.monotonic() + self.endpoint.timeout
        try:
            process = self._start(deadline)
            chunks = [envelope[i : i + STDIN_CHUNK] for i in range(0, len(envelope), STDIN_CHUNK)]
            for index, chunk in enumerate(chunks):
                self._set_read_timeout(deadline)
                process.send(chunk, end=index == len(chunks) - 1)
            while process.state != CommandState.DONE:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._abandon(process)
                    raise Timeout(f"{op} did not finish within {self.endpoint.timeout:g} s", host=self.endpoint.host)
                self._set_read_timeout(deadline)
                process.poll_invoke(timeout=max(1, min(self._operation_timeout(), int(remaining))))
            self._cleanup(process)
        except DeviceError as error:
            self._after_failure(error)
            raise
        except Exception as exc:
            mapped = self._map(exc, op)
            self._after_failure(mapped)
            raise mapped from exc
        return parse_result(op, process.rc, process.stdout, process.stderr, host=self.endpoint.host)

    def _after_failure(self, error: DeviceError) -> None:
        """Start the next `run` on a fresh connection. A timed-out host is still answering, so its shell is deleted
        (WinRS allows 30 per user); after a lost connection the old security context is useless, so it is dropped."""
        if isinstance(error, Timeout):
            self.close(grace=2.0)
        else:
            self._discard()

    def _start(self, deadline: float) -> Process:
        assert self._shell is not None
        process = Process(self._shell, "powershell.exe", list(bootstrap_arguments()))
        self._set_read_timeout(deadline)
        try:
            process.begin_invoke()
        except WSManFaultError as fault:
            if fault.code != FAULT_SHELL_NOT_FOUND:
                raise
            # The host dropped the shell (restart, idle timeout); nothing ran yet, so a new shell is safe.
            assert self._wsman is not None
            self._shell = WinRS(self._wsman)
            self._set_read_timeout(deadline)
            self._shell.open()
            process = Process(self._shell, "powershell.exe", list(bootstrap_arguments()))
            self._set_read_timeout(deadline)
            process.begin_invoke()
        return process

    def _cleanup(self, process: Process) -> None:
        """Tell WinRS the command is finished so it frees it (pywinrm's cleanup_command does the same)."""
        try:
            self._set_read_timeout(time.monotonic() + min(self.endpoint.timeout, 10.0))
            process.signal(SignalCode.TERMINATE)
        except Exception as exc:
            log.info("releasing a finished command on %s failed: %s", self.endpoint.host, type(exc).__name__)
            self.close()

    def _abandon(self, process: Process) -> None:
        try:
            if self._wsman is not None:
                self._wsman.transport.read_timeout = 2
            process.signal(SignalCode.TERMINATE)
        except Exception as exc:
            log.debug("terminating a timed-out command failed: %s", type(exc).__name__)

    # -- error mapping --------------------------------------------------------------------------------------------

    def _map(self, exc: BaseException, op: str) -> DeviceError:
        host = self.endpoint.host
        if isinstance(exc, DeviceError):
            return exc
        if isinstance(exc, requests.exceptions.SSLError):
            reason = _tls_reason(exc)
            if reason is not None:
                return TlsUntrusted(f"the HTTPS certificate is not trusted: {reason}", reason=reason, host=host)
            return ProtocolError(f"TLS handshake failed: {_short(exc)}", host=host)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return Unreachable(f"connection timed out ({self.endpoint.effective_port})", host=host)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return Timeout(f"{op}: no answer within the read timeout", host=host)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return Unreachable(f"{op}: connection failed or lost: {_short(exc)}", host=host)
        if isinstance(exc, AuthenticationError | spnego.exceptions.SpnegoError):
            return AuthFailed("authentication failed", host=host)
        if isinstance(exc, ImportError):
            # pyspnego needs the gssapi package (and a Kerberos configuration) for Kerberos.
            return AuthFailed(f"{self.endpoint.auth} authentication is not available here: {_short(exc)}", host=host)
        if isinstance(exc, WSManFaultError):
            if exc.code == FAULT_TIMED_OUT:
                return Timeout(f"{op}: the WinRM service timed out", host=host)
            retryable = exc.code == FAULT_SHELL_NOT_FOUND
            return ProtocolError(f"{op}: WSMan fault {exc.code}: {exc.reason}", host=host, retryable=retryable)
        if isinstance(exc, WinRMTransportError):
            return ProtocolError(f"{op}: the WinRM service answered HTTP {exc.code}", host=host)
        if isinstance(exc, WinRMError | requests.exceptions.RequestException | ValueError):
            return ProtocolError(f"{op}: {_short(exc)}", host=host)
        return ProtocolError(f"{op}: unexpected {type(exc).__name__}: {_short(exc)}", host=host)


def _whole_seconds(seconds: float) -> int:
    """pypsrp takes its read timeout in whole seconds; round up so a deadline is never cut short."""
    return max(1, math.ceil(seconds))


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."
