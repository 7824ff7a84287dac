"""Push validation at scale, and the WinRM cost of one push.

1. A generated lab (python -m iissim in its own process) with 100 hosts x 20 SNI https bindings = 2,000 TLS
   endpoints, recorded as pushed connector endpoints (PostgreSQL). The validation sweep
   (`connectors.validation.push_validation_sweep`: TLS handshakes with bounded concurrency on one event loop,
   every check recorded, endpoints and connectors updated) is timed against a raw asyncio loop that only opens a TLS
   connection to each endpoint and reads the served certificate, over the same endpoints, same concurrency, in the
   same run (alternating, after a warm-up of each). Target: sweep rate >= 70% of the raw loop's.
2. Three more hosts (Windows Server 2016, 2019, 2022) each get one real push (update certificate only on one
   binding) through the preview and the push executor, run in this process: the device operations and the
   WS-Management requests of the preview and of the push are printed per device. Target: one operation per push,
   then the portal's TLS check.

    .venv/bin/python benchmarks/push_validation.py [--hosts 100] [--bindings 20] [--rounds 5] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import djangosetup

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.70
PUSH_HOSTS = 3


def start_lab(hosts: int, bindings: int, workdir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    import yaml

    from iissim.labgen import generate_lab

    spec = generate_lab(hosts, store_certificates=bindings, pfx_files=0, bindings=bindings)
    lab_file = workdir / "lab.yaml"
    lab_file.write_text(yaml.dump(spec, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))
    state = workdir / "state"
    argv = [sys.executable, "-m", "iissim", "--lab", str(lab_file), "--state-dir", str(state)]
    argv += ["--relocate", "auto", "--ephemeral-winrm"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "iissim: ready" in line:
            break
    else:
        raise RuntimeError("the lab did not start")
    return proc, json.loads((state / "lab.json").read_text())


def lab_state(control_url: str, host: str) -> dict[str, Any]:
    from iissim.control import ControlClient

    return ControlClient(control_url, timeout=60).state(host)


# --- database set-up ------------------------------------------------------------------------------------------------


def onboard(info: dict[str, Any]) -> dict[str, Any]:
    from devices.choices import CertSync, CredentialType, GatewayMode
    from devices.services import DeviceInput, device_create

    devices = {}
    for host in info["hosts"]:
        user = host["users"][0]
        data = DeviceInput(
            name=host["name"],
            hostname=host["address"],
            data_center="bench",
            cert_sync=CertSync.MANAGED,
            credential_type=CredentialType.MANUAL,
            username=user["name"],
            password=user["password"],
            gateway_mode=GatewayMode.INTEGRATED,
            winrm_scheme="https",
            winrm_port=host["winrm"]["https_port"],
            winrm_auth="ntlm",
            verify_tls=True,
            ca_bundle=info["ca_pem"],
        )
        devices[host["name"]] = device_create(data=data, validate=False)
    return devices


def endpoints_from_lab(info: dict[str, Any], devices: dict[str, Any], names: list[str]) -> int:
    """Each https binding of the sweep hosts becomes a watched endpoint of a pushed connector (one connector and one
    certificate row per host; the expected thumbprint is what the simulator has bound there)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from certificates.choices import CertificateStatus
    from certificates.services import certificate_record
    from certificates.x509 import parse_der
    from connectors.models import AppConnector, ConnectorEndpoint
    from devices.profiles import parse_binding_information

    ca = x509.load_pem_x509_certificate(info["ca_pem"].encode())
    parsed_ca = parse_der(ca.public_bytes(serialization.Encoding.DER))
    owner, _ = certificate_record(parsed=parsed_ca, status=CertificateStatus.MONITORED)
    rows = []
    for name in names:
        state = lab_state(info["control_url"], name)
        connector = AppConnector.objects.create(certificate=owner, name=f"bench {name}", bind_type="update_certificate")
        for site in state["sites"]:
            for binding in site["bindings"]:
                if binding["protocol"] != "https":
                    continue
                ip, port, host = parse_binding_information(binding["binding_information"])
                rows.append(
                    ConnectorEndpoint(
                        connector=connector,
                        device=devices[name],
                        site=site["name"],
                        address=devices[name].hostname,
                        ip=ip,
                        port=int(port or 443),
                        host=host,
                        expected_thumbprint=binding["certificate_hash"],
                    )
                )
    ConnectorEndpoint.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- the baseline ---------------------------------------------------------------------------------------------------


