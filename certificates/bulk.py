"""Bulk writes of the inventory: what discovery found on one device, applied with a fixed number of queries.

`device_findings_apply` is the one entry point. For one device it inserts the certificates the inventory does not
have yet (deduplicated by SHA-256), upgrades statuses, upserts the device's locations and bindings, deletes the ones
the host no longer has, records private keys, and keeps the denormalised counters of `Certificate` right. The number
of queries does not depend on the number of certificates (batches of BATCH rows aside): no query per certificate.

Concurrency: every write for one device happens in one transaction that first locks the device row (two runs that
reach the same device apply one after the other) and then the certificate rows whose counters or status change, in
id order (two devices that share a certificate cannot deadlock, and counter deltas are applied to the latest value).
"""

from __future__ import annotations

import json
import logging
from binascii import b2a_base64
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from types import SimpleNamespace
from typing import Any

from django.db import OperationalError, models, transaction
from django.db.models import F
from django.utils import timezone

from certificates.choices import (
    STATUS_RANK,
    CertificateSource,
    CertificateStatus,
    KeyLocation,
    LocationState,
)
from certificates.models import Certificate, CertificateBinding, CertificateLocation, PrivateKey
from certificates.x509 import ParsedCertificate, public_key_sha256_of

logger = logging.getLogger(__name__)

BATCH = 1000
RETRIES = 3


def search_text_for(common_name: str, sans: dict[str, list[str]] | None) -> str:
    """The lower-case words the inventory's free-text search looks in: CN, DNS and IP SANs."""
    names = [common_name, *(sans or {}).get("dns", []), *(sans or {}).get("ip", [])]
    return " ".join(dict.fromkeys(n.lower() for n in names if n))


@dataclass(frozen=True)
class FoundLocation:
    """One store entry or one file seen on the host. `sha256` is None for a locked or unreadable file."""

    kind: str
    key: str
    sha256: str | None
    store: str = ""
    path: str = ""
    state: str = LocationState.OK
    error: str = ""
    friendly_name: str = ""
    has_private_key: bool = False
    key_provider: str = ""
    file_sha256: str = ""
    file_size: int | None = None


@dataclass(frozen=True)
class FoundBinding:
    """One binding seen on the host, pointing at the store location (`location_key`) whose certificate it uses."""

    key: str
    location_key: str
    kind: str
    site_name: str = ""
    site_id: int | None = None
    site_state: str = ""
    protocol: str = ""
    binding_information: str = ""
    ip: str = ""
    port: int | None = None
    host: str = ""
    ssl_flags: int = 0
    sni: bool = False
    http_sys_kind: str = ""
    http_sys_endpoint: str = ""


@dataclass
class DeviceFindings:
    """What to record for one device. `locations`/`bindings` are the ones kept (after the discovery type and rule);
    `present_location_keys` are all the locations the host has (kept or not) in the sources that were read
    (`scanned_kinds`), so that only what really disappeared is deleted."""

    certificates: dict[str, ParsedCertificate] = field(default_factory=dict)
    chains: dict[str, str] = field(default_factory=dict)
    portal_keys: dict[str, bytes] = field(default_factory=dict)
    locations: list[FoundLocation] = field(default_factory=list)
    bindings: list[FoundBinding] = field(default_factory=list)
    present_location_keys: set[str] = field(default_factory=set)
    scanned_kinds: set[str] = field(default_factory=set)
    bindings_scanned: bool = False
    group_for: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestOptions:
    """How found certificates enter the inventory: the status for new ones (Discovered for "Do not move"), the group
    per certificate (`group_for`, e.g. from access control rules; the findings' own `group_for` wins) else
    `default_group_id`."""

    status: str
    default_group_id: int | None
    group_for: dict[str, int] = field(default_factory=dict)
    source: str = CertificateSource.DISCOVERED


@dataclass
class ApplyResult:
    certificates: int = 0
    certificates_new: int = 0
    status_changed: int = 0
    locations_added: int = 0
    locations_updated: int = 0
    locations_removed: int = 0
    bindings: int = 0
    bindings_added: int = 0
    bindings_removed: int = 0
    locked_files: int = 0
    keys_stored: int = 0
    certificate_ids: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def _chunks[T](items: Sequence[T], size: int = BATCH) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _new_certificate(parsed: ParsedCertificate, options: IngestOptions, chain_pem: str) -> SimpleNamespace:
    """A row to insert (a plain namespace: a model instance costs more to build than the insert itself)."""
    return SimpleNamespace(
        sha256=parsed.sha256,
        thumbprint=parsed.thumbprint,
        der=parsed.der,
        common_name=parsed.common_name[:255],
        subject=parsed.subject,
        issuer=parsed.issuer,
        issuer_common_name=parsed.issuer_common_name[:255],
        serial=parsed.serial[:64],
        sans=parsed.sans,
        key_type=parsed.key_type,
        key_size=parsed.key_size,
        signature_hash=parsed.signature_hash,
        not_before=parsed.not_before,
        not_after=parsed.not_after,
        is_ca=parsed.is_ca,
        self_signed=parsed.self_signed,
        extended_key_usage=parsed.extended_key_usage,
        is_client=parsed.is_client,
        status=options.status,
        source=options.source,
        group_id=options.group_for.get(parsed.sha256, options.default_group_id),
        chain_pem=chain_pem,
        attributes={},
        search_text=search_text_for(parsed.common_name, parsed.sans),
        location_count=0,
        binding_count=0,
    )


