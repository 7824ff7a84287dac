"""`insert_rows` and `update_rows`, the bulk statements under discovery and push validation: every column type
goes in and comes back as the ORM reads it (on PostgreSQL through one JSON recordset parameter)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from certificates.bulk import CERTIFICATE_INSERT_FIELDS, insert_rows, update_rows
from certificates.models import Certificate, CertificateGroup

AWKWARD_TEXT = 'CN=O\'Brien "Ops", OU=R&D\\Lab, O=Zürich 株式会社'
AWKWARD_BYTES = bytes(range(256)) * 3


def row(index: int, **overrides: Any) -> SimpleNamespace:
    when = dt.datetime(2026, 11, 27, 8, 15, 30, 123456, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "sha256": f"{index:064x}",
        "thumbprint": f"{index:040X}",
        "der": AWKWARD_BYTES[index:],
        "common_name": f"app{index}.example.test",
        "subject": AWKWARD_TEXT,
        "issuer": "CN=Issuing CA",
        "issuer_common_name": "Issuing CA",
        "serial": f"{index:X}",
        "sans": {"dns": [f"app{index}.example.test", "ünïcode.test"], "ip": ["2001:db8::1"], "email": [], "uri": []},
        "key_type": "rsa",
        "key_size": 2048 + index,
        "signature_hash": "sha256",
        "not_before": when - dt.timedelta(days=index),
        "not_after": when + dt.timedelta(days=index, microseconds=index),
        "is_ca": index % 2 == 0,
        "self_signed": False,
        "extended_key_usage": ["serverAuth"],
        "is_client": False,
        "status": "managed",
        "source": "discovered",
        "group_id": None,
        "chain_pem": "",
        "attributes": {} if index % 2 else {"owner": 'Team "A"', "nested": {"n": [1, None, True]}},
        "search_text": f"app{index}.example.test",
        "location_count": 0,
        "binding_count": 0,
        "created_at": when,
        "updated_at": when,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def assert_stored(expected: SimpleNamespace) -> None:
    stored = Certificate.objects.get(sha256=expected.sha256)
    for name in CERTIFICATE_INSERT_FIELDS:
        value = getattr(stored, name)
        assert (bytes(value) if name == "der" else value) == getattr(expected, name), name


def test_insert_rows_stores_every_column_type_as_given(db: Any) -> None:
    rows = [row(i) for i in range(1, 6)]
    inserted = insert_rows(Certificate, rows, CERTIFICATE_INSERT_FIELDS, returning=("sha256", "id"), conflict="sha256")
    assert sorted(sha for sha, _ in inserted) == sorted(r.sha256 for r in rows)
    for expected in rows:
        assert_stored(expected)


def test_insert_rows_skips_conflicting_rows_and_returns_only_its_own(db: Any) -> None:
    first = [row(1), row(2)]
    insert_rows(Certificate, first, CERTIFICATE_INSERT_FIELDS, returning=("sha256", "id"), conflict="sha256")
    again = [row(2, common_name="changed"), row(3)]
    inserted = insert_rows(Certificate, again, CERTIFICATE_INSERT_FIELDS, returning=("sha256", "id"), conflict="sha256")
    assert [sha for sha, _ in inserted] == [row(3).sha256]
    assert Certificate.objects.get(sha256=row(2).sha256).common_name == "app2.example.test"


def test_update_rows_writes_each_rows_own_values_and_nothing_else(db: Any) -> None:
    rows = [row(i) for i in range(1, 5)]
    ids = dict(insert_rows(Certificate, rows, CERTIFICATE_INSERT_FIELDS, returning=("sha256", "id")))
    group = CertificateGroup.objects.create(name="Web")
    later = dt.datetime(2027, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    changes = [
        Certificate(id=ids[rows[0].sha256], der=b"\x00\xff", attributes={"k": "v"}, not_after=later, group_id=None),
        Certificate(id=ids[rows[1].sha256], der=b"", attributes={}, not_after=later, group_id=group.pk),
    ]
    update_rows(Certificate, changes, ["der", "attributes", "not_after", "group_id"])
    first, second = (Certificate.objects.get(pk=c.pk) for c in changes)
    assert (bytes(first.der), first.attributes, first.not_after, first.group_id) == (
        b"\x00\xff",
        {"k": "v"},
        later,
        None,
    )
    assert (bytes(second.der), second.attributes, second.group_id) == (b"", {}, group.pk)
    assert (first.common_name, second.subject) == (rows[0].common_name, AWKWARD_TEXT)
    for untouched in rows[2:]:
        assert_stored(untouched)
