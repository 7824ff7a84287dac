"""Real TLS and HTTP for the simulated hosts' IIS bindings, as HTTP.sys serves them.

Every http/https endpoint of a started site (see `model.serving.listening_endpoints`) gets an asyncio listener on
its loopback address. An https listener picks the certificate per handshake from the host's HTTP.sys table (SNI
hostnameport, CCS, ipport, wildcard ipport), so a push changes what is served at once, without restarting anything.
Requests are routed by Host header to a started site's binding and answered from the site's folder (static files:
ACME HTTP-01 challenge files, for instance); an unknown host gets HTTP.sys's "400 Invalid Hostname".

IPv6: the loopback has only `::1`, so each IPv6 endpoint of the model is served on `[::1]` at an ephemeral port;
`TlsServer.endpoint_for` (and the control API's state dump) say where. A `*` binding listens on the host's IPv4
addresses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import socket
import ssl
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from iissim.model.bindings import parse_binding_information
from iissim.model.errors import WindowsError
from iissim.model.serving import Endpoint, ServedMaterial, listening_endpoints, select_certificate
from iissim.model.state import iso, thumbprint_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from iissim.model.host import SimHost

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
_ENCODING_DER = getattr(ssl, "ENCODING_DER", 2)  # _ssl.ENCODING_DER; the chain API is private before 3.13


@dataclass
class Listener:
    host: str
    endpoint: Endpoint
    address: str  # where it really listens
    port: int
    server: asyncio.AbstractServer | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.endpoint.scheme,
            "ip": self.endpoint.ip,
            "port": self.endpoint.port,
            "listen_address": self.address,
            "listen_port": self.port,
            "error": self.error,
        }


class ContextCache:
    """SSLContexts per served certificate, built on first use (the stdlib loads keys only from files)."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._dir = tempfile.mkdtemp(prefix="iissim-tls-")
        os.chmod(self._dir, 0o700)

    def get(self, material: ServedMaterial) -> ssl.SSLContext:
        key = material.cache_key
        with self._lock:
            ctx = self._items.get(key)
            if ctx is not None:
                self._items.move_to_end(key)
                return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        pem = b"".join(
            x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM)
            for d in [material.leaf_der, *material.chain_der]
        )
        key_obj = serialization.load_der_private_key(material.key_der, None)
        pem += key_obj.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, path = tempfile.mkstemp(dir=self._dir, suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
        with self._lock:
            self._items[key] = ctx
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return ctx

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


def _quiet_ssl_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, ssl.SSLError | ConnectionError | TimeoutError):
        return
    loop.default_exception_handler(context)