CERTIFICATE_INSERT_FIELDS = (
    "sha256",
    "thumbprint",
    "der",
    "common_name",
    "subject",
    "issuer",
    "issuer_common_name",
    "serial",
    "sans",
    "key_type",
    "key_size",
    "signature_hash",
    "not_before",
    "not_after",
    "is_ca",
    "self_signed",
    "extended_key_usage",
    "is_client",
    "status",
    "source",
    "group_id",
    "chain_pem",
    "attributes",
    "search_text",
    "location_count",
    "binding_count",
    "created_at",
    "updated_at",
)


# PostgreSQL types of the json_to_recordset() columns, by Django field type: each batch of rows travels as one JSON
# text parameter (the json module encodes it in C, where psycopg dumps array parameters element by element in
# Python); bytes as base64 (decoded by `_pg_value`), date-times in ISO 8601.
PG_RECORD_TYPES = {
    "CharField": "text",
    "TextField": "text",
    "BinaryField": "text",
    "JSONField": "jsonb",
    "DateTimeField": "timestamptz",
    "BooleanField": "boolean",
    "PositiveIntegerField": "bigint",
    "IntegerField": "bigint",
    "ForeignKey": "bigint",
}
_json_encode = json.JSONEncoder(separators=(",", ":")).encode


def insert_rows(
    model: type[models.Model],
    objs: Sequence[Any],
    field_names: Sequence[str],
    *,
    returning: Sequence[str],
    conflict: str | None = None,
) -> list[tuple[Any, ...]]:
    """INSERT the objects' `field_names` (attribute names: `device_id`, not `device`), ON CONFLICT (`conflict`) DO
    NOTHING if given, and return the `returning` columns of the rows inserted.

    Hand-built rather than `bulk_create`, which returns no ids with ignore_conflicts (telling our rows from a
    concurrent worker's would cost another query) and spends most of its time compiling wide multi-row SQL. On
    PostgreSQL the rows travel as one JSON parameter through json_to_recordset() (a short statement whatever the
    row count), or for big batches are COPYed into a temporary staging table and inserted from there. Elsewhere
    (SQLite >= 3.35) as multi-row VALUES lists prepared by the model fields.
    """
    if not objs:
        return []
    from django.db import connection

    meta = model._meta
    table, fields, columns, tail = _insert_parts(model, field_names, returning, conflict)
    rows: list[tuple[Any, ...]] = []
    if connection.vendor == "postgresql":
        with binding_cursor() as cursor:
            if len(objs) > COPY_THRESHOLD:
                return _pg_copy_insert(cursor, meta.db_table, fields, objs, columns, tail)
            return _pg_recordset_insert(cursor, table, fields, objs, columns, tail)
    with connection.cursor() as cursor:
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        limit = connection.features.max_query_params or 999
        for chunk in _chunks(objs, max(1, limit // len(fields))):
            params = [
                field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in chunk for field in fields
            ]
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(chunk))} {tail}"  # noqa: S608
            cursor.execute(sql, params)
            rows.extend(cursor.fetchall())
    return rows


def _json_values(kind: str, values: list[Any]) -> list[Any]:
    """A column's values as they go into the JSON of a recordset (see PG_RECORD_TYPES)."""
    if kind == "BinaryField":
        return [None if v is None else b2a_base64(v, newline=False).decode("ascii") for v in values]
    if kind == "DateTimeField":
        return [None if v is None else v.isoformat() for v in values]
    return values


def _pg_value(kind: str, expression: str) -> str:
    """`expression` (a recordset column) as the field's own type."""
    return f"decode({expression}, 'base64')" if kind == "BinaryField" else expression


def _pg_recordset(
    fields: Sequence[Any], objs: Sequence[Any], *extra: tuple[str, list[Any]]
) -> tuple[list[Any], str, list[str]]:
    """`objs` as the parameters of `... FROM json_to_recordset(%s::json) AS u(<definitions>)`: (the parameters, the
    column definitions, the select expression of each field). `extra` adds (type, values) columns after the fields'.
    A field with one value for every row (status, group, timestamps, counters...) is one parameter of its own, ahead
    of the JSON (a time stamp's ISO text costs more than the rest of its row)."""
    scalars: list[Any] = []
    select: list[str] = []
    columns: list[list[Any]] = []
    types: list[str] = []
    for model_field in fields:
        kind = model_field.get_internal_type()
        values = list(map(attrgetter(model_field.attname), objs))
        if kind != "JSONField" and values.count(values[0]) == len(values):
            select.append(_pg_value(kind, f"%s::{PG_RECORD_TYPES[kind]}"))
            scalars.append(_json_values(kind, values[:1])[0])
            continue
        select.append(_pg_value(kind, f"u.c{len(columns)}"))
        columns.append(_json_values(kind, values))
        types.append(PG_RECORD_TYPES[kind])
    extra_names = [f"u.c{len(columns) + i}" for i in range(len(extra))]
    columns += [values for _, values in extra]
    types += [kind for kind, _ in extra]
    if not columns:  # json_to_recordset() needs a column: the row numbers
        columns.append(list(range(len(objs))))
        types.append("bigint")
    names = [f"c{i}" for i in range(len(columns))]
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    definitions = ", ".join(f"{name} {kind}" for name, kind in zip(names, types, strict=True))
    return [*scalars, _json_encode(rows)], definitions, [*select, *extra_names]


