"""Lab files and running labs: relocation, state that survives a restart, what the portal reads, the command line,
and generated labs."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iissim.lab import Lab, allocate_network
from iissim.labfile import LabFileError, lab_networks, read_lab_file, relocate
from iissim.labgen import generate_lab
from iissim.model.pfx import load_pfx
from tests.iissim.labtools import DEMO_LAB, ROOT, b64, ok, served, shared_ca


def test_relocation_moves_every_loopback_address_of_hosts_and_shares() -> None:
    spec = read_lab_file(DEMO_LAB)
    assert lab_networks(spec) == ["127.10.0"]
    moved = relocate(spec, "127.77.3.0")
    text = json.dumps(moved["hosts"])
    assert "127.10.0." not in text and "127.77.3.19" in text and "127.77.3.119:443:" in text
    with pytest.raises(LabFileError):
        relocate(spec, "10.0.0.0")


def test_two_allocations_never_share_a_network() -> None:
    first, lock_a = allocate_network()
    second, lock_b = allocate_network()
    try:
        assert first != second and first.startswith("127.") and first.endswith(".0")
    finally:
        lock_a.close()
        lock_b.close()


def test_state_survives_a_restart_with_a_state_dir(tmp_path: Path) -> None:
    network, lock = allocate_network()
    try:
        kwargs = {"state_dir": tmp_path, "relocate_to": network, "winrm_ports": "ephemeral"}
        with Lab.from_file(DEMO_LAB, **kwargs) as lab:
            ca_pem = lab.ca_pem
            material = shared_ca().issue(common_name="shop.lab.test", key_type="ec256")
            target = {"action": "update_certificate", "site": "Shop", "binding_information": "*:443:shop.lab.test"}
            pushed = ok(
                lab.host("IIS2019"),
                "push_and_bind",
                {"pfx_b64": b64(material.pfx("p", "aes256")), "pfx_password": "p", "bindings": [target]},
            )
            info = json.loads((tmp_path / "lab.json").read_text())
        assert (tmp_path / "hosts" / "IIS2019.json").stat().st_mode & 0o077 == 0
        with Lab.from_file(DEMO_LAB, **kwargs) as lab:
            assert lab.ca_pem == ca_pem
            assert served(lab, "IIS2019", 443, "shop.lab.test")["thumbprint"] == pushed["thumbprint"]
            lab.host("IIS2019").reset()  # reset goes back to the lab's first state, not the saved one
            assert served(lab, "IIS2019", 443, "shop.lab.test")["thumbprint"] != pushed["thumbprint"]
    finally:
        lock.close()
    hosts = {h["name"]: h for h in info["hosts"]}
    assert hosts["IIS2016"]["users"][0] == {"name": "LAB\\svc-thumbprint", "password": "Thumbprint-Lab-1!"}
    assert hosts["IIS2019"]["address"] == network.rsplit(".", 1)[0] + ".19"
    assert info["ca_pem"].startswith("-----BEGIN CERTIFICATE-----") and info["control_url"].startswith("http://")


def test_python_m_iissim_runs_a_lab_until_terminated(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iissim",
            "--lab",
            str(DEMO_LAB),
            "--state-dir",
            str(tmp_path),
            "--relocate",
            "auto",
            "--ephemeral-winrm",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "iissim: ready" in line or not line:
                break
        assert any("iissim: ready" in line for line in lines), "".join(lines)
        assert any("IIS2016" in line and "build 14393" in line for line in lines)
        info = json.loads((tmp_path / "lab.json").read_text())
        assert len(info["hosts"]) == 3 and info["hosts"][0]["winrm"]["running"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "iissim: stopped" in out


def test_a_generated_lab_has_the_requested_shape_and_real_pfx_files() -> None:
    network, lock = allocate_network()
    try:
        spec = generate_lab(3, network=network, store_certificates=6, pfx_files=2, bindings=5)
        with Lab(spec, winrm_ports="ephemeral", serve_winrm=False) as lab:
            host = lab.host("SIM0002")
            assert host.state.build == 20348 and host.state.addresses == [network.rsplit(".", 1)[0] + ".3"]
            bindings = [b for s in ok(host, "list_sites")["sites"] for b in s["bindings"] if b["protocol"] == "https"]
            assert len(bindings) == 5
            assert len(ok(host, "list_store_certificates", {"include_der": False})["certificates"]) == 6
            files = ok(host, "list_files", {"path": "C:\\certs"})["files"]
            assert [f["name"] for f in files] == ["app00.pfx", "app01.pfx"]
            loaded = load_pfx(base64.b64decode(files[1]["content_b64"]), "Pfx-SIM0002-1")
            assert loaded.leaf.subject.rfc4514_string() == "CN=app01.sim0002.lab.test"
            assert served(lab, "SIM0002", 443, "app04.sim0002.lab.test")["subject"] == "CN=app04.sim0002.lab.test"
    finally:
        lock.close()
