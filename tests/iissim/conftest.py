"""Fixtures for the simulator's tests: a throw-away PKI for the WinRM HTTPS listener, a WinRM endpoint started on a
free loopback port, and `FakeHost`, a small CommandRunner for transport tests.

`FakeHost` is the one faked seam of the WinRM transport tests: it stands in for the simulated Windows host
(`iissim.model.host.SimHost`) so that the wire can be tested on its own (echo, sizes, slowness, envelopes).
Host-side fixtures may be appended below by the host helper.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iissim.contract import CommandResult, TransportFaults, WinRMConfig
from iissim.winrm import WinRMListener, serve_in_thread

USER = "winrm"
PASSWORD = "Pa$$w0rd!@'\"x"  # characters that break naive quoting
PROGRESS_CLIXML = (
    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    b'<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    b'<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.'
    b"</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj></Objs>"
)


# -- PKI ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    ca_file: Path
    cert_pem: bytes  # leaf + issuing CA
    key_pem: bytes
    other_ca_file: Path  # a CA that did not issue the server certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_server_cert(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    dns: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns[0] if dns else ips[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key_pem


def build_pki(directory: Path) -> Pki:
    ca, ca_key = make_ca("Thumbprint Test Lab CA")
    other, _ = make_ca("Somebody Else's CA")
    cert_pem, key_pem = issue_server_cert(ca, ca_key)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_pem)
    other_file = directory / "other-ca.pem"
    other_file.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    return Pki(ca_pem=ca_pem, ca_file=ca_file, cert_pem=cert_pem, key_pem=key_pem, other_ca_file=other_file)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("winrm-pki"))


# -- the faked host -------------------------------------------------------------------------------------------------


@dataclass
class Call:
    command_line: str
    stdin: bytes
    started: float
    finished: float = 0.0


@dataclass
class FakeHost:
    """A CommandRunner for transport tests (the faked seam; see the module docstring).

    Without a JSON envelope on stdin it understands a few commands of its own: `size N` (N bytes of stdout),
    `errsize N` (N bytes of stderr), `sleep S` (then echo), `exit N`; anything else echoes the command line and the
    stdin digest. With an envelope it answers as the bootstrap would: op `fail` -> ok=false rc 1, `sleep` sleeps
    params.seconds, `big` returns params.size characters, `noisy` adds a progress record on stderr, `nojson` prints
    text, `liar` says ok=false with rc 0; every other op returns {"op", "params", "script_sha256", "stdin_bytes"}.
    """

    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run_command(self, command_line: str, stdin: bytes) -> CommandResult:
        call = Call(command_line=command_line, stdin=stdin, started=time.monotonic())
        with self.lock:
            self.calls.append(call)
        try:
            return self._run(command_line, stdin)
        finally:
            call.finished = time.monotonic()

    def _run(self, command_line: str, stdin: bytes) -> CommandResult:
        envelope = _envelope(stdin)
        if envelope is not None:
            return self._op(envelope, stdin)
        words = command_line.split()
        verb, arg = (words[0], words[1]) if len(words) > 1 else (words[0] if words else "", "")
        if verb == "size":
            return CommandResult(stdout=_pattern(int(arg)))
        if verb == "errsize":
            return CommandResult(stdout=b"", stderr=_pattern(int(arg)))
        if verb == "sleep":
            time.sleep(float(arg))
        if verb == "exit":
            return CommandResult(stdout=b"", exit_code=int(arg))
        digest = hashlib.sha256(stdin).hexdigest()
        return CommandResult(stdout=f"{command_line}\n{len(stdin)} {digest}".encode())

    def _op(self, envelope: dict[str, Any], stdin: bytes) -> CommandResult:
        op = envelope.get("op")
        params = envelope.get("params") or {}
        if op == "fail":
            error = {"code": params.get("code", "boom"), "message": "it failed", "step": params.get("step", "bind")}
            return CommandResult(
                stdout=json.dumps({"ok": False, "error": error}).encode() + b"\r\n",
                stderr=PROGRESS_CLIXML,
                exit_code=1,
            )
        if op == "sleep":
            time.sleep(float(params.get("seconds", 1)))
        if op == "nojson":
            return CommandResult(stdout=b"Hello from the host\r\n", stderr=PROGRESS_CLIXML, exit_code=1)
        if op == "liar":
            return CommandResult(stdout=b'{"ok": false, "error": {"code": "x"}}', exit_code=0)
        data: Any
        if op == "big":
            data = {"blob": "x" * int(params["size"])}
        else:
            data = {
                "op": op,
                "v": envelope.get("v"),
                "params": params,
                "script_sha256": hashlib.sha256(str(envelope.get("script", "")).encode()).hexdigest(),
                "stdin_bytes": len(stdin),
            }
        stderr = PROGRESS_CLIXML if op == "noisy" else b""
        return CommandResult(stdout=json.dumps({"ok": True, "data": data}).encode() + b"\r\n", stderr=stderr)


def _envelope(stdin: bytes) -> dict[str, Any] | None:
    text = stdin.strip()
    if not text.startswith(b"{"):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "op" in doc else None


def _pattern(size: int) -> bytes:
    block = bytes(range(256))
    return (block * (size // 256 + 1))[:size]


# -- endpoint fixtures ----------------------------------------------------------------------------------------------


def base_config(pki: Pki, **overrides: Any) -> WinRMConfig:
    """Stock Windows settings (Negotiate/NTLM, no Basic, no unencrypted HTTP, CBT relaxed) on free loopback ports."""
    config = WinRMConfig(
        address="127.0.0.1",
        http_port=0,
        https_port=0,
        https_cert_pem=pki.cert_pem,
        https_key_pem=pki.key_pem,
        users={USER: PASSWORD, "IIS-SIM01\\admin2": "Other-Passw0rd"},
    )
    return replace(config, **overrides)


@dataclass
class RunningEndpoint:
    listener: WinRMListener
    host: FakeHost
    faults: TransportFaults

    @property
    def http(self) -> int:
        assert self.listener.http_port is not None
        return self.listener.http_port

    @property
    def https(self) -> int:
        assert self.listener.https_port is not None
        return self.listener.https_port


StartEndpoint = Callable[..., RunningEndpoint]


@contextmanager
def endpoint_factory(pki: Pki) -> Iterator[StartEndpoint]:
    """Yields `start(**config_overrides)`, which starts a WinRM endpoint serving a FakeHost; all stop on exit."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningEndpoint:
            host = FakeHost()
            faults = TransportFaults()
            listener = stack.enter_context(serve_in_thread(base_config(pki, **overrides), host, faults))
            return RunningEndpoint(listener=listener, host=host, faults=faults)

        yield start


@pytest.fixture
def winrm_endpoint(pki: Pki) -> Iterator[StartEndpoint]:
    """`winrm_endpoint(**config_overrides)` starts a WinRM endpoint serving a FakeHost; stopped after the test."""
    with endpoint_factory(pki) as start:
        yield start