def update_rows(model: type[models.Model], objs: Sequence[Any], field_names: Sequence[str]) -> None:
    """UPDATE each object's `field_names` by primary key. On PostgreSQL one statement joins the table with the rows'
    recordset, so the cost does not grow with a CASE per row as `bulk_update`'s does; elsewhere `bulk_update`."""
    from django.db import connection

    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(field_names), batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields: list[Any] = [meta.get_field(name) for name in field_names]
    params, definitions, values = _pg_recordset(fields, objs, ("bigint", [obj.pk for obj in objs]))
    assignments = ", ".join(f"{quote(str(f.column))} = {v}" for f, v in zip(fields, values, strict=False))
    # Quoted names from the model's metadata; every value travels as a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM json_to_recordset(%s::json) AS u({definitions}) WHERE t.{quote(str(meta.pk.column))} = {values[-1]}"
    )
    with binding_cursor() as cursor:
        cursor.execute(sql, params)


def _insert_parts(
    model: type[models.Model], field_names: Sequence[str], returning: Sequence[str], conflict: str | None
) -> tuple[str, list[Any], str, str]:
    """(quoted table, fields, quoted column list, ON CONFLICT/RETURNING tail) of an INSERT by `insert_rows`."""
    from django.db import connection

    meta = model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    fields: list[Any] = [by_attname[name] for name in field_names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    tail = f"ON CONFLICT ({quote(conflict)}) DO NOTHING " if conflict else ""
    tail += "RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)  # type: ignore[union-attr,arg-type]
    return quote(meta.db_table), fields, columns, tail


def binding_cursor() -> Any:
    """On PostgreSQL, a cursor of Django's connection (same transaction, same query logging and error wrapping) that
    sends parameters separately from the statement (server-side binding), in binary where the SQL says `%b`.

    Django's own cursors bind on the client: every parameter is quoted into the SQL text in Python, which for the
    bulk statement of a 50-certificate host (DER, JSON) cost ~12 ms per statement -- more than PostgreSQL's work.
    """
    from django.db import connection
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw: Any = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]  # a psycopg cursor
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


# Up to this many rows, one statement with one JSON parameter; above it, COPY into a staging table (its set-up
# and the truncation at commit cost a few milliseconds, which a big batch repays in formatting time).
COPY_THRESHOLD = 200


def _pg_recordset_statement(
    table: str,
    fields: list[Any],
    objs: Sequence[Any],
    columns: str,
    tail: str,
    *,
    resolve_certificate: str | None = None,
) -> tuple[str, list[Any]]:
    """The INSERT of `objs` from a JSON recordset, and its parameter. With `resolve_certificate` (an attribute holding
    a SHA-256), a `certificate_id` left None is looked up by that SHA-256 when the statement runs, so it can follow
    the INSERT of the certificates in the same pipeline."""
    extra = [("text", [getattr(obj, resolve_certificate) for obj in objs])] if resolve_certificate else []
    params, definitions, select = _pg_recordset(fields, objs, *extra)
    if resolve_certificate is not None:
        sha256 = select.pop()
        position = [f.attname for f in fields].index("certificate_id")
        lookup = f"SELECT c.id FROM certificates_certificate c WHERE c.sha256 = {sha256}"  # noqa: S608
        select[position] = f"COALESCE({select[position]}::bigint, ({lookup}))"
    # Quoted names from the model's metadata; the values travel as parameters (the select list's before the JSON).
    sql = f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} FROM json_to_recordset(%s::json) AS u({definitions})"  # noqa: S608,E501
    return f"{sql} {tail}", params


def _pg_recordset_insert(
    cursor: Any, table: str, fields: list[Any], objs: Sequence[Any], columns: str, tail: str
) -> list[tuple[Any, ...]]:
    sql, params = _pg_recordset_statement(table, fields, objs, columns, tail)
    cursor.execute(sql, params)
    return list(cursor.fetchall())