class TlsServer:
    """All binding listeners of a lab, in one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port_map: Callable[[int], int] | None = None) -> None:
        self.loop = loop
        self.port_map = port_map or (lambda port: port)
        self.contexts = ContextCache()
        self.listeners: dict[tuple[str, Endpoint], Listener] = {}
        self._lock = asyncio.Lock()
        loop.set_exception_handler(_quiet_ssl_errors)

    # -- listener management -------------------------------------------------------------------------------------

    async def sync(self, host: SimHost) -> None:
        """Make the listeners match the host's started sites' bindings."""
        with host.lock:
            wanted = set(listening_endpoints(host.state))
        async with self._lock:
            current = {ep for (name, ep) in self.listeners if name == host.name}
            for endpoint in current - wanted:
                listener = self.listeners.pop((host.name, endpoint))
                if listener.server is not None:
                    listener.server.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(listener.server.wait_closed(), 2)
            for endpoint in sorted(wanted - current, key=lambda e: (e.ip, e.port, e.scheme)):
                self.listeners[(host.name, endpoint)] = await self._start(host, endpoint)

    async def _start(self, host: SimHost, endpoint: Endpoint) -> Listener:
        address = "::1" if endpoint.is_ipv6 else endpoint.ip
        port = 0 if endpoint.is_ipv6 else self.port_map(endpoint.port)
        listener = Listener(host.name, endpoint, address, port)
        ssl_ctx = self._listener_context(host, endpoint) if endpoint.scheme == "https" else None

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._http(host, endpoint, reader, writer)

        try:
            listener.server = await asyncio.start_server(
                handle, address, port, ssl=ssl_ctx, reuse_address=True, ssl_handshake_timeout=10 if ssl_ctx else None
            )
            listener.port = listener.server.sockets[0].getsockname()[1]
        except OSError as exc:
            listener.error = f"{exc.strerror or exc}"
            log.warning("iissim: %s cannot listen on %s:%s: %s", host.name, address, port, listener.error)
        return listener

    def _listener_context(self, host: SimHost, endpoint: Endpoint) -> ssl.SSLContext:
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.minimum_version = ssl.TLSVersion.TLSv1_2

        def choose(ssl_obj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> int | None:
            try:
                material = select_certificate(host.state, endpoint.ip, endpoint.port, server_name, host.read_file)
                if material is None:
                    return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
                ssl_obj.context = self.contexts.get(material)
            except Exception:  # a broken certificate in the model must fail one handshake, not the listener
                log.exception("iissim: choosing a certificate failed on %s %s", host.name, endpoint)
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
            return None

        base.sni_callback = choose
        return base

    async def close_host(self, name: str) -> None:
        async with self._lock:
            for key in [k for k in self.listeners if k[0] == name]:
                listener = self.listeners.pop(key)
                if listener.server is not None:
                    listener.server.close()

    async def close(self) -> None:
        async with self._lock:
            for listener in self.listeners.values():
                if listener.server is not None:
                    listener.server.close()
            self.listeners.clear()
        self.contexts.close()

    def host_listeners(self, name: str) -> list[dict[str, Any]]:
        return [
            listener.as_dict()
            for (host, _), listener in sorted(self.listeners.items(), key=lambda kv: (kv[0][1].ip, kv[0][1].port))
            if host == name
        ]

    def endpoint_for(self, name: str, ip: str, port: int, scheme: str = "https") -> tuple[str, int] | None:
        """Where the model's (ip, port) of host `name` really listens, or None when nothing listens there."""
        listener = self.listeners.get((name, Endpoint(scheme, ip.strip("[]"), port)))
        if listener is None or listener.server is None:
            return None
        return listener.address, listener.port

    # -- HTTP ----------------------------------------------------------------------------------------------------

    async def _http(
        self, host: SimHost, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        try:
            status, headers, body = self._respond(host, endpoint, head[:MAX_REQUEST])
            head_line = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            writer.write(head_line.encode("latin-1") + body)
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, host: SimHost, endpoint: Endpoint, head: bytes) -> tuple[str, dict[str, str], bytes]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        server = {"Server": "Microsoft-IIS/10.0", "Connection": "close"}
        if len(parts) != 3:
            return self._text("400 Bad Request", "Bad Request", server)
        method, target = parts[0], parts[1]
        host_header = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "host":
                host_header = value.strip()
        hostname = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        hostname = hostname.strip("[]").lower()
        site = self._route(host, endpoint, hostname)
        if site is None:
            return self._text(
                "400 Bad Request", "Bad Request - Invalid Hostname", {**server, "Server": "Microsoft-HTTPAPI/2.0"}
            )
        if method not in ("GET", "HEAD"):
            return self._text("405 Method Not Allowed", "The requested resource does not support this method.", server)
        path = target.split("?", 1)[0]
        if ".." in path.split("/"):
            return self._text("404 Not Found", "Not Found", server)
        relative = path.lstrip("/").replace("/", "\\") or "iisstart.htm"
        content = host.read_file(site.rstrip("\\") + "\\" + relative)
        if content is None:
            return self._text(
                "404 Not Found",
                "The resource you are looking for has been removed, had its name changed, or is temporarily "
                "unavailable.",
                server,
            )
        kind = mimetypes.guess_type(relative.replace("\\", "/"))[0] or "application/octet-stream"
        if "acme-challenge" in relative.lower() and kind == "application/octet-stream":
            kind = "text/plain"
        headers = {**server, "Content-Type": kind, "Content-Length": str(len(content))}
        return "200 OK", headers, b"" if method == "HEAD" else content

    @staticmethod
    def _text(status: str, text: str, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
        body = text.encode()
        return status, {**headers, "Content-Type": "text/plain", "Content-Length": str(len(body))}, body

    @staticmethod
    def _route(host: SimHost, endpoint: Endpoint, hostname: str) -> str | None:
        """The physical path of the started site that owns this request: exact host first, then empty host."""
        best: tuple[int, str] | None = None
        for site in host.state.sites:
            if not site.started:
                continue
            for b in site.bindings:
                if b.protocol.lower() != endpoint.scheme:
                    continue
                try:
                    info = parse_binding_information(b.binding_information)
                except WindowsError:
                    continue
                if info.port != endpoint.port:
                    continue
                if info.ip != "*" and info.ip != endpoint.ip and not (info.ip == "::" and endpoint.is_ipv6):
                    continue
                if info.host:
                    pattern = info.host.lower()
                    matched = pattern == hostname or (
                        pattern.startswith("*.")
                        and hostname.endswith(pattern[1:])
                        and hostname.count(".") == pattern.count(".")
                    )
                    score = 3 if pattern == hostname else 2
                    if not matched:
                        continue
                else:
                    score = 1
                score += 1 if info.ip != "*" else 0
                if best is None or score > best[0]:
                    best = (score, site.physical_path)
        return best[1] if best else None

    # -- probing (verify_served_on_host) -------------------------------------------------------------------------

    def probe(self, host: SimHost, ip: str, port: int, sni: str | None, timeout: float) -> dict[str, Any]:
        """A real handshake against this host's listener, from a worker thread."""
        target = self.endpoint_for(host.name, ip, port)
        if target is None:
            return {
                "error": f"No connection could be made to {ip}:{port} (nothing listens)",
                "code": "connection_refused",
            }
        return handshake(target[0], target[1], sni, timeout)


def handshake(address: str, port: int, sni: str | None, timeout: float = 10.0) -> dict[str, Any]:
    """Connect, handshake with SNI, report the served leaf (and chain, where Python exposes it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            chain_getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
            chain = [c.public_bytes(_ENCODING_DER) for c in (chain_getter() or [])] if chain_getter else []
            version = tls.version()
    except ConnectionRefusedError:
        return {"error": f"No connection could be made to {address}:{port}", "code": "connection_refused"}
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return {"error": f"TLS handshake failed: {exc}", "code": "tls_handshake_failed"}
    if der is None:
        return {"error": "TLS handshake gave no certificate", "code": "tls_handshake_failed"}
    leaf = x509.load_der_x509_certificate(der)
    return {
        "thumbprint": thumbprint_of(der),
        "subject": leaf.subject.rfc4514_string(),
        "not_after": iso(leaf.not_valid_after_utc),
        "chain": [thumbprint_of(d) for d in chain[1:]],
        "protocol": version,
    }
