"""Ingestion throughput of discovery, one process (= one core):

1. PFX files per second with the portal's reader (`certificates.pfx_reader.pfx_open`: certificates first, no key
   validation) -- for certificates only, with a wrong candidate password tried first, and with the PKCS#8 key
   extracted (Managed) -- against `cryptography`'s `load_pkcs12` (which validates the RSA key) on the same files.
   Target: >= 500 files/s per core.
2. X.509 ingestion (parse with discovery's parser `parse_der_for_inventory` + bulk upsert into PostgreSQL through
   `device_findings_apply`, 50 certificates per device as a host's store) as a share of the raw parse rate (the
   full-fields `certificates.x509.parse_der`, which also re-encodes the DER and hashes the public key) in the same
   run: three rounds on new certificates, raw parse and ingestion interleaved device by device, the verdict on the
   median of the rounds' shares. Target: >= 40 %.

    python benchmarks/ingest.py [--pfx 1000] [--certificates 5000] [--per-device 50]

Files are built like Windows exports them: RSA-2048 keys, leaf + issuing CA, 2,000 KDF rounds, half TripleDES-SHA1
(Server 2016) and half AES-256-SHA256 (Server 2019+). PostgreSQL: DATABASE_URL, else a scratch database
`bench_ingest` on the local server (dropped and re-created).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import djangosetup
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench")]
    )


def make_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Bench Issuing CA"))
        .issuer_name(_name("Bench Issuing CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def leaf(index: int, public_key: object, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(f"app{index}.bench.test")]
    names += [x509.DNSName(f"alt{index}-{k}.bench.test") for k in range(index % 4)]
    names.append(x509.IPAddress(ipaddress.ip_address(f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}")))
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"app{index}.bench.test"))
        .issuer_name(ca.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=index % 300))
        .not_valid_after(now + dt.timedelta(days=30 + index % 400))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())
    )


def encryption(kind: str, password: bytes) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2000)
    if kind == "legacy":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(password)


def build_pfx(count: int) -> list[tuple[bytes, str, str]]:
    ca, ca_key = make_ca()
    keys = [rsa.generate_private_key(65537, 2048) for _ in range(8)]
    files = []
    for i in range(count):
        key = keys[i % len(keys)]
        kind = "legacy" if i % 2 == 0 else "modern"
        password = f"Pfx-{i}-{kind}"
        cert = leaf(i, key.public_key(), ca, ca_key)
        data = pkcs12.serialize_key_and_certificates(
            f"app{i}".encode(), key, cert, [ca], encryption(kind, password.encode())
        )
        files.append((data, password, kind))
    return files


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(function, items, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Best of `repeat` passes (files per second)."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            function(item)
        best = max(best, rate(len(items), time.perf_counter() - start))
    return best


def bench_pfx(count: int) -> None:
    from certificates.pfx_reader import pfx_open

    t0 = time.perf_counter()
    files = build_pfx(count)
    print(f"PFX: {count} files built in {time.perf_counter() - t0:.1f} s (RSA-2048, leaf + CA, 2000 KDF rounds)")
    by_kind = {kind: [f for f in files if f[2] == kind] for kind in ("legacy", "modern")}
    rows = []
    for label, subset in (("3DES-SHA1", by_kind["legacy"]), ("AES256-SHA256", by_kind["modern"]), ("mixed", files)):
        fast = timed(lambda f: pfx_open(f[0], [f[1]]), subset)
        wrong_first = timed(lambda f: pfx_open(f[0], ["not-it", f[1]]), subset)
        with_key = timed(lambda f: pfx_open(f[0], [f[1]], extract_key=True), subset)
        sample = subset[: min(40, len(subset))]
        baseline = timed(lambda f: pkcs12.load_pkcs12(f[0], f[1].encode()), sample, repeat=1)
        rows.append((label, fast, wrong_first, with_key, baseline))
    print("files/s, one process      certificates  +wrong pw first  +PKCS#8 key   load_pkcs12   ratio")
    for label, fast, wrong_first, with_key, baseline in rows:
        print(f"  {label:<24}{fast:12.0f}{wrong_first:17.0f}{with_key:14.0f}{baseline:14.1f}{fast / baseline:8.1f}x")
    mixed = rows[-1][1]
    verdict = "met" if mixed >= 500 else "NOT met"
    print(f"target: >= 500 PFX/s per core (certificates): {mixed:.0f}/s -> {verdict}")
    # Sanity: the fast reader agrees with load_pkcs12 on every sampled file.
    for data, password, _ in files[:20]:
        mine = pfx_open(data, [password])
        theirs = pkcs12.load_pkcs12(data, password.encode())
        assert theirs.cert is not None
        assert mine.leaf_der == theirs.cert.certificate.public_bytes(serialization.Encoding.DER)


def _device_findings(chunk: list[bytes]) -> object:
    from certificates.bulk import DeviceFindings, FoundLocation
    from certificates.x509 import parse_der_for_inventory

    findings = DeviceFindings(scanned_kinds={"store"})
    for der in chunk:
        parsed = parse_der_for_inventory(der)
        findings.certificates[parsed.sha256] = parsed
        key = f"store:My:{parsed.thumbprint}"
        findings.locations.append(FoundLocation(kind="store", key=key, sha256=parsed.sha256, store="My"))
        findings.present_location_keys.add(key)
    return findings


def bench_x509(count: int, per_device: int, rounds: int = 3) -> None:
    """`rounds` rounds, each on `count` new certificates ingested (parse + upsert) into new devices, each device's
    certificates parsed raw just before their ingestion, so that both sides of a round's share see the same machine.
    The verdict is on the median share."""
    from certificates.bulk import IngestOptions, device_findings_apply
    from certificates.models import Certificate
    from certificates.selectors import group_default
    from certificates.x509 import parse_der
    from devices.models import Device, Gateway

    ca, ca_key = make_ca()
    gateway = Gateway.objects.get(mode="integrated")
    options = IngestOptions(status="managed", default_group_id=group_default().pk)
    existing = Certificate.objects.count()
    print(f"\nX.509: {rounds} rounds of {count} distinct certificates, {per_device} per device")
    print("round   raw parse/s   ingest/s   share   device p50   device p95")
    shares, raws, ingests = [], [], []
    for round_ in range(rounds):
        first = round_ * count
        ders = [
            leaf(first + i, ec.generate_private_key(ec.SECP256R1()).public_key(), ca, ca_key).public_bytes(
                serialization.Encoding.DER
            )
            for i in range(count)
        ]
        devices = Device.objects.bulk_create(
            [
                Device(name=f"bench-{n:06d}", hostname=f"10.{n // 62500}.{n // 250 % 250}.{n % 250}", gateway=gateway)
                for n in range(first // per_device, (first + count + per_device - 1) // per_device)
            ]
        )
        # Device by device: the raw parse of the device's certificates, then their ingestion, so that both sides see
        # the machine at the same moments (this VM's speed drifts by half within seconds). The raw parse is timed on
        # its second pass over the device's certificates: warm, as in a tight loop (a first pass right after the
        # database work runs ~10 % slower, which would flatter the share).
        durations, raw_time = [], 0.0
        for index, device in enumerate(devices):
            chunk = ders[index * per_device : (index + 1) * per_device]
            for der in chunk:
                parse_der(der)
            t = time.perf_counter()
            for der in chunk:
                parse_der(der)
            t_raw = time.perf_counter()
            findings = _device_findings(chunk)
            device_findings_apply(device_id=device.pk, findings=findings, options=options)  # type: ignore[arg-type]
            durations.append(time.perf_counter() - t_raw)
            raw_time += t_raw - t
        raw_rate, ingest_rate = rate(count, raw_time), rate(count, sum(durations))
        share = ingest_rate / raw_rate * 100
        raws.append(raw_rate)
        ingests.append(ingest_rate)
        shares.append(share)
        p50 = statistics.median(durations) * 1000
        p95 = statistics.quantiles(durations, n=20)[-1] * 1000
        print(f"{round_ + 1:>5} {raw_rate:>13.0f} {ingest_rate:>10.0f} {share:>6.0f} % {p50:>9.1f} ms {p95:>9.1f} ms")
    assert Certificate.objects.count() == existing + rounds * count
    share = statistics.median(shares)
    print(
        f"median: raw parse (parse_der, full fields) {statistics.median(raws):.0f}/s, "
        f"ingest (parse + bulk upsert) {statistics.median(ingests):.0f}/s"
    )
    verdict = "met" if share >= 40 else "NOT met"
    print(f"target: ingestion >= 40 % of the raw parse rate: median share {share:.0f} % -> {verdict}")

    # A rerun of the last round's hosts (nothing new on them) costs no inserts.
    start = time.perf_counter()
    hosts = max(1, len(devices) // 4)
    for index, device in enumerate(devices[:hosts]):
        findings = _device_findings(ders[index * per_device : (index + 1) * per_device])
        device_findings_apply(device_id=device.pk, findings=findings, options=options)  # type: ignore[arg-type]
    rerun = rate(min(count, hosts * per_device), time.perf_counter() - start)
    print(f"rerun of unchanged hosts (parse + no-op upsert): {rerun:8.0f} certificates/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pfx", type=int, default=1000)
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--per-device", type=int, default=50)
    args = parser.parse_args()
    djangosetup.setup("bench_ingest", fresh=True)
    from certificates.pfx_reader import _libcrypto

    print(f"machine: {djangosetup.machine()}; PKCS#12 KDF in C: {'yes' if _libcrypto() else 'no (pure Python)'}")
    bench_pfx(args.pfx)
    bench_x509(args.certificates, args.per_device)
    if args.per_device < 500:
        print("\n(the same with 500 certificates per device, for the per-device fixed cost)")
        from certificates.models import Certificate, CertificateLocation
        from devices.models import Device

        CertificateLocation.objects.all().delete()
        Certificate.objects.all().delete()
        Device.objects.filter(name__startswith="bench-").delete()
        bench_x509(args.certificates, 500)


if __name__ == "__main__":
    main()
