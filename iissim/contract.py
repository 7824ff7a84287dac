"""The seam between the WinRM endpoint (iissim/winrm/) and the simulated host (the rest of iissim/).

The WinRM endpoint authenticates a client against `WinRMConfig`, applies the transport faults of `TransportFaults`,
keeps WinRS shells, and hands every WinRS Command -- command line plus all stdin sent to it -- to the host's
`CommandRunner`. The host answers with a `CommandResult` (stdout, stderr, exit code), as powershell.exe would.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

AuthMethod = Literal["basic", "ntlm", "negotiate", "kerberos"]
CbtMode = Literal["strict", "relaxed", "off"]


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes = b""
    exit_code: int = 0


class CommandRunner(Protocol):
    def run_command(self, command_line: str, stdin: bytes) -> CommandResult:
        """Run one WinRS command (`command_line` is Command and Arguments joined as WinRS does)."""
        ...


@dataclass
class WinRMConfig:
    """How a simulated host's WinRM service is configured (stock Windows defaults unless the lab says otherwise)."""

    address: str  # a loopback address, e.g. 127.0.10.1
    http_port: int | None = 5985  # None: no HTTP listener; 0: an ephemeral port (tests)
    https_port: int | None = 5986  # None: no HTTPS listener
    https_cert_pem: bytes | None = None  # server certificate (+ chain) for the HTTPS listener, from the lab CA
    https_key_pem: bytes | None = None
    users: dict[str, str] = field(default_factory=dict)  # user name (with or without DOMAIN\) -> password
    auth_methods: tuple[AuthMethod, ...] = ("negotiate", "ntlm")  # Basic is off on stock Windows
    allow_unencrypted: bool = False  # stock: unencrypted HTTP refused (message encryption required)
    cbt: CbtMode = "relaxed"  # channel binding tokens over HTTPS (Windows default: relaxed)
    max_envelope_kb: int = 500
    enforce_cmdline_limit: bool = True  # cmd.exe's 8,191-character limit


@dataclass
class TransportFaults:
    """Faults the control API can inject at the transport level (read by the WinRM endpoint on every request)."""

    latency_ms: int = 0  # added before every response
    refuse_connections: bool = False  # listener closes new connections at once
    auth_failure: bool = False  # every authentication attempt fails (as a wrong password would)
    drop_connection_on_op: str | None = None  # drop the TCP connection while running this op ("*" = any)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
