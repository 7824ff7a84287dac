"""Scale of the simulator: one process hosting N simulated hosts (default 500), each with 50 store certificates,
10 PFX files and 20 https bindings, its WinRM listeners (HTTP + HTTPS) and its IIS binding listeners (real TLS).

Prints the start time, the resident memory, and a baseline measured in the same run (the same lab built without
any listener) so the cost of the listeners shows as a ratio. Targets (issue 3): start < 30 s, RSS < 1 GB.

    python benchmarks/lab_scale.py [--hosts 500] [--no-check]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iissim.lab import Lab, allocate_network
from iissim.labgen import generate_lab
from iissim.tls import handshake


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--no-check", action="store_true", help="skip the spot checks after start")
    args = parser.parse_args()
    raise_fd_limit()
    network, lock = allocate_network()
    spec = generate_lab(args.hosts, network=network)
    print(f"lab: {args.hosts} hosts x 50 store certificates, 10 PFX files, 20 https bindings; from {network}")

    start_rss = rss_mb()
    t0 = time.perf_counter()
    baseline = Lab(spec, winrm_ports="ephemeral", serve_tls=False, serve_winrm=False).start()
    baseline_s = time.perf_counter() - t0
    baseline.stop()
    del baseline
    print(f"baseline (model only, no listeners): {baseline_s:.1f} s")

    t0 = time.perf_counter()
    lab = Lab(spec, winrm_ports="lab").start()
    start_s = time.perf_counter() - t0
    rss = rss_mb()
    try:
        listeners = sum(len(lab.listeners(name)) for name in lab.hosts)
        winrm = sum(1 for x in lab.winrm_listeners.values() for p in (x.http_port, x.https_port) if p)
        print(f"full lab start: {start_s:.1f} s (ratio to baseline {start_s / baseline_s:.2f}x), target < 30 s")
        print(f"RSS after start: {rss:.0f} MB (process start {start_rss:.0f} MB), target < 1024 MB")
        print(f"listeners: {winrm} WinRM, {listeners} IIS binding endpoints; errors: {lab.winrm_error}")
        if not args.no_check:
            last = lab.host(f"SIM{args.hosts - 1:04d}")
            where = lab.served_endpoint(last.name, last.state.addresses[0], 443)
            assert where is not None
            t1 = time.perf_counter()
            result = handshake(where[0], where[1], f"app07.{last.state.fqdn}")
            print(f"spot check {last.name}: {result.get('subject')} in {(time.perf_counter() - t1) * 1000:.1f} ms")
        verdict = "PASS" if start_s < 30 and rss < 1024 else "FAIL"
        print(f"{verdict}: start {start_s:.1f} s, RSS {rss:.0f} MB")
    finally:
        lab.stop()
        lock.close()


if __name__ == "__main__":
    main()
