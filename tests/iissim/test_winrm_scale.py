"""Many simulated WinRM services in one process and one event loop: 500 hosts, 1,000 listeners (HTTP + HTTPS), each
on its own loopback address, all serving at once; closing releases every port.

The hosts behind the listeners are `FakeHost` (tests/iissim/conftest.py), the one faked seam. Start-up time and
memory at this scale are measured by benchmarks, not asserted here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import socket

import pytest

from devices.iis.session import Endpoint, IISSession
from iissim.contract import TransportFaults
from iissim.winrm import LoopThread, WinRMListener, start_winrm
from tests.iissim.conftest import PASSWORD, USER, FakeHost, Pki, base_config

HOSTS = 500


def address(index: int, network: int) -> str:
    return f"127.{network}.{index // 250}.{index % 250 + 1}"


def test_one_loop_serves_500_hosts_on_1000_listeners(pki: Pki) -> None:
    network = random.SystemRandom().randint(64, 250)
    hosts = [FakeHost() for _ in range(HOSTS)]
    with LoopThread() as loop_thread:

        async def start_all() -> list[WinRMListener]:
            started = []
            for index, host in enumerate(hosts):
                config = base_config(pki, address=address(index, network))
                started.append(await start_winrm(config, host, TransportFaults()))
            return started

        listeners = loop_thread.run(start_all(), timeout=300)
        try:
            assert all(listener.http_port and listener.https_port for listener in listeners)
            sample = random.sample(range(HOSTS), 24)

            def operation(index: int) -> int:
                listener = listeners[index]
                scheme = "http" if index % 2 else "https"
                endpoint = Endpoint(
                    address(index, network),
                    scheme=scheme,
                    port=listener.http_port if scheme == "http" else listener.https_port,
                    auth="ntlm",
                    username=USER,
                    password=PASSWORD,
                    verify_tls=False,
                )
                with IISSession(endpoint) as session:
                    return int(session.run("ping", {"index": index}, "param($Params) 1")["params"]["index"])

            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                assert list(pool.map(operation, sample)) == sample
            # Each command reached its own host, and only that one.
            assert [len(hosts[index].calls) for index in sample] == [1] * len(sample)
            assert sum(len(host.calls) for host in hosts) == len(sample)
        finally:

            async def close_all() -> None:
                await asyncio.gather(*(listener.close() for listener in listeners))

            loop_thread.run(close_all(), timeout=120)

    first = listeners[0]
    with pytest.raises(ConnectionRefusedError), socket.create_connection((address(0, network), first.http_port), 2):
        pass
