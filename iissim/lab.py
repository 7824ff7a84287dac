"""A running lab: simulated hosts with their WinRM endpoints, IIS binding listeners (real TLS) and the control API,
all in one process. The asyncio loop runs on a background thread; `Lab` is used from ordinary (test) code.

    with Lab.from_file("iissim/labs/demo.yaml", relocate_to="auto", winrm_ports="ephemeral") as lab:
        host = lab.host("IIS2019")
        lab.winrm_port("IIS2019", "https")
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fcntl
import json
import logging
import os
import random
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from cryptography.hazmat.primitives import serialization

from iissim.contract import WinRMConfig
from iissim.control import ControlServer
from iissim.labfile import LabBuilder, LabFileError, read_lab_file, relocate
from iissim.model.host import ShareRegistry, SimHost
from iissim.model.state import HostState, Share
from iissim.pki import LabCA
from iissim.tls import TlsServer

log = logging.getLogger(__name__)
_T = TypeVar("_T")
NETWORK_LOCK_DIR = Path(tempfile.gettempdir()) / "iissim-networks"


def allocate_network(attempts: int = 200) -> tuple[str, IO[bytes]]:
    """A 127.x.y.0/24 network no other lab on this machine holds (an flock'ed file per network while it runs)."""
    NETWORK_LOCK_DIR.mkdir(exist_ok=True)
    rng = random.SystemRandom()
    for _ in range(attempts):
        net = f"127.{rng.randint(64, 250)}.{rng.randint(0, 255)}.0"
        handle = open(NETWORK_LOCK_DIR / f"{net}.lock", "wb")  # noqa: SIM115 - held for the lab's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return net, handle
    raise RuntimeError("no free 127.x.y.0/24 network")


def default_port_offset() -> int:
    """Ports below 1024 need root (or a lowered ip_unprivileged_port_start); otherwise they move up by 10000."""
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return 0 if os.geteuid() == 0 or start <= 80 else 10000


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="iissim-lab", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = 120) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Lab:
    """Hosts built from a lab spec, served until `stop()`."""

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        base_dir: str | Path = ".",
        state_dir: str | Path | None = None,
        relocate_to: str | None = None,
        winrm_ports: Literal["lab", "ephemeral"] = "lab",
        control_address: str | None = None,
        control_port: int | None = None,
        port_offset: int | None = None,
        serve_tls: bool = True,
        serve_winrm: bool = True,
    ) -> None:
        self._network_lock: IO[bytes] | None = None
        if relocate_to == "auto":
            relocate_to, self._network_lock = allocate_network()
        self.spec = relocate(spec, relocate_to) if relocate_to else spec
        self.relocated_to = relocate_to
        self.base_dir = Path(base_dir)
        self.state_dir = Path(state_dir) if state_dir else None
        self.winrm_ports = winrm_ports
        lab_cfg = self.spec.get("lab") or {}
        control_cfg = lab_cfg.get("control") or {}
        self.control_address = control_address or str(control_cfg.get("address") or "127.0.0.1")
        self.control_port = control_port if control_port is not None else int(control_cfg.get("port") or 0)
        self.port_offset = default_port_offset() if port_offset is None else port_offset
        self.serve_tls = serve_tls
        self.serve_winrm = serve_winrm
        self.name = str(lab_cfg.get("name") or "lab")
        self.hosts: dict[str, SimHost] = {}
        self.winrm_configs: dict[str, WinRMConfig] = {}
        self.users: dict[str, dict[str, str]] = {}
        self.winrm_listeners: dict[str, Any] = {}
        self.shares = ShareRegistry()
        self.ca: LabCA | None = None
        self.tls: TlsServer | None = None
        self.control: ControlServer | None = None
        self._loop: _LoopThread | None = None
        self._persist_lock = threading.Lock()
        self.winrm_error: str | None = None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Lab:
        spec = read_lab_file(path)
        kwargs.setdefault("base_dir", Path(path).resolve().parent)
        return cls(spec, **kwargs)

    # -- start and stop -------------------------------------------------------------------------------------------

    def start(self) -> Lab:
        self.ca = self._load_or_create_ca()
        builder = LabBuilder(self.spec, self.ca, self.base_dir)
        self.shares = ShareRegistry(self._load_shares(builder))
        names: set[str] = set()
        for host_spec in self.spec.get("hosts") or []:
            if str(host_spec["name"]).lower() in names:
                raise LabFileError(f"host name {host_spec['name']} appears twice")
            names.add(str(host_spec["name"]).lower())
            built = builder.build(host_spec)
            state = built.state
            initial: dict[str, Any] | HostState | None = None
            saved = self._saved_host(built.state.name)
            if saved is not None:
                state, initial = saved
            host = SimHost(state, shares=self.shares, initial=initial)
            config = built.winrm
            if self.winrm_ports == "ephemeral":
                config = replace(
                    config,
                    http_port=0 if config.http_port is not None else None,
                    https_port=0 if config.https_port is not None else None,
                )
            self.hosts[host.name] = host
            self.winrm_configs[host.name] = config
            self.users[host.name] = dict(built.users)
        self._loop = _LoopThread()
        try:
            self._loop.run(self._start_async())
            for host in self.hosts.values():
                host.on_change.append(self._on_change)
                if self.tls is not None:
                    host.tls_probe = self.tls.probe
            self.control = ControlServer(self, self.control_address, self.control_port).start()
            self._persist_all()
            self._write_info()
        except BaseException:
            self.stop()
            raise
        return self

    async def _start_async(self) -> None:
        assert self._loop is not None
        if self.serve_tls:
            self.tls = TlsServer(self._loop.loop, self._map_port)
            for host in self.hosts.values():
                await self.tls.sync(host)
        if self.serve_winrm:
            try:
                from iissim.winrm import start_winrm
            except ImportError as exc:  # the endpoint is a separate part of iissim; a lab can run without it
                self.winrm_error = f"WinRM endpoint unavailable: {exc}"
                log.warning("iissim: %s", self.winrm_error)
                return
            for name, host in self.hosts.items():
                self.winrm_listeners[name] = await start_winrm(self.winrm_configs[name], host, host.transport_faults)

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.run(self._stop_async(), timeout=30)
            self._loop.stop()
            self._loop = None
        self._persist_all()
        if self._network_lock is not None:
            self._network_lock.close()
            self._network_lock = None

    async def _stop_async(self) -> None:
        for listener in self.winrm_listeners.values():
            with contextlib.suppress(Exception):
                await listener.aclose()
        self.winrm_listeners.clear()
        if self.tls is not None:
            await self.tls.close()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- hooks ----------------------------------------------------------------------------------------------------

    def _map_port(self, port: int) -> int:
        return port + self.port_offset if port < 1024 else port

    def _on_change(self, host: SimHost) -> None:
        """After a change: listeners follow the started sites' bindings; the state is saved."""
        if self.tls is not None and self._loop is not None:
            loop = self._loop.loop
            if threading.current_thread() is self._loop.thread:
                loop.create_task(self.tls.sync(host))
            else:
                asyncio.run_coroutine_threadsafe(self.tls.sync(host), loop).result(30)
        self._persist(host)

    # -- persistence ----------------------------------------------------------------------------------------------

    def _load_or_create_ca(self) -> LabCA:
        if self.state_dir is not None:
            existing = LabCA.load(self.state_dir)
            if existing is not None:
                return existing
        ca = LabCA.create(str((self.spec.get("lab") or {}).get("ca_name") or "Thumbprint Lab"))
        if self.state_dir is not None:
            ca.save(self.state_dir)
        return ca

    def _saved_host(self, name: str) -> tuple[HostState, dict[str, Any]] | None:
        if self.state_dir is None:
            return None
        path = self.state_dir / "hosts" / f"{name}.json"
        if not path.exists():
            return None
        saved = json.loads(path.read_text())
        return HostState.from_dict(saved["state"]), saved["initial"]

    def _load_shares(self, builder: LabBuilder) -> list[Share]:
        if self.state_dir is not None and (self.state_dir / "shares.json").exists():
            data = json.loads((self.state_dir / "shares.json").read_text())
            return [Share.from_dict(s) for s in data]
        return builder.shares()

    def _write_atomic(self, path: Path, text: str, mode: int = 0o600) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        os.replace(tmp, path)

    def _persist(self, host: SimHost) -> None:
        if self.state_dir is None:
            return
        with host.lock:
            document = {"state": host.state.to_dict(), "initial": host.initial_dict()}
        with self._persist_lock:
            self._write_atomic(self.state_dir / "hosts" / f"{host.name}.json", json.dumps(document))
            with self.shares.lock:
                shares = [s.as_dict() for s in self.shares.shares.values()]
            self._write_atomic(self.state_dir / "shares.json", json.dumps(shares))

    def _persist_all(self) -> None:
        for host in self.hosts.values():
            self._persist(host)

    def _write_info(self) -> None:
        if self.state_dir is None or self.ca is None:
            return
        self._write_atomic(self.state_dir / "lab.json", json.dumps(self.info(), indent=2))
        (self.state_dir / "lab-ca.pem").write_bytes(self.ca.root.cert.public_bytes(serialization.Encoding.PEM))

    # -- lookups --------------------------------------------------------------------------------------------------

    def host(self, name: str) -> SimHost:
        found = self.find_host(name)
        if found is None:
            raise KeyError(name)
        return found

    def find_host(self, name: str) -> SimHost | None:
        for key, host in self.hosts.items():
            if key.lower() == name.lower() or host.state.fqdn.lower() == name.lower():
                return host
        return None

    @property
    def ca_pem(self) -> bytes:
        assert self.ca is not None
        return self.ca.root.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def control_url(self) -> str:
        assert self.control is not None
        return self.control.url

    def winrm_port(self, name: str, scheme: Literal["http", "https"] = "https") -> int | None:
        listener = self.winrm_listeners.get(self.host(name).name)
        if listener is None:
            return None
        return listener.https_port if scheme == "https" else listener.http_port

    def served_endpoint(self, name: str, ip: str, port: int, scheme: str = "https") -> tuple[str, int] | None:
        """Where a binding endpoint of the model (`ip` = a host address or IPv6 address) really listens."""
        if self.tls is None:
            return None
        return self.tls.endpoint_for(self.host(name).name, ip, port, scheme)

    def listeners(self, name: str) -> list[dict[str, Any]]:
        return self.tls.host_listeners(name) if self.tls is not None else []

    def host_summary(self, host: SimHost, *, with_passwords: bool = False) -> dict[str, Any]:
        config = self.winrm_configs[host.name]
        listener = self.winrm_listeners.get(host.name)
        users = self.users.get(host.name, {})
        return {
            "name": host.name,
            "fqdn": host.state.fqdn,
            "address": host.state.addresses[0] if host.state.addresses else None,
            "addresses": list(host.state.addresses),
            "ipv6_addresses": list(host.state.ipv6_addresses),
            "build": host.state.build,
            "winrm": {
                "http_port": listener.http_port if listener else config.http_port,
                "https_port": listener.https_port if listener else config.https_port,
                "auth": list(config.auth_methods),
                "allow_unencrypted": config.allow_unencrypted,
                "cbt": config.cbt,
                "running": listener is not None,
            },
            "users": [{"name": u, "password": p} if with_passwords else {"name": u} for u, p in users.items()],
        }

    def info(self) -> dict[str, Any]:
        """What the portal's demo set-up reads (written to <state-dir>/lab.json): hosts, credentials, CA, control."""
        return {
            "name": self.name,
            "relocated_to": self.relocated_to,
            "port_offset": self.port_offset,
            "control_url": self.control.url if self.control else None,
            "ca_pem": self.ca_pem.decode() if self.ca else None,
            "ca_file": str(self.state_dir / "lab-ca.pem") if self.state_dir else None,
            "winrm_error": self.winrm_error,
            "shares": [
                {"unc": s.unc, "username": s.username, "password": s.password} for s in self.shares.shares.values()
            ],
            "hosts": [self.host_summary(h, with_passwords=True) for h in self.hosts.values()],
        }

    def spec_copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec)
