"""Helpers and fixtures for tests that run simulated hosts: the demo lab on a private 127.x.y.0/24 with ephemeral
WinRM ports, sessions to its hosts, small hand-made labs, and plain-`ssl` handshakes against served bindings.

Test modules import the fixtures they use from here (`from tests.iissim.labtools import demo_lab`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from devices.iis.session import Endpoint, IISSession
from iissim.lab import Lab
from iissim.labfile import LabBuilder
from iissim.model.host import ShareRegistry, SimHost
from iissim.model.shell import encode_powershell_command
from iissim.pki import LabCA
from iissim.tls import handshake

ROOT = Path(__file__).resolve().parents[2]
DEMO_LAB = ROOT / "iissim" / "labs" / "demo.yaml"
SVC_USER = "LAB\\svc-thumbprint"
SVC_PASSWORD = "Thumbprint-Lab-1!"
BOOTSTRAP = encode_powershell_command("$x = $input | Out-String  # any bootstrap: the host never reads it")


@contextmanager
def running_demo_lab(**kwargs: Any) -> Iterator[Lab]:
    kwargs.setdefault("relocate_to", "auto")
    kwargs.setdefault("winrm_ports", "ephemeral")
    lab = Lab.from_file(DEMO_LAB, **kwargs).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def demo_lab() -> Iterator[Lab]:
    """A fresh demo lab per test (about a second to start): tests change its state."""
    with running_demo_lab() as lab:
        yield lab


def endpoint(
    lab: Lab,
    host: str,
    *,
    scheme: str = "http",
    auth: str = "negotiate",
    username: str = SVC_USER,
    password: str = SVC_PASSWORD,
    timeout: float = 30.0,
) -> Endpoint:
    sim = lab.host(host)
    port = lab.winrm_port(sim.name, "https" if scheme == "https" else "http")
    assert port, f"{host} has no {scheme} WinRM listener"
    return Endpoint(
        sim.state.addresses[0],
        scheme=scheme,  # type: ignore[arg-type]
        port=port,
        auth=auth,  # type: ignore[arg-type]
        username=username,
        password=password,
        ca_bundle=lab.ca_pem.decode(),
        timeout=timeout,
    )


def session(lab: Lab, host: str, **kwargs: Any) -> IISSession:
    return IISSession(endpoint(lab, host, **kwargs))


def served(lab: Lab, host: str, port: int, sni: str | None, ip: str | None = None) -> dict[str, Any]:
    """A plain Python ssl handshake against what the host serves on (ip, port) with SNI `sni`."""
    sim = lab.host(host)
    where = lab.served_endpoint(sim.name, ip or sim.state.addresses[0], port)
    if where is None:
        return {"error": "nothing listens", "code": "connection_refused"}
    return handshake(where[0], where[1], sni)


@cache
def shared_ca() -> LabCA:
    return LabCA.create("Unit Test Lab")


def build_host(host_spec: dict[str, Any], *, certificates: dict[str, Any] | None = None) -> SimHost:
    """A SimHost from one lab-file host entry, without any network listener (for model tests)."""
    spec = {"certificates": certificates or {}, "hosts": [host_spec]}
    builder = LabBuilder(spec, shared_ca(), ROOT)
    built = builder.build(host_spec)
    return SimHost(built.state, shares=ShareRegistry(builder.shares()))


def run(host: SimHost, op: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], int, bytes]:
    """Send one envelope to host.run_command as WinRS would: (document, exit code, stderr)."""
    envelope = {"op": op, "v": 1, "params": params or {}, "script": f"# {op}.ps1 stand-in"}
    result = host.run_command(
        f"powershell.exe -NoProfile -NonInteractive -EncodedCommand {BOOTSTRAP}", json.dumps(envelope).encode()
    )
    text = result.stdout.decode("utf-8")
    assert text.endswith("\r\n") and text.count("\r\n") == 1, "exactly one JSON document on stdout"
    return json.loads(text), result.exit_code, result.stderr


def ok(host: SimHost, op: str, params: dict[str, Any] | None = None) -> Any:
    document, code, _ = run(host, op, params)
    assert document["ok"] is True, document
    assert code == 0
    return document["data"]


def fail(host: SimHost, op: str, params: dict[str, Any] | None = None) -> dict[str, str]:
    document, code, _ = run(host, op, params)
    assert document["ok"] is False, document
    assert code != 0
    return document["error"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
