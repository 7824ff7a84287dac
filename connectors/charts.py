"""Charts rendered by the server as inline SVG (UI.md "Charts": no external service, no library): the share of
succeeded vs failed checks, and both over time. Colours are the status colours; every bar has a <title> with its
numbers, and the page shows the same numbers in a table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

GREEN = "#1a7f37"
RED = "#c62828"
GRID = "#d0d7de"
TEXT = "#57606a"


def share_bar(*, succeeded: int, failed: int, width: int = 480) -> SafeString:
    """One horizontal bar split into the succeeded and failed shares, with the percentages."""
    total = succeeded + failed
    if total == 0:
        return mark_safe(  # noqa: S308 - constant markup
            f'<svg role="img" aria-label="No checks yet" width="{width}" height="28"><rect width="{width}" '
            f'height="20" fill="{GRID}"/></svg>'
        )
    ok_width = round(width * succeeded / total)
    pct = 100 * succeeded / total
    label = f"{succeeded} succeeded ({pct:.1f}%), {failed} failed ({100 - pct:.1f}%)"
    parts = [
        f'<svg role="img" aria-label="{escape(label)}" width="{width}" height="40" viewBox="0 0 {width} 40" '
        f'data-testid="share-chart">',
        f'<rect x="0" y="0" width="{ok_width}" height="20" fill="{GREEN}"><title>{succeeded} succeeded</title></rect>',
        f'<rect x="{ok_width}" y="0" width="{width - ok_width}" height="20" fill="{RED}">'
        f"<title>{failed} failed</title></rect>",
        f'<text x="0" y="36" font-size="12" fill="{TEXT}">{escape(label)}</text>',
        "</svg>",
    ]
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def _label(period: datetime, hourly: bool) -> str:
    local = timezone.localtime(period)
    return local.strftime("%H:%M") if hourly else local.strftime("%m-%d")


def series_chart(series: Sequence[dict[str, Any]], *, hourly: bool, width: int = 720, height: int = 220) -> SafeString:
    """Stacked bars per period: succeeded (green) below failed (red), with a y axis of check counts."""
    if not series:
        return mark_safe(  # noqa: S308 - constant markup
            f'<svg role="img" aria-label="No checks in this period" width="{width}" height="40">'
            f'<text x="0" y="24" font-size="13" fill="{TEXT}">No checks in this period.</text></svg>'
        )
    left, bottom, top = 44, 28, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(1, max(row["succeeded"] + row["failed"] for row in series))
    step = plot_w / len(series)
    bar = max(2.0, step * 0.7)
    parts = [
        f'<svg role="img" aria-label="Checks per {"hour" if hourly else "day"}: succeeded and failed" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-testid="series-chart">'
    ]
    for tick in range(5):
        value = round(peak * tick / 4)
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{TEXT}">{value}</text>'
        )
    every = max(1, len(series) // 12)
    for i, row in enumerate(series):
        x = left + i * step + (step - bar) / 2
        ok_h = plot_h * row["succeeded"] / peak
        bad_h = plot_h * row["failed"] / peak
        y_ok = top + plot_h - ok_h
        label = escape(_label(row["period"], hourly))
        title = f"{label}: {row['succeeded']} succeeded, {row['failed']} failed"
        parts.append(
            f'<rect x="{x:.1f}" y="{y_ok:.1f}" width="{bar:.1f}" height="{ok_h:.1f}" fill="{GREEN}">'
            f"<title>{title}</title></rect>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y_ok - bad_h:.1f}" width="{bar:.1f}" height="{bad_h:.1f}" fill="{RED}">'
            f"<title>{title}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" font-size="11" text-anchor="middle" fill="{TEXT}">'
                f"{label}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only