async def raw_loop(endpoints: list[tuple[str, int, str]], concurrency: int, timeout: float) -> int:
    """Open TLS to each endpoint (with SNI) and read the served leaf; nothing else. Returns how many served one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    limit = asyncio.Semaphore(concurrency)

    async def one(address: str, port: int, host: str) -> bool:
        async with limit:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port, ssl=context, server_hostname=host or None), timeout
                )
            except (OSError, TimeoutError, ssl.SSLError):
                return False
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            return bool(der)

    results = await asyncio.gather(*(one(*e) for e in endpoints))
    return sum(results)


def timed_raw(endpoints: list[tuple[str, int, str]], concurrency: int) -> tuple[float, int]:
    started = time.perf_counter()
    served = asyncio.run(raw_loop(endpoints, concurrency, 5.0))
    return time.perf_counter() - started, served


def timed_sweep(concurrency: int) -> tuple[float, Any]:
    from connectors.validation import push_validation_sweep

    started = time.perf_counter()
    sweep = push_validation_sweep(trigger="benchmark", concurrency=concurrency)
    return time.perf_counter() - started, sweep


# --- one real push per build ----------------------------------------------------------------------------------------


def _certificate(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from certificates.choices import CertificateStatus, KeyLocation
    from certificates.models import PrivateKey
    from certificates.services import certificate_record
    from certificates.x509 import parse_der

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    parsed = parse_der(cert.public_bytes(serialization.Encoding.DER))
    certificate, _ = certificate_record(parsed=parsed, status=CertificateStatus.MANAGED)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    PrivateKey.objects.create(
        certificate=certificate,
        location=KeyLocation.PORTAL,
        key_type=parsed.key_type,
        key_size=parsed.key_size,
        pkcs8=pkcs8,
        public_key_sha256=parsed.public_key_sha256,
    )
    return certificate


def push_once(device: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Validate the device (facts, sites), then push a new certificate to its first https binding."""
    from clm.users import user_upsert
    from connectors.models import PushDevice
    from connectors.previewing import push_preview_run
    from connectors.rules import ConnectorInput
    from connectors.services import connector_create, push_request
    from devices.models import DeviceValidation
    from devices.selectors import device_profiles
    from devices.validation import device_validation_run
    from workorders.services import workorder_approve, workorder_execute, workorder_implement

    validation = DeviceValidation.objects.create(device=device, gateway_name="integrated-gateway", queue="devices")
    device_validation_run(validation_id=validation.pk)
    device.refresh_from_db()
    profile = next(p for p in device_profiles(device=device) if p.protocol == "https")
    from django.contrib.auth import get_user_model

    users = {}
    for name, role in (("bench-req", "requester"), ("bench-a", "approver"), ("bench-b", "approver")):
        user_upsert(username=name, roles=[role, "implementer"] if role == "requester" else [role])
        users[name] = get_user_model().objects.get(username=name)
    certificate = _certificate(profile.host or f"{device.name.lower()}.bench.test")
    data = ConnectorInput(
        name=f"bench push {device.name}",
        devices=[device.pk],
        bind_type="update_certificate",
        profiles=[profile.name],
        friendly_name="benchmark",
    )
    connector = connector_create(certificate=certificate, data=data, user=users["bench-req"])
    with (
        mock.patch("connectors.tasks.push_preview_task.apply_async"),
        mock.patch("workorders.tasks.workorder_execute_task.apply_async"),
        mock.patch("workorders.tasks.notification_email_task.delay"),
    ):
        (order,) = push_request(connector=connector, user=users["bench-req"])
        push_preview_run(work_order_id=order.pk)
        preview_trips = PushDevice.objects.get(work_order=order).round_trips
        for approver in ("bench-a", "bench-b"):
            workorder_approve(work_order_id=order.pk, user=users[approver])
        workorder_implement(work_order_id=order.pk, user=users["bench-req"])
        started = time.perf_counter()
        outcome = workorder_execute(work_order_id=order.pk, attempt=1)
        elapsed = time.perf_counter() - started
    row = PushDevice.objects.get(work_order=order)
    return {
        "device": device.name,
        "build": device.os_build,
        "outcome": outcome.status,
        "pfx": row.preview.get("pfx_algorithm"),
        "preview_requests": preview_trips,
        "operations": row.operations,
        "push_requests": row.round_trips - preview_trips,
        "tls_checks": len(row.evidence),
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--bindings", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    djangosetup.setup("clm_bench_push", fresh=True)
    from connectors.models import ConnectorEndpoint

    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        started = time.perf_counter()
        lab, info = start_lab(args.hosts + PUSH_HOSTS, args.bindings, Path(tmp))
        try:
            print(f"push_validation benchmark, {djangosetup.machine()}")
            print(f"lab: {len(info['hosts'])} hosts started in {time.perf_counter() - started:.1f} s (own process)")
            devices = onboard(info)
            names = [h["name"] for h in info["hosts"]]
            push_names, sweep_names = names[:PUSH_HOSTS], names[PUSH_HOSTS:]
            total = endpoints_from_lab(info, devices, sweep_names)
            endpoints = list(ConnectorEndpoint.objects.filter(active=True).values_list("address", "port", "host"))
            print(f"endpoints: {total} ({len(sweep_names)} hosts x {args.bindings} SNI https bindings)")

            timed_raw(endpoints, args.concurrency)  # warm-up
            timed_sweep(args.concurrency)
            raw_times, sweep_times, failures = [], [], []
            for index in range(args.rounds):
                # Alternate which goes first, so that neither always meets the lab's leftovers of the other.
                for kind in ("raw", "sweep") if index % 2 == 0 else ("sweep", "raw"):
                    if kind == "raw":
                        seconds, served = timed_raw(endpoints, args.concurrency)
                        raw_times.append(seconds)
                        assert served == total, f"raw loop: only {served} of {total} endpoints served a certificate"
                    else:
                        seconds, sweep = timed_sweep(args.concurrency)
                        sweep_times.append(seconds)
                        failures.append(sweep.failed)
            raw_rate = total / statistics.median(raw_times)
            sweep_rate = total / statistics.median(sweep_times)
            ratio = sweep_rate / raw_rate
            print(f"concurrency {args.concurrency}, {args.rounds} rounds (order alternating) after one warm-up of each")
            print(f"raw asyncio TLS loop : median {statistics.median(raw_times):6.2f} s  {raw_rate:7.0f} endpoints/s")
            print(
                f"validation sweep     : median {statistics.median(sweep_times):6.2f} s  {sweep_rate:7.0f} endpoints/s"
                f"  (checks recorded, endpoints and connectors updated; failed checks per round: {failures})"
            )
            print(f"ratio sweep / raw    : {ratio:.0%}  (target >= {TARGET_RATIO:.0%})")

            print("one push per build (update certificate only on one binding), WinRM cost:")
            pushes = [push_once(devices[name], info) for name in push_names]
            for p in pushes:
                print(
                    f"  {p['device']} build {p['build']}: {p['outcome']}, PFX {p['pfx']}; preview "
                    f"{p['preview_requests']} WS-Man requests; push: operations {p['operations']} = "
                    f"{len(p['operations'])} round trip(s), {p['push_requests']} WS-Man requests "
                    f"(shell Create + Command, Send, Receive, Signal), then {p['tls_checks']} portal TLS check(s); "
                    f"{p['seconds'] * 1000:.0f} ms"
                )
            ok = ratio >= TARGET_RATIO and all(p["operations"] == ["push_and_bind"] for p in pushes)
            print("PASS" if ok else "FAIL")
        finally:
            lab.terminate()
            lab.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
