"""SimHost: one simulated Windows/IIS host answering WinRS commands (`CommandRunner`).

`run_command` decodes `powershell.exe ... -EncodedCommand <bootstrap>`, takes the JSON envelope
`{"op", "v", "params", "script"}` from stdin, runs the operation on the host model under the host's lock, and
answers as powershell.exe would: one JSON document on stdout, CLIXML on stderr, exit code 0 or 1.
It never interprets the PowerShell text; the envelope's `op` decides.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iissim.contract import CommandResult, TransportFaults
from iissim.model.errors import OpError
from iissim.model.pfx import pfx_algorithms
from iissim.model.shell import (
    CMD_LINE_MAX,
    clixml_stderr,
    not_recognized,
    parse_powershell,
    split_command_line,
)
from iissim.model.state import FileTree, HostState, Share, norm_path, utcnow_iso

ENVELOPE_VERSION = 1
SECRET_KEYS = ("password", "secret", "private_key", "pfx_password")
BLOB_KEYS = ("pfx_b64", "content_b64")


def envelope_op(stdin: bytes) -> str | None:
    """The op name of an envelope, without running it (for transport faults keyed by op)."""
    try:
        envelope = json.loads(stdin.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    op = envelope.get("op") if isinstance(envelope, dict) else None
    return op if isinstance(op, str) else None


def redact(value: Any) -> Any:
    """Parameters as the journal keeps them: passwords masked, blobs replaced by their size and digest."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if any(s in lowered for s in SECRET_KEYS):
                out[key] = "***" if item else item
            elif lowered in BLOB_KEYS and isinstance(item, str):
                try:
                    raw = base64.b64decode(item, validate=True)
                    out[key] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
                except (binascii.Error, ValueError):
                    out[key] = {"bytes": None, "invalid_base64": True}
            elif lowered == "snapshot":
                out[key] = "<snapshot>"
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Journal:
    """Every operation run on a host, newest last (bounded)."""

    def __init__(self, maxlen: int = 5000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry}
            self._entries.append(entry)
            return entry

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq


@dataclass
class StepFailure:
    op: str  # op name or "*"
    step: str
    code: str = "injected_failure"
    message: str = ""
    times: int | None = None  # None: every time


@dataclass
class OpFaults:
    """Host-side faults: an op failing at a named step, a slow op."""

    failures: list[StepFailure] = field(default_factory=list)
    slow_ms: dict[str, int] = field(default_factory=dict)  # op name or "*" -> delay before the op runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, op: str, step: str) -> None:
        with self.lock:
            for rule in self.failures:
                if rule.op in (op, "*") and rule.step == step and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    raise OpError(rule.code, rule.message or f"Injected failure in '{op}' at step '{step}'", step)

    def delay_for(self, op: str) -> int:
        with self.lock:
            return self.slow_ms.get(op, self.slow_ms.get("*", 0))

    def clear(self) -> None:
        with self.lock:
            self.failures.clear()
            self.slow_ms.clear()

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "failures": [
                    {"op": f.op, "step": f.step, "code": f.code, "message": f.message, "times": f.times}
                    for f in self.failures
                ],
                "slow_ms": dict(self.slow_ms),
            }


class ShareRegistry:
    """The lab's UNC shares, visible from every host (each with its own credentials)."""

    def __init__(self, shares: list[Share] | None = None) -> None:
        self.lock = threading.RLock()
        self.shares: dict[str, Share] = {}
        for share in shares or []:
            self.add(share)

    def add(self, share: Share) -> None:
        self.shares[norm_path(share.unc)] = share

    def resolve(self, path: str) -> tuple[Share, str] | None:
        key = norm_path(path)
        for unc, share in self.shares.items():
            if key == unc or key.startswith(unc + "\\"):
                return share, path
        return None


Hook = Callable[["SimHost"], None]
TlsProbe = Callable[["SimHost", str, int, "str | None", float], dict[str, Any]]


