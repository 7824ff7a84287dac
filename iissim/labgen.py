"""Generate a lab of N hosts for benchmarks: each host with M store certificates, P password-protected PFX files
and B https bindings, on distinct 127.x.y.z addresses.

    python -m iissim.labgen --hosts 500 --out var/lab500.yaml
    python -m iissim --lab var/lab500.yaml

Certificates of one host share an ECDSA key (a `key_group`) and PFX files are produced on first read (`lazy`),
so that a 500-host lab starts in seconds; everything else is an ordinary lab file.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

import yaml

BUILDS = (14393, 17763, 20348)
SVC_USER = "LAB\\svc-thumbprint"
SVC_PASSWORD = "Thumbprint-Lab-1!"


def host_address(network: str, index: int) -> str:
    """Host `index` of a generated lab: 250 hosts per /24, starting at .1 of `network` (127.x.0.0)."""
    base = ipaddress.IPv4Address(network)
    address = ipaddress.IPv4Address(int(base) + ((index // 250) << 8) + (index % 250) + 1)
    if not address.is_loopback:
        raise ValueError("the lab does not fit into 127.0.0.0/8 from this network")
    return str(address)


def generate_lab(
    hosts: int,
    *,
    network: str = "127.100.0.0",
    store_certificates: int = 50,
    pfx_files: int = 10,
    bindings: int = 20,
    winrm_http_port: int = 5985,
    winrm_https_port: int | None = 5986,
    domain: str = "lab.test",
) -> dict[str, Any]:
    if bindings > store_certificates:
        raise ValueError("each https binding needs its own store certificate")
    certificates: dict[str, Any] = {}
    host_specs: list[dict[str, Any]] = []
    sites_per_host = max(1, (bindings + 3) // 4)
    for i in range(hosts):
        name = f"SIM{i:04d}"
        host_domain = f"{name.lower()}.{domain}"
        cert_ids = []
        for j in range(store_certificates):
            cert_id = f"{name}-c{j:02d}"
            cert_ids.append(cert_id)
            spec: dict[str, Any] = {
                "subject": f"CN=app{j:02d}.{host_domain}",
                "dns": [f"app{j:02d}.{host_domain}"],
                "key": "ec256",
                "key_group": name,
            }
            if j % 10 == 9:
                spec.update(not_before="-400d", not_after="-5d")
            certificates[cert_id] = spec
        webhosting = cert_ids[-max(1, store_certificates // 5) :]
        sites = []
        for k in range(sites_per_host):
            site_bindings: list[Any] = [f"http *:80:site{k}.{host_domain}"]
            for m in range(4):
                j = k * 4 + m
                if j >= bindings:
                    break
                site_bindings.append(
                    {
                        "protocol": "https",
                        "info": f"*:443:app{j:02d}.{host_domain}",
                        "ssl_flags": 1,
                        "certificate": cert_ids[j],
                        "store": "WebHosting" if cert_ids[j] in webhosting else "My",
                    }
                )
            sites.append({"id": k + 1, "name": f"Site {k + 1}", "bindings": site_bindings})
        files = [
            {
                "path": f"C:\\certs\\export\\app{j:02d}.pfx",
                "lazy": True,
                "pfx": {
                    "certificate": cert_ids[j % store_certificates],
                    "password": f"Pfx-{name}-{j}",
                    "encryption": "legacy" if BUILDS[i % 3] == 14393 else "aes256",
                },
            }
            for j in range(pfx_files)
        ]
        host_specs.append(
            {
                "name": name,
                "fqdn": host_domain,
                "address": host_address(network, i),
                "build": BUILDS[i % 3],
                "users": [{"name": SVC_USER, "password": SVC_PASSWORD}],
                "winrm": {"http_port": winrm_http_port, "https_port": winrm_https_port, "auth": ["negotiate", "ntlm"]},
                "stores": {
                    "My": [c for c in cert_ids if c not in webhosting],
                    "WebHosting": list(webhosting),
                },
                "sites": sites,
                "files": files,
            }
        )
    return {
        "lab": {"name": f"generated-{hosts}", "domain": domain},
        "certificates": certificates,
        "hosts": host_specs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--network", default="127.100.0.0")
    parser.add_argument("--store-certificates", type=int, default=50)
    parser.add_argument("--pfx-files", type=int, default=10)
    parser.add_argument("--bindings", type=int, default=20)
    args = parser.parse_args(argv)
    spec = generate_lab(
        args.hosts,
        network=args.network,
        store_certificates=args.store_certificates,
        pfx_files=args.pfx_files,
        bindings=args.bindings,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    args.out.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False), encoding="utf-8")
    print(f"wrote {args.out}: {args.hosts} hosts")


if __name__ == "__main__":
    main()
