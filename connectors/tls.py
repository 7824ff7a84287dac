"""What a TLS endpoint actually serves: real handshakes from the portal, with SNI where the binding has a host.

Used right after a push (the new certificate must be served on every affected ip:port[:host], else roll back)
and by the push-validation sweep (thousands of endpoints, bounded concurrency on one event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class TlsEndpoint:
    ip: str  # an address to connect to (IPv6 without brackets)
    port: int
    host: str = ""  # the SNI host name; empty: no SNI (a non-SNI binding answers by ip:port)


@dataclass(frozen=True)
class ServedCertificate:
    endpoint: TlsEndpoint
    thumbprint: str | None  # SHA-1, upper-case hex, as Windows shows it
    sha256: str | None
    der: bytes | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.der is not None


def _client_context() -> ssl.SSLContext:
    # We read what is served, whoever issued it: trust is judged by comparing with the pushed certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_CONTEXT = _client_context()


async def fetch_served(endpoint: TlsEndpoint, timeout: float = 5.0) -> ServedCertificate:
    """Handshake with one endpoint and return the leaf certificate it served (or why it could not)."""
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                endpoint.ip.strip("[]"), endpoint.port, ssl=_CONTEXT, server_hostname=endpoint.host or None
            ),
            timeout,
        )
    except TimeoutError:
        return ServedCertificate(endpoint, None, None, None, f"timed out after {timeout:.0f} s")
    except ssl.SSLError as exc:
        return ServedCertificate(endpoint, None, None, None, f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return ServedCertificate(endpoint, None, None, None, f"connection failed: {exc.strerror or exc}")
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    if not der:
        return ServedCertificate(endpoint, None, None, None, "no certificate was served")
    return ServedCertificate(
        endpoint,
        hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        hashlib.sha256(der).hexdigest(),
        der,
    )


async def fetch_many(
    endpoints: Iterable[TlsEndpoint], concurrency: int = 100, timeout: float = 5.0
) -> list[ServedCertificate]:
    """Handshake with every endpoint, at most `concurrency` at a time; results in the input order."""
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(endpoint: TlsEndpoint) -> ServedCertificate:
        async with limit:
            return await fetch_served(endpoint, timeout)

    return list(await asyncio.gather(*(one(e) for e in endpoints)))


def fetch_served_now(
    endpoints: Iterable[TlsEndpoint], concurrency: int = 100, timeout: float = 5.0
) -> list[ServedCertificate]:
    """Synchronous entry point for workers (runs its own event loop, in a helper thread when the calling thread
    already runs one)."""
    items = list(endpoints)

    def run() -> list[ServedCertificate]:
        return asyncio.run(fetch_many(items, concurrency, timeout))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
