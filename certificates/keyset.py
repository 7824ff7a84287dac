"""Keyset pagination: constant time per page at any depth, for the million-row inventory (UI and API).

A page is ordered by one column plus `id` as the tie-breaker, both in the same direction, so that an index on
(column, id) serves it. The cursor is the (value, id) of the last row of the page, encoded opaquely; the next page
is `WHERE (column, id) > (value, id)` (a row comparison the index answers directly; `<` when descending). The
previous page is the same query reversed. No OFFSET, no COUNT.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import BooleanField, Model, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime


class CursorError(ValueError):
    """The cursor is not one this server wrote."""


@dataclass(frozen=True)
class Ordering:
    """An allowed ordering: API/UI name -> model column (non-null) and whether its values are datetimes."""

    name: str
    column: str
    is_datetime: bool = False


@dataclass(frozen=True)
class Page[M: Model]:
    items: list[M]
    next_cursor: str | None
    previous_cursor: str | None
    ordering: str


def _encode(value: Any, pk: int, backwards: bool) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, pk, 1 if backwards else 0], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, ordering: Ordering) -> tuple[Any, int, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk, backwards = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise CursorError("invalid cursor") from exc
    if not isinstance(pk, int) or backwards not in (0, 1):
        raise CursorError("invalid cursor")
    if ordering.is_datetime:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise CursorError("invalid cursor")
        value = parsed
    elif not isinstance(value, (str, int, float)):
        raise CursorError("invalid cursor")
    return value, pk, bool(backwards)


def keyset_page[M: Model](
    queryset: QuerySet[M],
    *,
    ordering: Ordering,
    descending: bool,
    cursor: str | None,
    page_size: int,
) -> Page[M]:
    """One page of `queryset` in (column, id) order; `cursor` comes from a previous page's next/previous cursor."""
    table = queryset.model._meta.db_table
    column = queryset.model._meta.get_field(ordering.column).column  # type: ignore[union-attr]
    pk_column = queryset.model._meta.pk.column
    backwards = False
    if cursor:
        value, pk, backwards = _decode(cursor, ordering)
        forward_op = "<" if descending else ">"
        op = {"<": ">", ">": "<"}[forward_op] if backwards else forward_op
        # Table and column names come from the model's metadata; the cursor's values go in as parameters.
        field = queryset.model._meta.get_field(ordering.column)
        # The value as this database stores it: SQLite compares date-times as text, so an ISO string with a "T" and
        # an offset would not sort against its stored "YYYY-MM-DD HH:MM:SS".
        db_value = field.get_db_prep_value(value, connections[queryset.db])  # type: ignore[union-attr]
        condition = RawSQL(  # noqa: S611
            f'("{table}"."{column}", "{table}"."{pk_column}") {op} (%s, %s)',
            (db_value, pk),
            output_field=BooleanField(),
        )
        queryset = queryset.filter(condition)
    reverse = descending != backwards
    prefix = "-" if reverse else ""
    rows = list(queryset.order_by(f"{prefix}{ordering.column}", f"{prefix}id")[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    label = f"-{ordering.name}" if descending else ordering.name
    if not rows:
        return Page(items=[], next_cursor=None, previous_cursor=None, ordering=label)
    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_previous = (cursor is not None) if not backwards else more
    return Page(
        items=rows,
        next_cursor=_encode(getattr(last, ordering.column), last.pk, False) if has_next else None,
        previous_cursor=_encode(getattr(first, ordering.column), first.pk, True) if has_previous else None,
        ordering=label,
    )