def _pg_copy_insert(
    cursor: Any, db_table: str, fields: list[Any], objs: Sequence[Any], columns: str, tail: str
) -> list[tuple[Any, ...]]:
    stage = f"_stage_{db_table}"
    # Created once per connection, emptied at every commit; only the inserted columns, no constraints.
    cursor.execute(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '  # noqa: S608 - model names
        f'SELECT {columns} FROM "{db_table}" WITH NO DATA'
    )
    cursor.execute(f'DELETE FROM "{stage}"')  # noqa: S608 - model names
    jsons = {i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"}
    binaries = {i for i, f in enumerate(fields) if f.get_internal_type() == "BinaryField"}
    attnames = [f.attname for f in fields]
    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    with raw.copy(f'COPY "{stage}" ({columns}) FROM STDIN') as copy:
        for obj in objs:
            row = [getattr(obj, name) for name in attnames]
            for i in jsons:
                row[i] = None if row[i] is None else json.dumps(row[i])
            for i in binaries:
                row[i] = None if row[i] is None else bytes(row[i])
            copy.write_row(row)
    cursor.execute(f'INSERT INTO "{db_table}" ({columns}) SELECT {columns} FROM "{stage}" {tail}')  # noqa: S608
    return list(cursor.fetchall())


def _certificates_to_insert(
    findings: DeviceFindings, options: IngestOptions, known: dict[str, KnownCertificate]
) -> list[SimpleNamespace]:
    """Rows for the certificates the inventory lacks, their counters already set to what this device's locations and
    bindings add."""
    initial_counts = _initial_counts(findings)
    now = timezone.now()
    objs = []
    for sha, parsed in findings.certificates.items():
        if sha in known:
            continue
        obj = _new_certificate(parsed, options, findings.chains.get(sha, ""))
        obj.location_count, obj.binding_count = initial_counts.get(sha, (0, 0))
        obj.created_at = obj.updated_at = now
        objs.append(obj)
    return objs


LOCATION_INSERT_FIELDS = ["device_id", "key", "first_seen", "last_seen"]  # + LOCATION_FIELDS, below


def _insert_certificates_and_locations(
    certificates: list[SimpleNamespace], locations: list[SimpleNamespace], known: dict[str, KnownCertificate]
) -> tuple[dict[str, int], list[tuple[str, int, int | None]]]:
    """Insert the new certificates (ignoring SHA-256 another worker inserted first) and the new locations, whose
    `certificate_id` is None where the certificate is among the new ones (`sha256` says which).

    Returns {sha256: id} of the certificates inserted here and (key, id, certificate id) of the new locations. On
    PostgreSQL both statements go out in one pipeline, the locations finding their certificates by SHA-256 as they
    are inserted (including one a concurrent worker inserted first); elsewhere, or for batches big enough for COPY,
    one after the other.
    """
    from django.db import connection

    location_fields = [*LOCATION_INSERT_FIELDS, *LOCATION_FIELDS]
    cert_parts = _insert_parts(Certificate, CERTIFICATE_INSERT_FIELDS, ("sha256", "id"), "sha256")
    location_parts = _insert_parts(CertificateLocation, location_fields, ("key", "id", "certificate_id"), None)
    if (
        connection.vendor == "postgresql"
        and len(certificates) <= COPY_THRESHOLD
        and len(locations) <= COPY_THRESHOLD
        and (certificates or locations)
    ):
        with connection.wrap_database_errors, connection.connection.pipeline():
            cert_cursor = location_cursor = None
            if certificates:
                cert_cursor = binding_cursor()
                cert_cursor.execute(*_pg_recordset_statement(*cert_parts[:2], certificates, *cert_parts[2:]))
            if locations:
                location_cursor = binding_cursor()
                location_cursor.execute(
                    *_pg_recordset_statement(
                        *location_parts[:2], locations, *location_parts[2:], resolve_certificate="sha256"
                    )
                )
            inserted = dict(cert_cursor.fetchall()) if cert_cursor is not None else {}
            created = list(location_cursor.fetchall()) if location_cursor is not None else []
        return inserted, created
    inserted = dict(
        insert_rows(Certificate, certificates, CERTIFICATE_INSERT_FIELDS, returning=("sha256", "id"), conflict="sha256")
    )
    pending = [obj for obj in locations if obj.certificate_id is None and obj.sha256]
    if pending:
        ids = {sha: row[0] for sha, row in known.items()} | inserted
        lost = [obj.sha256 for obj in pending if obj.sha256 not in ids]
        if lost:
            ids.update({sha: row[0] for sha, row in _known_certificates(lost).items()})
        for obj in pending:
            obj.certificate_id = ids.get(obj.sha256)
    created = insert_rows(CertificateLocation, locations, location_fields, returning=("key", "id", "certificate_id"))
    return inserted, created


# What the applier needs of a certificate the inventory has: (id, status, group id, chain PEM).
type KnownCertificate = tuple[int, str, int | None, str]

KNOWN_CERTIFICATES_SQL = (
    "SELECT sha256, id, status, group_id, chain_pem FROM certificates_certificate WHERE sha256 = ANY(%s::text[])"
)


def _known_certificates(shas: list[str]) -> dict[str, KnownCertificate]:
    known: dict[str, KnownCertificate] = {}
    for chunk in _chunks(shas):
        for sha, pk, status, group_id, chain in Certificate.objects.filter(sha256__in=chunk).values_list(
            "sha256", "id", "status", "group_id", "chain_pem"
        ):
            known[sha] = (pk, status, group_id, chain)
    return known


def _location_values(found: FoundLocation, certificate_id: int | None) -> dict[str, Any]:
    return {
        "certificate_id": certificate_id,
        "kind": found.kind,
        "store": found.store,
        "path": found.path[:1024],
        "state": found.state,
        "error": found.error[:500],
        "friendly_name": found.friendly_name[:255],
        "has_private_key": found.has_private_key,
        "key_provider": found.key_provider[:255],
        "file_sha256": found.file_sha256,
        "file_size": found.file_size,
    }


LOCATION_FIELDS = list(_location_values(FoundLocation(kind="store", key="", sha256=None), None))


def _binding_values(found: FoundBinding, location_id: int) -> dict[str, Any]:
    return {
        "location_id": location_id,
        "kind": found.kind,
        "site_name": found.site_name[:255],
        "site_id": found.site_id,
        "site_state": found.site_state[:20],
        "protocol": found.protocol[:16],
        "binding_information": found.binding_information[:500],
        "ip": found.ip[:64],
        "port": found.port,
        "host": found.host[:255],
        "ssl_flags": found.ssl_flags,
        "sni": found.sni,
        "http_sys_kind": found.http_sys_kind[:16],
        "http_sys_endpoint": found.http_sys_endpoint[:300],
    }


BINDING_FIELDS = list(_binding_values(FoundBinding(key="", location_key="", kind="site"), 0))


@dataclass
class _LocationPlan:
    """The device's locations sorted against the findings, before the certificates are inserted."""

    create: list[SimpleNamespace] = field(default_factory=list)
    update: list[tuple[dict[str, Any], FoundLocation]] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    vanished: list[dict[str, Any]] = field(default_factory=list)


def _plan_locations(
    device_id: int,
    findings: DeviceFindings,
    existing: dict[str, dict[str, Any]],
    known: dict[str, KnownCertificate],
    now: datetime,
) -> _LocationPlan:
    """New locations (with `certificate_id` None while their certificate is still to insert, `sha256` naming it),
    changed ones, ones still there unchanged (touched), and vanished ones (`existing`: the device's locations, by
    key)."""
    plan = _LocationPlan()
    kept_keys = set()
    for found in findings.locations:
        kept_keys.add(found.key)
        cert_id = known[found.sha256][0] if found.sha256 in known else None
        old = existing.get(found.key)
        if old is None:
            values = _location_values(found, cert_id)
            plan.create.append(
                SimpleNamespace(
                    device_id=device_id, key=found.key, first_seen=now, last_seen=now, sha256=found.sha256, **values
                )
            )
        elif (cert_id is None and found.sha256) or any(
            old[name] != value for name, value in _location_values(found, cert_id).items()
        ):
            plan.update.append((old, found))
        else:
            plan.touched.append(old["id"])
    for key, row in existing.items():
        if key in kept_keys:
            continue
        if key in findings.present_location_keys:
            # Present on the host but not kept (filtered out by the discovery type or rule): still there.
            plan.touched.append(row["id"])
        elif row["kind"] in findings.scanned_kinds:
            plan.vanished.append(row)
    return plan


def _finish_locations(
    plan: _LocationPlan,
    created: list[tuple[str, int, int | None]],
    existing: dict[str, dict[str, Any]],
    cert_ids: dict[str, int],
    now: datetime,
    result: ApplyResult,
    binding_delta: dict[int, int],
) -> tuple[dict[str, int], dict[int, int | None], dict[int, int]]:
    """Apply the rest of the plan once every certificate has its id: update the changed locations, touch the
    unchanged, delete the vanished. Returns {key: location id} and {location id: certificate id} of the device's
    locations after the sync, and the change of "ok" locations per certificate id."""
    delta: dict[int, int] = defaultdict(int)
    states = {obj.key: obj.state for obj in plan.create}
    for key, _location_id, cert_id in created:
        if cert_id is not None and states.get(key) == LocationState.OK:
            delta[cert_id] += 1
    to_update: list[CertificateLocation] = []
    new_certs: dict[int, int | None] = {}
    for old, found in plan.update:
        cert_id = cert_ids.get(found.sha256) if found.sha256 else None
        values = _location_values(found, cert_id)
        if old["state"] == LocationState.OK and old["certificate_id"] is not None:
            delta[old["certificate_id"]] -= 1
        if found.state == LocationState.OK and cert_id is not None:
            delta[cert_id] += 1
        to_update.append(CertificateLocation(id=old["id"], last_seen=now, **values))
        new_certs[old["id"]] = cert_id
    for row in plan.vanished:
        if row["state"] == LocationState.OK and row["certificate_id"] is not None:
            delta[row["certificate_id"]] -= 1
    if plan.vanished:
        vanished_ids = [row["id"] for row in plan.vanished]
        # Their bindings go with them (cascade): count them out of the certificates' binding counters.
        for binding_cert, count in _binding_counts_for_locations(vanished_ids).items():
            result.bindings_removed += count
            _add(binding_delta, binding_cert, -count)
        for chunk in _chunks(vanished_ids):
            CertificateLocation.objects.filter(id__in=chunk).delete()
    if to_update:
        CertificateLocation.objects.bulk_update(to_update, [*LOCATION_FIELDS, "last_seen"], batch_size=500)
    for chunk in _chunks(plan.touched):
        CertificateLocation.objects.filter(id__in=chunk).update(last_seen=now)
    result.locations_added += len(created)
    result.locations_updated += len(to_update)
    result.locations_removed += len(plan.vanished)
    vanished_keys = {row["key"] for row in plan.vanished}
    keys: dict[str, int] = {}
    location_certs: dict[int, int | None] = {}
    for key, row in existing.items():
        if key not in vanished_keys:
            keys[key] = row["id"]
            location_certs[row["id"]] = new_certs.get(row["id"], row["certificate_id"])
    for key, location_id, cert_id in created:
        keys[key] = location_id
        location_certs[location_id] = cert_id
    return keys, location_certs, {k: v for k, v in delta.items() if v}


def _add(target: dict[int, int], key: int, value: int) -> None:
    target[key] = target.get(key, 0) + value


def _binding_counts_for_locations(location_ids: list[int]) -> dict[int, int]:
    """Bindings per certificate of locations about to be deleted (their bindings cascade away with them)."""
    counts: dict[int, int] = defaultdict(int)
    for chunk in _chunks(location_ids):
        for cert_id in CertificateBinding.objects.filter(location_id__in=chunk).values_list(
            "location__certificate_id", flat=True
        ):
            if cert_id is not None:
                counts[cert_id] += 1
    return counts


def _sync_bindings(
    device_id: int,
    findings: DeviceFindings,
    existing: dict[str, dict[str, Any]],
    location_ids: dict[str, int],
    location_certs: dict[int, int | None],
    now: datetime,
    result: ApplyResult,
    delta: dict[int, int],
) -> None:
    if not findings.bindings and not findings.bindings_scanned:
        return  # nothing to add, and the device's bindings were not read: nothing to touch or delete either
    to_create: list[SimpleNamespace] = []
    to_update: list[CertificateBinding] = []
    touched: list[int] = []
    seen: set[str] = set()
    for found in findings.bindings:
        location_id = location_ids.get(found.location_key)
        if location_id is None or found.key in seen:
            continue
        seen.add(found.key)
        values = _binding_values(found, location_id)
        old = existing.get(found.key)
        cert_id = location_certs.get(location_id)
        if old is None:
            to_create.append(
                SimpleNamespace(device_id=device_id, key=found.key, first_seen=now, last_seen=now, **values)
            )
            if cert_id:
                _add(delta, cert_id, 1)
            continue
        if all(old[name] == value for name, value in values.items()):
            touched.append(old["id"])
            continue
        old_cert = location_certs.get(old["location_id"])
        if old_cert:
            _add(delta, old_cert, -1)
        if cert_id:
            _add(delta, cert_id, 1)
        to_update.append(CertificateBinding(id=old["id"], last_seen=now, **values))
    if findings.bindings_scanned:
        gone = [row for key, row in existing.items() if key not in seen and row["location_id"] in location_certs]
        for row in gone:
            cert_id = location_certs.get(row["location_id"])
            if cert_id:
                _add(delta, cert_id, -1)
        for chunk in _chunks([row["id"] for row in gone]):
            CertificateBinding.objects.filter(id__in=chunk).delete()
        result.bindings_removed += len(gone)
    created = insert_rows(
        CertificateBinding,
        to_create,
        ["device_id", "key", "first_seen", "last_seen", *BINDING_FIELDS],
        returning=("id",),
    )
    if to_update:
        CertificateBinding.objects.bulk_update(to_update, [*BINDING_FIELDS, "last_seen"], batch_size=500)
    for chunk in _chunks(touched):
        CertificateBinding.objects.filter(id__in=chunk).update(last_seen=now)
    result.bindings_added += len(created)
    result.bindings = len(seen)


def _store_keys(
    findings: DeviceFindings, cert_ids: dict[str, int], statuses: dict[int, str], result: ApplyResult
) -> None:
    """Private keys: "on the endpoint" for store certificates with a key and for PFX keys of certificates that are
    not Managed; encrypted PKCS#8 in the portal for PFX keys of Managed certificates (validated when used)."""
    with_key = {loc.sha256 for loc in findings.locations if loc.has_private_key and loc.sha256 in cert_ids}
    if not with_key and not findings.portal_keys:
        return
    ids = {cert_ids[sha] for sha in with_key | set(findings.portal_keys) if sha in cert_ids}
    existing: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(sorted(ids)):
        for pk, holder, location in PrivateKey.objects.filter(certificate_id__in=chunk).values_list(
            "id", "certificate_id", "location"
        ):
            if holder is not None:
                existing[holder] = (pk, location)
    new_keys: list[PrivateKey] = []
    upgrades: list[PrivateKey] = []
    for sha in sorted(with_key | set(findings.portal_keys)):
        cert_id = cert_ids.get(sha)
        parsed = findings.certificates.get(sha)
        if cert_id is None or parsed is None:
            continue
        pkcs8 = findings.portal_keys.get(sha) if statuses.get(cert_id) == CertificateStatus.MANAGED else None
        held = existing.get(cert_id)
        if held is None:
            new_keys.append(
                PrivateKey(
                    certificate_id=cert_id,
                    location=KeyLocation.PORTAL if pkcs8 else KeyLocation.ENDPOINT,
                    key_type=parsed.key_type,
                    key_size=parsed.key_size,
                    pkcs8=pkcs8,  # an encrypted binary field (bytes), typed as text by the stubs
                    public_key_sha256=parsed.public_key_sha256 or public_key_sha256_of(parsed.der),
                )
            )
        elif pkcs8 and held[1] == KeyLocation.ENDPOINT:
            upgrades.append(PrivateKey(id=held[0], location=KeyLocation.PORTAL, pkcs8=pkcs8))
    PrivateKey.objects.bulk_create(new_keys, batch_size=200, ignore_conflicts=True)
    if upgrades:
        PrivateKey.objects.bulk_update(upgrades, ["location", "pkcs8"], batch_size=200)
    result.keys_stored = sum(1 for k in new_keys if k.location == KeyLocation.PORTAL) + len(upgrades)


def _initial_counts(findings: DeviceFindings) -> dict[str, tuple[int, int]]:
    """{sha256: (locations, bindings)} that applying `findings` creates for each certificate, for the certificates
    inserted now (the same rules as the location and binding sync)."""
    locations: dict[str, int] = defaultdict(int)
    by_key: dict[str, str] = {}
    for found in findings.locations:
        if found.sha256 and found.state == LocationState.OK:
            locations[found.sha256] += 1
        if found.sha256:
            by_key[found.key] = found.sha256
    bindings: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    for binding in findings.bindings:
        sha = by_key.get(binding.location_key)
        if sha is None or binding.key in seen:
            continue
        seen.add(binding.key)
        bindings[sha] += 1
    return {sha: (locations.get(sha, 0), bindings.get(sha, 0)) for sha in set(locations) | set(bindings)}


LOCK_DEVICE_SQL = "SELECT set_config('synchronous_commit', 'off', true) FROM devices_device WHERE id = %s FOR UPDATE"


@dataclass
class _DeviceState:
    """What the inventory holds for one device's findings before the write."""

    certificates: dict[str, KnownCertificate]
    locations: dict[str, dict[str, Any]]
    bindings: dict[str, dict[str, Any]]


def _device_state(device_id: int, findings: DeviceFindings) -> _DeviceState:
    """Lock the device row, then read the known certificates among the findings and the device's locations and
    bindings (bindings only when the findings have some or read them all).

    The lock: one applier per device at a time (a scheduled and a manual run may reach the same host together). The
    reads come after it, so they see what a previous applier of the same device committed.

    On PostgreSQL the statements go out in one pipeline (one round trip for the lot: on a busy two-core server each
    wait for the database costs more than the statement), and the lock statement also stops this transaction from
    waiting for its WAL flush at commit (synchronous_commit off, for this transaction only): what discovery writes
    is re-derived from the hosts on the next run, so a crash that loses the last few milliseconds of it loses
    nothing that matters (no corruption is possible: the WAL is still written in order), and every host's write
    stops paying a disk flush.
    """
    from django.db import connection

    from devices.models import Device

    shas = list(findings.certificates)
    with_bindings = bool(findings.bindings) or findings.bindings_scanned
    location_columns = ["id", "key", *LOCATION_FIELDS]
    binding_columns = ["id", "key", *BINDING_FIELDS]
    if connection.vendor != "postgresql" or len(shas) > BATCH:
        Device.objects.select_for_update().filter(pk=device_id).values_list("id", flat=True).first()
        locations = CertificateLocation.objects.filter(device_id=device_id).values(*location_columns)
        bindings = CertificateBinding.objects.filter(device_id=device_id).values(*binding_columns)
        return _DeviceState(
            certificates=_known_certificates(shas),
            locations={row["key"]: row for row in locations},
            bindings={row["key"]: row for row in bindings} if with_bindings else {},
        )

    def select(table: str, columns: list[str]) -> str:
        return f"SELECT {', '.join(columns)} FROM {table} WHERE device_id = %s"  # noqa: S608 - model metadata

    with connection.wrap_database_errors, connection.connection.pipeline():
        lock, known, locations = binding_cursor(), binding_cursor(), binding_cursor()
        lock.execute(LOCK_DEVICE_SQL, [device_id])
        known.execute(KNOWN_CERTIFICATES_SQL, [shas])
        locations.execute(select(CertificateLocation._meta.db_table, location_columns), [device_id])
        bindings = None
        if with_bindings:
            bindings = binding_cursor()
            bindings.execute(select(CertificateBinding._meta.db_table, binding_columns), [device_id])
        lock.fetchall()
        state = _DeviceState(
            certificates={row[0]: row[1:] for row in known.fetchall()},
            locations={row[1]: dict(zip(location_columns, row, strict=True)) for row in locations.fetchall()},
            bindings={}
            if bindings is None
            else {row[1]: dict(zip(binding_columns, row, strict=True)) for row in bindings.fetchall()},
        )
    return state


def _apply_once(*, device_id: int, findings: DeviceFindings, options: IngestOptions) -> ApplyResult:
    result = ApplyResult()
    now = timezone.now()
    if findings.group_for:
        options = IngestOptions(
            status=options.status,
            default_group_id=options.default_group_id,
            group_for={**options.group_for, **findings.group_for},
            source=options.source,
        )
    with transaction.atomic():
        state = _device_state(device_id, findings)
        plan = _plan_locations(device_id, findings, state.locations, state.certificates, now)
        new_certificates = _certificates_to_insert(findings, options, state.certificates)
        inserted, created_locations = _insert_certificates_and_locations(
            new_certificates, plan.create, state.certificates
        )
        rows = dict(state.certificates)
        for obj in new_certificates:
            if obj.sha256 in inserted:
                rows[obj.sha256] = (inserted[obj.sha256], obj.status, obj.group_id, obj.chain_pem)
        # Another worker inserted these first (with its own status and counters): treated as existing below.
        lost = [obj.sha256 for obj in new_certificates if obj.sha256 not in inserted]
        if lost:
            rows.update(_known_certificates(lost))
        created = set(inserted)
        cert_ids = {sha: row[0] for sha, row in rows.items()}
        result.certificate_ids = cert_ids
        result.certificates = len(rows)
        result.certificates_new = len(created)

        target_rank = STATUS_RANK[CertificateStatus(options.status)]
        upgrades: dict[int, str] = {}
        moved_in: dict[int, int | None] = {}
        chains_missing: dict[int, str] = {}
        for sha, (pk, status, _group_id, chain) in rows.items():
            if sha not in created and STATUS_RANK[CertificateStatus(status)] < target_rank:
                upgrades[pk] = options.status
                if status == CertificateStatus.DISCOVERED:
                    moved_in[pk] = options.group_for.get(sha, options.default_group_id)
            if not chain and findings.chains.get(sha):
                chains_missing[pk] = findings.chains[sha]
        statuses = {pk: upgrades.get(pk, status) for pk, status, _, _ in rows.values()}

        binding_changes: dict[int, int] = {}
        location_ids, location_certs, location_delta = _finish_locations(
            plan, created_locations, state.locations, cert_ids, now, result, binding_changes
        )
        _sync_bindings(device_id, findings, state.bindings, location_ids, location_certs, now, result, binding_changes)
        # Certificates inserted above already carry this device's counts.
        created_ids = {rows[sha][0] for sha in created}
        location_delta = {k: v for k, v in location_delta.items() if k not in created_ids}
        binding_delta = {k: v for k, v in binding_changes.items() if v and k not in created_ids}

        affected = sorted(set(upgrades) | set(location_delta) | set(binding_delta) | set(chains_missing))
        if affected:
            # Lock in id order: concurrent appliers that share certificates queue instead of deadlocking, and the
            # counter deltas below then apply to the latest committed values.
            for chunk in _chunks(affected):
                list(Certificate.objects.select_for_update().filter(id__in=chunk).order_by("id").values_list("id"))
        _apply_status(upgrades, moved_in, options, result)
        _apply_counters(location_delta, binding_delta)
        for pk, chain in chains_missing.items():
            Certificate.objects.filter(pk=pk, chain_pem="").update(chain_pem=chain)
        _store_keys(findings, cert_ids, statuses, result)
        result.locked_files = sum(1 for loc in findings.locations if loc.state == LocationState.LOCKED)
    return result


def _apply_status(
    upgrades: dict[int, str], moved_in: dict[int, int | None], options: IngestOptions, result: ApplyResult
) -> None:
    by_group: dict[int | None, list[int]] = defaultdict(list)
    for pk, group_id in moved_in.items():
        by_group[group_id].append(pk)
    for group_id, ids in by_group.items():
        for chunk in _chunks(ids):
            Certificate.objects.filter(id__in=chunk, status=CertificateStatus.DISCOVERED).update(
                status=options.status, group_id=group_id, updated_at=timezone.now()
            )
    others = [pk for pk in upgrades if pk not in moved_in]
    lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[CertificateStatus(options.status)]]
    for chunk in _chunks(others):
        Certificate.objects.filter(id__in=chunk, status__in=lower).update(
            status=options.status, updated_at=timezone.now()
        )
    result.status_changed = len(upgrades)


