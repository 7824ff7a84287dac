"""The WinRS command shell service of one simulated host: shells, commands, stdin, output, signals.

A command runs once its stdin is complete: when a Send carries End="true", or at the first Receive when no stdin was
ever sent (commands that read none). It then runs in a worker thread through the host's `CommandRunner`, so the event
loop never blocks. A Receive waits for the result up to the request's OperationTimeout and otherwise answers the
w:TimedOut fault both clients retry. Output larger than one response is spread over several Receives with
State=Running until the last.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from iissim.contract import CommandResult, CommandRunner, TransportFaults, WinRMConfig
from iissim.winrm import soap

CMDLINE_LIMIT = 8191  # cmd.exe refuses longer command lines
MAX_SHELLS_PER_USER = 30  # WinRS default (winrm/config/winrs MaxShellsPerUser)
DEFAULT_IDLE_TIMEOUT = 7200.0  # WinRS default IdleTimeout
MAX_RAW_PER_RECEIVE = 65536
_TOO_LONG = CommandResult(stdout=b"", stderr=b"The command line is too long.\r\n", exit_code=1)


class DropConnection(Exception):
    """Close the TCP connection without answering (TransportFaults.drop_connection_on_op)."""


@dataclass
class Command:
    id: str
    command_line: str
    stdin: bytearray = field(default_factory=bytearray)
    sends: int = 0
    stdin_ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Future[CommandResult] | None = None
    result: CommandResult | None = None
    stdout_pos: int = 0
    stderr_pos: int = 0
    op: str | None = None


@dataclass
class Shell:
    id: str
    owner: str
    idle_timeout: float
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, Command] = field(default_factory=dict)


def op_name(stdin: bytes) -> str | None:
    """`json.loads(stdin)["op"]` when stdin is a JSON envelope (DESIGN.md §6), else None."""
    text = stdin.strip()
    if not text.startswith(b"{"):
        return None
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return None
    op = doc.get("op") if isinstance(doc, dict) else None
    return op if isinstance(op, str) else None


def owner_key(user: str) -> str:
    """Shells belong to the account, however the client spelled its domain."""
    return user.rsplit("\\", 1)[-1].upper()


class WinRSService:
    """All WinRS state of one host, shared by its HTTP and HTTPS listeners."""

    def __init__(self, config: WinRMConfig, runner: CommandRunner, faults: TransportFaults, executor: Executor) -> None:
        self.config = config
        self.runner = runner
        self.faults = faults
        self.executor = executor
        self.shells: dict[str, Shell] = {}
        self.stats: Counter[str] = Counter()

    # -- dispatch -------------------------------------------------------------------------------------------------

    async def handle(self, request: soap.WSManRequest, user: str, client_ip: str) -> bytes:
        """Answer one WS-Management request; raises soap.WSManFault or DropConnection."""
        action = request.action
        name = action.rsplit("/", 1)[-1]
        self.stats[name] += 1
        if request.resource_uri.lower() != soap.CMD_RESOURCE_URI.lower():
            raise soap.fault_resource_not_found(request.resource_uri)
        if action == soap.ACTION_CREATE:
            return self._create(request, user, client_ip)
        shell = self._shell(request, user)
        if action == soap.ACTION_COMMAND:
            return self._command(request, shell)
        if action == soap.ACTION_SEND:
            return self._send(request, shell)
        if action == soap.ACTION_RECEIVE:
            return await self._receive(request, shell)
        if action == soap.ACTION_SIGNAL:
            return self._signal(request, shell)
        if action == soap.ACTION_DELETE:
            self.shells.pop(shell.id, None)
            return soap.delete_response(request.message_id)
        raise soap.fault_action_not_supported(action)

    def _shell(self, request: soap.WSManRequest, user: str) -> Shell:
        shell = self.shells.get((request.shell_id or "").upper())
        if shell is None or shell.owner != owner_key(user):
            raise soap.fault_shell_not_found(request.shell_id)
        shell.last_used = time.monotonic()
        return shell

    def _command_of(self, shell: Shell, command_id: str | None) -> Command:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise soap.fault_command_not_found(command_id)
        return command

    # -- actions --------------------------------------------------------------------------------------------------

    def _create(self, request: soap.WSManRequest, user: str, client_ip: str) -> bytes:
        self._reap_idle()
        owner = owner_key(user)
        if sum(1 for shell in self.shells.values() if shell.owner == owner) >= MAX_SHELLS_PER_USER:
            raise soap.fault_max_shells(MAX_SHELLS_PER_USER)
        shell_xml = request.body.find("rsp:Shell", soap.NS)
        if shell_xml is None:
            raise soap.fault_invalid("The Create request has no rsp:Shell element.")
        idle_node = shell_xml.find("rsp:IdleTimeOut", soap.NS)
        idle = soap.parse_duration(idle_node.text if idle_node is not None else None, DEFAULT_IDLE_TIMEOUT)
        shell_id = (shell_xml.attrib.get("ShellId") or soap.new_id()).upper()
        if shell_id in self.shells:
            raise soap.fault_invalid(f"A shell with ShellId {shell_id} already exists.")
        self.shells[shell_id] = Shell(id=shell_id, owner=owner, idle_timeout=idle)
        return soap.create_response(request.message_id, shell_id, user, client_ip, idle)

    def _reap_idle(self) -> None:
        now = time.monotonic()
        for shell_id in [sid for sid, shell in self.shells.items() if now - shell.last_used > shell.idle_timeout]:
            del self.shells[shell_id]

    def _command(self, request: soap.WSManRequest, shell: Shell) -> bytes:
        line = request.body.find("rsp:CommandLine", soap.NS)
        if line is None:
            raise soap.fault_invalid("The Command request has no rsp:CommandLine element.")
        executable = line.find("rsp:Command", soap.NS)
        # pywinrm sends all arguments as one element, pypsrp one element per argument; WinRS joins them with spaces.
        parts = [(executable.text or "") if executable is not None else ""]
        parts.extend(node.text or "" for node in line.findall("rsp:Arguments", soap.NS))
        command_line = " ".join(part for part in parts if part)
        command_id = (line.attrib.get("CommandId") or soap.new_id()).upper()
        command = Command(id=command_id, command_line=command_line)
        skip_cmd = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        if self.config.enforce_cmdline_limit and not skip_cmd and len(command_line) > CMDLINE_LIMIT:
            # cmd.exe refuses the line before anything runs; stdin sent afterwards goes nowhere.
            command.result = _TOO_LONG
            command.stdin_ended.set()
        shell.commands[command_id] = command
        return soap.command_response(request.message_id, command_id)

    def _send(self, request: soap.WSManRequest, shell: Shell) -> bytes:
        stream = request.body.find("rsp:Send/rsp:Stream", soap.NS)
        if stream is None or stream.attrib.get("Name", "stdin") != "stdin":
            raise soap.fault_invalid("The Send request has no stdin stream.")
        command = self._command_of(shell, stream.attrib.get("CommandId"))
        try:
            data = base64.b64decode(stream.text or "", validate=True)
        except binascii.Error as exc:
            raise soap.fault_invalid("The stdin stream is not valid base64.") from exc
        if command.result is None and command.task is None and not command.stdin_ended.is_set():
            command.stdin += data
            command.sends += 1
            if stream.attrib.get("End", "false").lower() == "true":
                command.stdin_ended.set()
                self._start(command)
        return soap.send_response(request.message_id)

    def _start(self, command: Command) -> None:
        if command.task is not None or command.result is not None:
            return
        stdin = bytes(command.stdin)
        command.op = op_name(stdin)
        loop = asyncio.get_running_loop()
        command.task = loop.run_in_executor(self.executor, self.runner.run_command, command.command_line, stdin)

    def _should_drop(self, command: Command) -> bool:
        with self.faults.lock:
            target = self.faults.drop_connection_on_op
        return target is not None and (target == "*" or (command.op is not None and command.op == target))

    async def _receive(self, request: soap.WSManRequest, shell: Shell) -> bytes:
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", soap.NS)
        command = self._command_of(shell, desired.attrib.get("CommandId") if desired is not None else None)
        deadline = time.monotonic() + max(request.operation_timeout, 0.0)
        if command.result is None and command.task is None:
            if command.sends == 0:
                command.stdin_ended.set()
                self._start(command)
            else:
                # Part of stdin arrived without End: the process is still reading it, so nothing is ready yet.
                try:
                    await asyncio.wait_for(command.stdin_ended.wait(), timeout=request.operation_timeout)
                except TimeoutError:
                    raise soap.fault_timed_out() from None
        if command.result is None and command.task is not None:
            remaining = max(deadline - time.monotonic(), 0.0)
            try:
                command.result = await asyncio.wait_for(asyncio.shield(command.task), timeout=remaining)
            except TimeoutError:
                raise soap.fault_timed_out() from None
            except Exception as exc:  # the runner itself failed: report it as the process would, on stderr
                command.result = CommandResult(stdout=b"", stderr=f"{exc}\r\n".encode(), exit_code=1)
        result = command.result
        if result is None:
            raise soap.fault_timed_out()
        if command.task is not None and self._should_drop(command):
            # The host has done the work; only its answer is lost, the case a client must re-check after.
            raise DropConnection(command.op or command.command_line)
        return self._output(request, command, result)

    def _output(self, request: soap.WSManRequest, command: Command, result: CommandResult) -> bytes:
        budget = min(MAX_RAW_PER_RECEIVE, max((request.max_envelope_size - 4096) * 3 // 4, 1024))
        chunks: list[tuple[str, str]] = []
        out = result.stdout[command.stdout_pos : command.stdout_pos + budget]
        command.stdout_pos += len(out)
        budget -= len(out)
        err = result.stderr[command.stderr_pos : command.stderr_pos + budget] if budget > 0 else b""
        command.stderr_pos += len(err)
        if out:
            chunks.append(("stdout", base64.b64encode(out).decode()))
        if err:
            chunks.append(("stderr", base64.b64encode(err).decode()))
        done = command.stdout_pos >= len(result.stdout) and command.stderr_pos >= len(result.stderr)
        return soap.receive_response(request.message_id, command.id, chunks, done, result.exit_code if done else None)

    def _signal(self, request: soap.WSManRequest, shell: Shell) -> bytes:
        signal = request.body.find("rsp:Signal", soap.NS)
        if signal is None:
            raise soap.fault_invalid("The Signal request has no rsp:Signal element.")
        command = self._command_of(shell, signal.attrib.get("CommandId"))
        code_node = signal.find("rsp:Code", soap.NS)
        code = (code_node.text or "").strip().lower() if code_node is not None else ""
        if code.endswith(("/terminate", "/ctrl_c", "/ctrl_break")):
            # The process is gone for the client; a runner still working in its thread finishes unobserved.
            shell.commands.pop(command.id, None)
        else:
            raise soap.fault_invalid(f"The signal code {code} is not supported.")
        return soap.signal_response(request.message_id)
