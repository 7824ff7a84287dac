"""The inventory at enterprise scale: 1,000,000 certificates in PostgreSQL (with 1,000 devices, locations for a
fifth of them and bindings for half of those), then the list API (`GET /api/v1/certificates/`) with the common
filters and sorts: p50 and p95 per case, deep keyset pages, and SQL queries per page for page sizes 10 to 500.

Baseline, measured in the same run: the bare keyset SQL of the first page (psycopg, no Django), so the ratio shows
what the API stack adds. Targets: p95 <= 100 ms per page; queries per page that do not grow with the page size.

    python benchmarks/inventory.py [--certificates 1000000] [--repeat 30] [--keep] [--no-freeze]

The database is DATABASE_URL, else a scratch `bench_inventory` on the local server (loaded once and kept with
--keep, so a rerun only measures).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import djangosetup

ISSUERS = [f"Issuing CA {n}" for n in range(20)]
DOMAINS = ["example.test", "corp.test", "shop.test", "intra.test", "partner.test"]


def load(count: int) -> None:
    """COPY `count` certificates (plus devices, locations, bindings) with the certificate indexes dropped during the
    load and rebuilt after it."""
    import json

    from django.db import connection

    from certificates.models import Certificate, CertificateGroup
    from devices.models import Device, Gateway

    rng = random.Random(20261126)
    with connection.cursor() as cursor:
        # A smaller earlier load is replaced, not added to.
        cursor.execute("TRUNCATE certificates_certificate CASCADE")
    Device.objects.filter(name__startswith="iis-").delete()
    groups = [CertificateGroup.objects.get(is_default=True).pk]
    groups += [CertificateGroup.objects.get_or_create(name=f"Group {i}")[0].pk for i in range(9)]
    gateway = Gateway.objects.get(mode="integrated")
    devices = Device.objects.bulk_create(
        [Device(name=f"iis-{i:04d}", hostname=f"10.1.{i // 250}.{i % 250 + 1}", gateway=gateway) for i in range(1000)]
    )
    device_ids = [d.pk for d in devices]
    now = datetime.now(UTC)
    der = b"\x30\x82" + b"\x00" * 900  # the list never reads DER; a real one would only make the load slower
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'certificates_certificate' AND indexname "
            "NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'certificates_certificate'::regclass)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    columns = [
        "sha256", "thumbprint", "der", "common_name", "subject", "issuer", "issuer_common_name", "serial", "sans",
        "key_type", "key_size", "signature_hash", "not_before", "not_after", "is_ca", "self_signed",
        "extended_key_usage", "is_client", "status", "source", "group_id", "attributes", "chain_pem",
        "location_count", "binding_count", "search_text", "created_at", "updated_at",
    ]  # fmt: skip
    t0 = time.perf_counter()
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY certificates_certificate ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for i in range(count):
            domain = DOMAINS[i % len(DOMAINS)]
            cn = f"app{i}.{domain}"
            dns = [cn, f"www{i}.{domain}"][: 1 + i % 2]
            issuer = ISSUERS[i % len(ISSUERS)]
            not_before = now - timedelta(days=rng.randint(1, 700))
            not_after = now + timedelta(days=rng.randint(-365, 730))
            client = i % 10 == 9
            status = "managed" if i % 10 < 7 else ("monitored" if i % 20 != 19 else "discovered")
            ec = i % 4 == 0
            copy.write_row(
                (
                    f"{i:064x}", f"{i:040X}", der, cn, f"CN={cn},O=Bench", f"CN={issuer},O=Bench CA", issuer,
                    f"{i:X}", json.dumps({"dns": dns, "ip": [], "email": [], "uri": []}),
                    "ec" if ec else "rsa", 256 if ec else (2048 if i % 3 else 3072), "sha256", not_before, not_after,
                    False, False, json.dumps(["clientAuth"] if client else ["serverAuth", "clientAuth"]), client,
                    status, "discovered", groups[i % len(groups)], "{}", "", 0, 0, " ".join(dns), now, now,
                )
            )  # fmt: skip
    print(f"  {count:,} certificates copied in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        for _, definition in indexes:
            cursor.execute(definition)
    print(f"  {len(indexes)} indexes rebuilt in {time.perf_counter() - t0:.0f} s")
    # Locations for a fifth of the certificates, bindings for half of those.
    t0 = time.perf_counter()
    first = Certificate.objects.order_by("id").values_list("id", flat=True).first() or 1
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY certificates_certificatelocation (device_id, certificate_id, kind, key, store, path, state, error, "
            "friendly_name, has_private_key, key_provider, file_sha256, first_seen, last_seen) FROM STDIN"
        ) as copy,
    ):
        for i in range(0, count, 5):
            copy.write_row(
                (device_ids[i % len(device_ids)], first + i, "store", f"store:My:{i:040X}", "My", "", "ok", "",
                 f"app {i}", True, "", "", now, now)
            )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO certificates_certificatebinding (device_id, location_id, kind, key, site_name, site_id, "
            "site_state, protocol, binding_information, ip, port, host, ssl_flags, sni, http_sys_kind, "
            "http_sys_endpoint, first_seen, last_seen) SELECT device_id, id, 'site', "
            "'site:Default:https:*:443:' || id, 'Default Web Site', 1, 'Started', 'https', '*:443:' || friendly_name, "
            "'*', 443, '', 1, true, 'hostnameport', '', now(), now() FROM certificates_certificatelocation "
            "WHERE id % 2 = 0"
        )
        cursor.execute(
            "UPDATE certificates_certificate c SET location_count = 1, binding_count = CASE WHEN l.id % 2 = 0 "
            "THEN 1 ELSE 0 END FROM certificates_certificatelocation l WHERE l.certificate_id = c.id"
        )
        cursor.execute("VACUUM ANALYZE certificates_certificate")
        cursor.execute("VACUUM ANALYZE certificates_certificatelocation")
        cursor.execute("VACUUM ANALYZE certificates_certificatebinding")
    print(f"  locations and bindings in {time.perf_counter() - t0:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep a loaded database for the next run")
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="measure without clm.runtime.freeze_startup_heap(), which the gunicorn workers run after start-up",
    )
    args = parser.parse_args()
    djangosetup.setup("bench_inventory", fresh=not args.keep)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from certificates.models import Certificate, CertificateGroup
    from clm.users import user_upsert
    from devices.models import Device

    print(f"machine: {djangosetup.machine()}")
    have = Certificate.objects.count()
    if have < args.certificates:
        print(f"loading {args.certificates:,} certificates into PostgreSQL ...")
        load(args.certificates)
    print(f"inventory: {Certificate.objects.count():,} certificates")
    user_upsert(username="bench-auditor", roles=["auditor"], password="Bench-pass-1!")
    user = get_user_model().objects.get(username="bench-auditor")
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    group = CertificateGroup.objects.exclude(is_default=True).order_by("id").first()
    device = Device.objects.order_by("id")[10]
    soon = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    cases = [
        ("newest first (default)", ""),
        ("expiring soonest, managed", "status=managed&ordering=not_after"),
        ("expires before +30 d", f"expires_before={soon}&ordering=not_after"),
        ("group, latest expiry first", f"group={group.pk if group else ''}&ordering=-not_after"),
        ("free text 'app4242'", "q=app4242"),
        ("common name contains", "common_name=app99999"),
        ("in use, by common name", "in_use=true&ordering=common_name"),
        ("on one device", f"device={device.pk}"),
        ("client inventory", "kind=client&ordering=not_after"),
        ("thumbprint", f"thumbprint={123456:040X}"),
        ("by issuer", "ordering=issuer"),
    ]

    def get(url: str) -> tuple[float, dict]:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return elapsed, response.json()

    if args.no_freeze:
        print("process: start-up heap NOT frozen (--no-freeze)")
    else:
        from clm.runtime import freeze_startup_heap

        # The served configuration: clm/gunicorn_conf.py's workers do this once the application is loaded.
        freeze_startup_heap()
        print("process: start-up heap frozen, as the gunicorn workers do (clm/gunicorn_conf.py)")

    # Baseline: the bare keyset SQL of the default first page, straight through psycopg.
    raw = connection.connection
    base_times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        with raw.cursor() as cursor:
            cursor.execute(
                "SELECT id, common_name, not_after, status FROM certificates_certificate WHERE status IN "
                "('managed', 'monitored') ORDER BY id DESC LIMIT 51"
            )
            cursor.fetchall()
        base_times.append((time.perf_counter() - start) * 1000)
    base = statistics.median(base_times)

    print(f"\nGET /api/v1/certificates/ (page size 50, {args.repeat} requests each; times in ms)")
    print(f"{'case':<34}{'p50':>8}{'p95':>8}{'rows':>6}{'ratio':>8}")
    worst = 0.0
    for label, query in cases:
        url = f"/api/v1/certificates/?{query}"
        get(url)
        times = []
        rows = 0
        for _ in range(args.repeat):
            elapsed, data = get(url)
            times.append(elapsed)
            rows = len(data["results"])
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        worst = max(worst, p95)
        print(f"{label:<34}{p50:8.1f}{p95:8.1f}{rows:>6}{p50 / base:7.1f}x")
    print(f"{'baseline: bare keyset SQL':<34}{base:8.1f}{percentile(base_times, 0.95):8.1f}{50:>6}{1.0:7.1f}x")

    # Deep pages: follow `next` 200 times (10,000 rows in) on two orderings.
    for label, query in (("deep pages, newest first", ""), ("deep pages, expiring soonest", "ordering=not_after")):
        url = f"/api/v1/certificates/?{query}"
        times = []
        for _ in range(200):
            elapsed, data = get(url)
            times.append(elapsed)
            url = data["next"].split("testserver", 1)[-1]
        p95 = percentile(times, 0.95)
        worst = max(worst, p95)
        print(f"{label + ' (200 pages)':<34}{statistics.median(times):8.1f}{p95:8.1f}{50:>6}")

    print("\nSQL queries per page (token auth and role included):")
    counts = []
    for size in (10, 50, 200, 500):
        with CaptureQueriesContext(connection) as captured:
            get(f"/api/v1/certificates/?page_size={size}&in_use=true")
        counts.append(len(captured.captured_queries))
        print(f"  page_size={size:<4} {len(captured.captured_queries)} queries")
    flat = len(set(counts)) == 1
    print(f"target: p95 <= 100 ms: worst p95 {worst:.1f} ms -> {'met' if worst <= 100 else 'NOT met'}")
    print(f"target: queries per page constant in the page size: {counts} -> {'met' if flat else 'NOT met'}")


if __name__ == "__main__":
    main()