def _apply_counters(location_delta: dict[int, int], binding_delta: dict[int, int]) -> None:
    """Relative updates grouped by (location delta, binding delta): one UPDATE per distinct pair."""
    pairs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pk in set(location_delta) | set(binding_delta):
        pairs[(location_delta.get(pk, 0), binding_delta.get(pk, 0))].append(pk)
    for (dl, db), ids in pairs.items():
        if not dl and not db:
            continue
        for chunk in _chunks(sorted(ids)):
            Certificate.objects.filter(id__in=chunk).update(
                location_count=F("location_count") + dl, binding_count=F("binding_count") + db
            )


def device_findings_apply(*, device_id: int, findings: DeviceFindings, options: IngestOptions) -> ApplyResult:
    """Record what discovery found on one device (see the module docstring). Idempotent: applying the same findings
    again inserts, updates and deletes nothing (only `last_seen` moves). Retried on a deadlock or serialization
    failure, which a concurrent applier can still cause on the database's side."""
    for attempt in range(1, RETRIES + 1):
        try:
            return _apply_once(device_id=device_id, findings=findings, options=options)
        except OperationalError as exc:
            if attempt == RETRIES or ("deadlock" not in str(exc).lower() and "serializ" not in str(exc).lower()):
                raise
            logger.warning("retrying inventory write for device %s after: %s", device_id, exc)
    raise AssertionError("unreachable")


