"""Median round trip of one IIS operation through each WinRM client library against the simulator.

Starts the demo lab (iissim/labs/demo.yaml) in this process and measures, against host IIS2019 and in the same run:

- baseline: pypsrp `Client.execute_cmd("hostname")` (bare WinRS: Create, Command, Receive, Signal, Delete) on one
  kept-alive client;
- pypsrp: `IISSession.run("host_facts", ...)` (devices/iis/session.py: bootstrap command line, JSON envelope on
  stdin, one JSON document back) on one open session;
- pywinrm: the same bootstrap + envelope through pywinrm's `Protocol` (`run_command`, `send_command_input`,
  `get_command_output`, `cleanup_command`) on one open shell.

Each over NTLM with message encryption on HTTP and over NTLM on HTTPS (validated against the lab CA). Prints median
and p90 in milliseconds, WS-Man/HTTP requests per call (counted by the simulator) and the ratio of each operation to
the baseline (target <= 1.2x). `--record` also writes the output into this script's section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/winrm_roundtrip.py [-n 200] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pypsrp.client import Client  # noqa: E402
from winrm.protocol import Protocol  # noqa: E402

from devices.iis.operations import script_text  # noqa: E402
from devices.iis.session import STDIN_CHUNK, Endpoint, IISSession, bootstrap_arguments, build_envelope  # noqa: E402
from iissim.lab import Lab  # noqa: E402

HOST = "IIS2019"
ACCOUNT = "LAB\\svc-thumbprint"
OP = "host_facts"
SECTION = "## WinRM round trip (benchmarks/winrm_roundtrip.py)"


def measure(
    calls: dict[str, Callable[[], object]], n: int, warmup: int, counters: Callable[[], Counter[str]]
) -> dict[str, dict[str, float]]:
    """Time the calls interleaved (one of each per round), so that drift and load from other processes on the
    machine weigh on every row alike; requests are counted by the simulator around each single call."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    totals: dict[str, Counter[str]] = {name: Counter() for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            before = counters()
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1000)
            totals[name].update(counters() - before)
    rows = {}
    for name, values in samples.items():
        values.sort()
        count = totals[name]
        rows[name] = {
            "median": statistics.median(values),
            "p90": values[int(len(values) * 0.9) - 1],
            "soap": sum(count[k] for k in ("Create", "Command", "Send", "Receive", "Signal", "Delete")) / n,
            "http": count["http"] / n,
            "connections": count["connections"] / n,
        }
    return rows


def pywinrm_operation(protocol: Protocol, shell_id: str, envelope: bytes) -> bytes:
    command_id = protocol.run_command(shell_id, "powershell.exe", list(bootstrap_arguments()), console_mode_stdin=False)
    chunks = [envelope[i : i + STDIN_CHUNK] for i in range(0, len(envelope), STDIN_CHUNK)]
    for index, chunk in enumerate(chunks):
        protocol.send_command_input(shell_id, command_id, chunk, end=index == len(chunks) - 1)
    stdout, _stderr, rc = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    if rc != 0:
        raise RuntimeError(f"pywinrm operation failed with exit code {rc}")
    return stdout


def bench_transport(
    lab: Lab, scheme: Literal["http", "https"], ca_file: str, n: int, warmup: int
) -> dict[str, dict[str, float]]:
    host = lab.host(HOST)
    address = host.state.addresses[0]
    password = lab.users[HOST][ACCOUNT]
    listener = lab.winrm_listeners[HOST]
    port = lab.winrm_port(HOST, scheme)
    assert port is not None
    ssl = scheme == "https"
    script = script_text(OP)
    envelope = build_envelope(OP, {}, script)
    client = Client(
        address,
        port=port,
        ssl=ssl,
        username=ACCOUNT,
        password=password,
        auth="ntlm",
        cert_validation=ca_file if ssl else False,
        no_proxy=True,
    )
    endpoint = Endpoint(
        address,
        scheme=scheme,
        port=port,
        auth="ntlm",
        username=ACCOUNT,
        password=password,
        ca_bundle=lab.ca_pem.decode() if ssl else None,
    )
    protocol = Protocol(
        f"{scheme}://{address}:{port}/wsman",
        transport="ntlm",
        username=ACCOUNT,
        password=password,
        server_cert_validation="validate" if ssl else "ignore",
        ca_trust_path=ca_file if ssl else "legacy_requests",
        proxy=None,
    )
    with IISSession(endpoint) as session:
        shell_id = protocol.open_shell()

        def baseline() -> object:
            return client.execute_cmd("hostname")

        def ours() -> object:
            return session.run(OP, {}, script)

        def theirs() -> object:
            return pywinrm_operation(protocol, shell_id, envelope)

        rows = measure(
            {
                "pypsrp execute_cmd (baseline)": baseline,
                "pypsrp IISSession.run": ours,
                "pywinrm Protocol + stdin": theirs,
            },
            n,
            warmup,
            lambda: Counter(listener.stats),
        )
        protocol.close_shell(shell_id)
    client.close()
    return rows


def run(n: int, warmup: int) -> None:
    with Lab.from_file(ROOT / "iissim/labs/demo.yaml", relocate_to="auto", winrm_ports="ephemeral") as lab:
        script = script_text(OP)
        envelope = build_envelope(OP, {}, script)
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
            handle.write(lab.ca_pem)
            ca_file = handle.name
        try:
            address = lab.host(HOST).state.addresses[0]
            print(f"host {HOST} ({address}), op {OP}: script {len(script)} chars, envelope {len(envelope)} bytes")
            print(f"N={n} interleaved rounds after {warmup} warm-up rounds; times in ms; requests per call counted")
            print("by the simulator (SOAP = WS-Man requests, HTTP = all HTTP requests, conn = new TCP connections)")
            print(
                f"{'transport':<16}{'client':<34}{'median':>8}{'p90':>8}{'SOAP':>6}{'HTTP':>6}{'conn':>6}{'ratio':>8}"
            )
            schemes: tuple[Literal["http", "https"], ...] = ("http", "https")
            for scheme in schemes:
                label = "NTLM/HTTP+enc" if scheme == "http" else "NTLM/HTTPS"
                rows = bench_transport(lab, scheme, ca_file, n, warmup)
                baseline = rows["pypsrp execute_cmd (baseline)"]["median"]
                for name, row in rows.items():
                    print(
                        f"{label:<16}{name:<34}{row['median']:>8.2f}{row['p90']:>8.2f}{row['soap']:>6.1f}"
                        f"{row['http']:>6.1f}{row['connections']:>6.2f}{row['median'] / baseline:>7.2f}x"
                    )
        finally:
            os.unlink(ca_file)
    print("target: IISSession.run <= 1.2x the bare execute_cmd of the same run")


def record(output: str) -> Path:
    results = ROOT / "benchmarks" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPU, {platform.machine()}"
    )
    section = f"{SECTION}\n\nRun {stamp} ({machine}):\n\n```\n{output.rstrip()}\n```\n"
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    results.write_text(text)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="measured calls per row (default 200)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--record", action="store_true", help="write the output into benchmarks/RESULTS.md")
    args = parser.parse_args()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        run(args.n, args.warmup)
    output = buffer.getvalue()
    print(output, end="")
    if args.record:
        print(f"recorded in {record(output)}")


if __name__ == "__main__":
    main()