class SimHost:
    """A simulated host. Thread-safe: every operation runs under `lock`."""

    def __init__(
        self,
        state: HostState,
        *,
        shares: ShareRegistry | None = None,
        initial: dict[str, Any] | HostState | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.state = state
        self.shares = shares or ShareRegistry()
        # What reset() returns to: a copy of the starting state (lazy file contents stay lazy), or its saved dict.
        self._initial: dict[str, Any] | HostState = initial if initial is not None else copy.deepcopy(state)
        self.transport_faults = TransportFaults()
        self.op_faults = OpFaults()
        self.journal = Journal()
        self.on_change: list[Hook] = []
        self.tls_probe: TlsProbe | None = None

    @property
    def name(self) -> str:
        return self.state.name

    # -- CommandRunner -------------------------------------------------------------------------------------------

    def run_command(self, command_line: str, stdin: bytes) -> CommandResult:
        if len(command_line) > CMD_LINE_MAX:
            return CommandResult(b"", b"The command line is too long.\r\n", 1)
        args = split_command_line(command_line)
        if not args:
            return CommandResult(b"", b"", 0)
        program = args[0].replace("/", "\\").rsplit("\\", 1)[-1].lower()
        if program.endswith(".exe"):
            program = program[:-4]
        if program == "cmd" and len(args) > 2 and args[1].lower() in ("/c", "/k"):
            return self.run_command(" ".join(args[2:]), stdin)
        if program == "powershell":
            return self._run_powershell(args[1:], stdin)
        if program == "hostname":
            return CommandResult(f"{self.state.name}\r\n".encode(), b"", 0)
        if program == "ver":
            return CommandResult(f"\r\nMicrosoft Windows [Version 10.0.{self.state.build}.1]\r\n".encode(), b"", 0)
        if program == "echo":
            return CommandResult(
                (command_line.split(None, 1)[1] if len(args) > 1 else "ECHO is on.").encode() + b"\r\n"
            )
        return CommandResult(b"", not_recognized(args[0]), 1)

    def _run_powershell(self, args: list[str], stdin: bytes) -> CommandResult:
        invocation = parse_powershell(args)
        if invocation.error:
            return CommandResult(b"", clixml_stderr(invocation.error), 1)
        if invocation.encoded_script is None:
            return CommandResult(
                b"",
                clixml_stderr("This host runs operations only through -EncodedCommand with an envelope on stdin."),
                1,
            )
        try:
            envelope = json.loads(stdin.decode("utf-8-sig")) if stdin.strip() else None
        except (UnicodeDecodeError, ValueError) as exc:
            return self._failure(OpError("bad_envelope", f"stdin is not a JSON envelope: {exc}", "bootstrap"))
        if not isinstance(envelope, dict) or not isinstance(envelope.get("op"), str):
            return self._failure(OpError("bad_envelope", "stdin carries no envelope with an 'op'", "bootstrap"))
        if envelope.get("v") != ENVELOPE_VERSION:
            return self._failure(
                OpError("bad_envelope", f"envelope version {envelope.get('v')!r} is not supported", "bootstrap")
            )
        params = envelope.get("params") or {}
        if not isinstance(params, dict):
            return self._failure(OpError("bad_envelope", "params must be a JSON object", "bootstrap"))
        script = envelope.get("script")
        if not isinstance(script, str) or not script.strip():
            return self._failure(OpError("bad_envelope", "the envelope carries no script", "bootstrap"))
        return self._result(self.run_op(envelope["op"], params, script))

    @staticmethod
    def _result(document: dict[str, Any]) -> CommandResult:
        out = (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\r\n").encode("utf-8")
        if document.get("ok"):
            return CommandResult(out, clixml_stderr(), 0)
        return CommandResult(out, clixml_stderr(document["error"]["message"]), 1)

    def _failure(self, error: OpError) -> CommandResult:
        return self._result({"ok": False, "error": error.as_dict()})

    # -- operations ----------------------------------------------------------------------------------------------

    def run_op(self, op: str, params: dict[str, Any], script: str = "") -> dict[str, Any]:
        """Run one operation; returns the JSON document the script would print."""
        from iissim.model.ops import OPERATIONS, OpContext

        started = time.monotonic()
        entry: dict[str, Any] = {
            "time": utcnow_iso(),
            "op": op,
            "params": redact(params),
            "script_sha256": hashlib.sha256(script.encode("utf-8")).hexdigest() if script else None,
        }
        if isinstance(params.get("pfx_b64"), str):
            try:
                entry["pfx"] = pfx_algorithms(base64.b64decode(params["pfx_b64"], validate=True)).as_dict()
            except (binascii.Error, ValueError):
                entry["pfx"] = {"error": "not base64"}
        handler = OPERATIONS.get(op)
        delay = self.op_faults.delay_for(op)
        if delay:
            time.sleep(delay / 1000)
        ctx = OpContext(self, op)
        document: dict[str, Any]
        if handler is None:
            document = {"ok": False, "error": OpError("unknown_op", f"Unknown operation '{op}'", "dispatch").as_dict()}
        else:
            with self.lock:
                try:
                    document = {"ok": True, "data": handler(ctx, params)}
                except OpError as exc:
                    ctx.rollback()
                    document = {"ok": False, "error": {**exc.as_dict(), "step": exc.step or ctx.current_step}}
                except (KeyError, TypeError, ValueError) as exc:
                    ctx.rollback()
                    document = {
                        "ok": False,
                        "error": {
                            "code": "bad_params",
                            "message": f"{type(exc).__name__}: {exc}",
                            "step": ctx.current_step,
                        },
                    }
        entry.update(
            ok=document["ok"],
            error=document.get("error"),
            steps=list(ctx.steps),
            duration_ms=round((time.monotonic() - started) * 1000, 2),
            changed=ctx.changed,
            **ctx.journal_extra,
        )
        self.journal.add(entry)
        if ctx.changed:
            self.notify_changed()
        return document

    def notify_changed(self) -> None:
        for hook in list(self.on_change):
            hook(self)

    # -- inspection and control ----------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return self.state.dump()

    def reset(self) -> None:
        """Back to the lab's initial state; journal and faults cleared."""
        with self.lock:
            if isinstance(self._initial, HostState):
                self.state = copy.deepcopy(self._initial)
            else:
                self.state = HostState.from_dict(self._initial)
            self.journal.clear()
            self.op_faults.clear()
            with self.transport_faults.lock:
                self.transport_faults.latency_ms = 0
                self.transport_faults.refuse_connections = False
                self.transport_faults.auth_failure = False
                self.transport_faults.drop_connection_on_op = None
        self.notify_changed()

    def initial_dict(self) -> dict[str, Any]:
        """The reset state in its persisted form."""
        if isinstance(self._initial, HostState):
            self._initial = self._initial.to_dict()
        return self._initial

    def read_file(self, path: str) -> bytes | None:
        """Read a file by local or UNC path without a credential check (HTTP.sys reading CCS files, static files)."""
        resolved = self.shares.resolve(path)
        tree: FileTree = resolved[0].files if resolved else self.state.files
        item = tree.read(path)
        return item.content if item else None