def certificate_counters_recompute(*, certificate_ids: Iterable[int] | None = None) -> int:
    """Recompute `location_count` and `binding_count` from the rows (repair tool; the bulk path keeps them right).
    Returns the number of certificates changed."""
    from django.db.models import Count, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    locations = (
        CertificateLocation.objects.filter(certificate=OuterRef("pk"), state=LocationState.OK)
        .values("certificate")
        .annotate(n=Count("id"))
        .values("n")
    )
    bindings = (
        CertificateBinding.objects.filter(location__certificate=OuterRef("pk"))
        .values("location__certificate")
        .annotate(n=Count("id"))
        .values("n")
    )
    queryset = Certificate.objects.all()
    if certificate_ids is not None:
        queryset = queryset.filter(id__in=list(certificate_ids))
    queryset = queryset.annotate(lc=Coalesce(Subquery(locations), 0), bc=Coalesce(Subquery(bindings), 0)).exclude(
        location_count=F("lc"), binding_count=F("bc")
    )
    changed = [(pk, lc, bc) for pk, lc, bc in queryset.values_list("id", "lc", "bc")]
    Certificate.objects.bulk_update(
        [Certificate(id=pk, location_count=lc, binding_count=bc) for pk, lc, bc in changed],
        ["location_count", "binding_count"],
        batch_size=500,
    )
    return len(changed)
