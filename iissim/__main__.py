"""Run a lab: `python -m iissim --lab FILE [--state-dir DIR]` (see iissim/README.md).

Prints the hosts, their addresses, WinRM ports and credentials, the control API URL and the lab CA file, then
serves until interrupted (SIGINT/SIGTERM). With --state-dir the hosts' state survives restarts and
<state-dir>/lab.json describes the running lab for the portal's demo set-up.
"""

from __future__ import annotations

import argparse
import resource
import signal
import sys
import threading
from pathlib import Path

from iissim.lab import Lab


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iissim", description=__doc__)
    parser.add_argument("--lab", required=True, type=Path, help="lab file (YAML)")
    parser.add_argument("--state-dir", type=Path, help="keep state, the lab CA and lab.json here")
    parser.add_argument("--relocate", help="move the lab's addresses to this 127.x.y.0 network, or 'auto'")
    parser.add_argument("--ephemeral-winrm", action="store_true", help="WinRM on free ports instead of the lab's")
    parser.add_argument("--control-port", type=int, help="control API port (default: the lab file's, else free)")
    parser.add_argument("--port-offset", type=int, help="added to binding ports below 1024 (default: 0 as root)")
    args = parser.parse_args(argv)
    _raise_fd_limit()
    lab = Lab.from_file(
        args.lab,
        state_dir=args.state_dir,
        relocate_to=args.relocate,
        winrm_ports="ephemeral" if args.ephemeral_winrm else "lab",
        control_port=args.control_port,
        port_offset=args.port_offset,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lab.start()
    try:
        info = lab.info()
        print(f"iissim: lab '{info['name']}' with {len(info['hosts'])} hosts")
        for host in info["hosts"][:50]:
            users = ", ".join(f"{u['name']} / {u['password']}" for u in host["users"])
            print(
                f"  {host['name']:<10} {host['address']:<16} build {host['build']}  "
                f"WinRM http {host['winrm']['http_port']} https {host['winrm']['https_port']} "
                f"({'/'.join(host['winrm']['auth'])})  users: {users}"
            )
        if len(info["hosts"]) > 50:
            print(f"  ... and {len(info['hosts']) - 50} more")
        print(f"control API: {info['control_url']}")
        if args.state_dir:
            print(f"lab CA: {info['ca_file']}   lab description: {args.state_dir / 'lab.json'}")
        if info["winrm_error"]:
            print(f"warning: {info['winrm_error']}")
        print("iissim: ready", flush=True)
        stop.wait()
    finally:
        lab.stop()
        print("iissim: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
