"""Extension points other apps plug into the inventory without the inventory importing them.

Connector summaries: the application connectors app registers a function that, given the certificate ids of one
inventory page, returns `{certificate_id: [connector summary, ...]}` with a fixed number of queries. The inventory
API puts them in each certificate's `connectors` list (API.md "Inventory"); with nothing registered, no certificate
has connectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

ConnectorSummaries = Callable[[Sequence[int]], dict[int, list[dict[str, Any]]]]

_connector_summaries: list[ConnectorSummaries] = []


def register_connector_summaries(provider: ConnectorSummaries) -> ConnectorSummaries:
    """Decorator: add a provider of connector summaries for inventory pages."""
    _connector_summaries.append(provider)
    return provider


def connector_summaries(certificate_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    summaries: dict[int, list[dict[str, Any]]] = {}
    for provider in _connector_summaries:
        for cert_id, items in provider(certificate_ids).items():
            summaries.setdefault(cert_id, []).extend(items)
    return summaries
