"""The HTTP(S) side of the simulated WinRM service: listeners, HTTP/1.1 keep-alive, authentication, encryption.

Each response (status line, headers and body) goes out in one write on a TCP_NODELAY socket; without that, Nagle's
algorithm and the client's delayed ACK stall every request by about 40 ms (winrm-protocol.md §3).

Stock Windows security is the default and each refusal answers as Windows does (status codes from public reports,
not from a recorded trace):
- Basic is offered and accepted only when `auth_methods` has it, and over plain HTTP only with `allow_unencrypted`
  (otherwise 401, as for a wrong password);
- an authenticated but unencrypted SOAP body over plain HTTP is refused with 500 and an empty body unless
  `allow_unencrypted`;
- a SOAP envelope larger than MaxEnvelopeSizekb gets 413.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import socket
import ssl
import struct
import tempfile
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field

from spnego.channel_bindings import GssChannelBindings

from iissim.contract import CommandRunner, TransportFaults, WinRMConfig
from iissim.winrm import encryption, soap
from iissim.winrm.auth import AuthRejected, NegotiateAcceptor, check_basic, tls_channel_bindings
from iissim.winrm.pool import default_executor
from iissim.winrm.shells import DropConnection, WinRSService

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_SOAP_TYPE = "application/soap+xml;charset=UTF-8"
_MAX_HEADER = 65536
_TLS_HANDSHAKE_TIMEOUT = 15.0


@dataclass
class HttpRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}", "Server: Microsoft-HTTPAPI/2.0"]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append(f"Content-Length: {len(self.body)}")
        if self.close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class HttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def read_request(reader: asyncio.StreamReader, max_body: int) -> HttpRequest | None:
    """One HTTP/1.1 request, or None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400) from exc
    except asyncio.LimitOverrunError as exc:
        raise HttpError(431) from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, path, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise HttpError(400) from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400)
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader, max_body)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise HttpError(400) from exc
        if length < 0:
            raise HttpError(400)
        if length > max_body:
            raise HttpError(413)
        body = await reader.readexactly(length) if length else b""
    return HttpRequest(method.upper(), path, version.upper(), headers, body)


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise HttpError(400) from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers carry nothing this endpoint reads
            return bytes(body)
        if len(body) + size > max_body:
            raise HttpError(413)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class _Connection:
    """Per-TCP-connection state: the NTLM/SPNEGO context authenticates the connection, not single requests."""

    def __init__(self, listener: WinRMListener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.listener = listener
        self.reader = reader
        self.writer = writer
        self.acceptor: NegotiateAcceptor | None = None
        self.user: str | None = None
        peer = writer.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""


class WinRMListener:
    """The WinRM service of one simulated host: an HTTP and/or an HTTPS listener sharing one WinRS shell table.

    `http_port` / `https_port` are the bound ports once started (None when that listener is off). The HTTPS
    listener runs only when `config.https_port` is set and a certificate is configured, as on Windows, where an
    HTTPS listener needs a certificate.
    """

    def __init__(
        self,
        config: WinRMConfig,
        runner: CommandRunner,
        faults: TransportFaults | None = None,
        *,
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        self.runner = runner
        self.faults = faults if faults is not None else TransportFaults()
        self.service = WinRSService(config, runner, self.faults, executor or default_executor())
        self.http_port: int | None = None
        self.https_port: int | None = None
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tls: ssl.SSLContext | None = None
        self._bindings: GssChannelBindings | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        config = self.config
        try:
            if config.http_port is not None:
                server = await self._listen(config.http_port, tls=False)
                self.http_port = server.sockets[0].getsockname()[1]
            if config.https_port is not None and config.https_cert_pem and config.https_key_pem:
                self._tls = _server_tls_context(config.https_cert_pem, config.https_key_pem)
                self._bindings = tls_channel_bindings(config.https_cert_pem)
                server = await self._listen(config.https_port, tls=True)
                self.https_port = server.sockets[0].getsockname()[1]
        except BaseException:
            await self.close()
            raise

    async def _listen(self, port: int, *, tls: bool) -> asyncio.Server:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_connection(reader, writer, tls=tls)

        server = await asyncio.start_server(
            on_connect, host=self.config.address, port=port, reuse_address=True, backlog=256, limit=_MAX_HEADER
        )
        self._servers.append(server)
        return server

    async def close(self) -> None:
        """Stop listening and drop every open connection (await it inside the listener's event loop)."""
        self._closed = True
        for server in self._servers:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    aclose = close

    def close_threadsafe(self, timeout: float = 10.0) -> None:
        """Close from a thread other than the listener's loop; blocks until the listeners are closed."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout)

    @property
    def open_shells(self) -> int:
        return len(self.service.shells)

    @property
    def stats(self) -> Counter[str]:
        """Counters: requests by WS-Management action name; 'http' (HTTP requests read), 'connections' (accepted TCP
        connections), 'encrypted' / 'plaintext' (SOAP bodies by how they arrived)."""
        return Counter(self.service.stats)

    # -- connections ----------------------------------------------------------------------------------------------

    def _faults(self) -> tuple[int, bool, bool]:
        faults = self.faults
        with faults.lock:
            return faults.latency_ms, faults.refuse_connections, faults.auth_failure

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._connections.add(writer)
        sock = writer.get_extra_info("socket")
        try:
            if self._faults()[1] or self._closed:
                _reset(sock)
                writer.transport.abort()
                return
            self.service.stats["connections"] += 1
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                assert self._tls is not None
                await writer.start_tls(self._tls, ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT)
            conn = _Connection(self, reader, writer)
            await self._serve_requests(conn, tls=tls)
        except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or failed its TLS handshake; nothing to answer
        except asyncio.CancelledError:
            # Only close() cancels these per-connection tasks; ending quietly keeps asyncio's stream callback from
            # logging the cancellation as an error.
            writer.transport.abort()
        finally:
            self._connections.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.transport.close()

    async def _serve_requests(self, conn: _Connection, *, tls: bool) -> None:
        max_body = self.config.max_envelope_kb * 1024 * 2 + 65536
        while True:
            try:
                request = await read_request(conn.reader, max_body)
            except HttpError as exc:
                conn.writer.write(HttpResponse(exc.status, close=True).encode())
                await conn.writer.drain()
                return
            if request is None:
                return
            self.service.stats["http"] += 1
            try:
                response = await self._respond(conn, request, tls=tls)
            except DropConnection:
                _reset(conn.writer.get_extra_info("socket"))
                conn.writer.transport.abort()
                return
            except Exception:
                # A bug here must not take the listener down; the client sees what a failing WinRM service sends.
                log.exception("iissim WinRM %s: request failed", self.config.address)
                response = HttpResponse(500, close=True)
            latency = self._faults()[0]
            if latency > 0:
                await asyncio.sleep(latency / 1000)
            if not request.keep_alive:
                response.close = True
            conn.writer.write(response.encode())
            await conn.writer.drain()
            if response.close:
                return

    # -- authentication -------------------------------------------------------------------------------------------

    def _basic_allowed(self, tls: bool) -> bool:
        return "basic" in self.config.auth_methods and (tls or self.config.allow_unencrypted)

    def _negotiate_allowed(self) -> bool:
        return bool({"negotiate", "ntlm"} & set(self.config.auth_methods))

    def _challenge(self, tls: bool) -> HttpResponse:
        headers: list[tuple[str, str]] = []
        if self._negotiate_allowed():
            headers.append(("WWW-Authenticate", "Negotiate"))
        if "kerberos" in self.config.auth_methods:
            headers.append(("WWW-Authenticate", "Kerberos"))
        if self._basic_allowed(tls):
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return HttpResponse(401, headers=headers)

    async def _respond(self, conn: _Connection, request: HttpRequest, *, tls: bool) -> HttpResponse:
        if request.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            return HttpResponse(404)
        if request.method != "POST":
            return HttpResponse(405, headers=[("Allow", "POST")])
        _latency, _refuse, auth_failure = self._faults()
        final_token: str | None = None
        basic_user: str | None = None
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        scheme_lower = scheme.lower()
        if scheme_lower == "basic":
            if not self._basic_allowed(tls) or auth_failure:
                return self._challenge(tls)
            basic_user = check_basic(self.config.users, value)
            if basic_user is None:
                return self._challenge(tls)
        elif scheme_lower in {"negotiate", "ntlm"} and self._negotiate_allowed():
            try:
                token = base64.b64decode(value.strip(), validate=True)
            except binascii.Error:
                return self._challenge(tls)
            starts_handshake = (token.startswith(b"NTLMSSP\x00") and token[8:9] == b"\x01") or (
                not token.startswith(b"NTLMSSP\x00") and (conn.acceptor is None or conn.acceptor.complete)
            )
            if starts_handshake:
                conn.user = None
                try:
                    conn.acceptor = NegotiateAcceptor(
                        "NTLM" if scheme_lower == "ntlm" else "Negotiate", token, self.config.users
                    )
                except Exception:
                    conn.acceptor = None
                    return self._challenge(tls)
            elif conn.acceptor is None or auth_failure:
                conn.acceptor = None
                return self._challenge(tls)
            acceptor = conn.acceptor
            try:
                out = acceptor.step(token, self._bindings if tls else None, self.config.cbt)
            except AuthRejected:
                conn.acceptor = None
                return self._challenge(tls)
            if not acceptor.complete:
                if out is None:
                    conn.acceptor = None
                    return self._challenge(tls)
                return HttpResponse(
                    401, headers=[("WWW-Authenticate", f"{acceptor.scheme} {base64.b64encode(out).decode()}")]
                )
            conn.user = acceptor.user
            if out:
                final_token = f"{acceptor.scheme} {base64.b64encode(out).decode()}"
        elif conn.user is None or conn.acceptor is None or not conn.acceptor.complete:
            return self._challenge(tls)

        user = basic_user or conn.user or ""
        extra = [("WWW-Authenticate", final_token)] if final_token else []
        if not request.body:
            # Both clients send an empty authenticated POST to set up the context used for encryption.
            return HttpResponse(200, headers=extra)
        return await self._soap(conn, request, user, extra, tls=tls, basic=basic_user is not None)

    # -- SOAP -----------------------------------------------------------------------------------------------------

    async def _soap(
        self,
        conn: _Connection,
        request: HttpRequest,
        user: str,
        extra: list[tuple[str, str]],
        *,
        tls: bool,
        basic: bool,
    ) -> HttpResponse:
        content_type = request.headers.get("content-type", "")
        acceptor = conn.acceptor
        context = acceptor.context if (acceptor is not None and acceptor.complete and not basic) else None
        encrypted = encryption.is_encrypted(content_type)
        if encrypted:
            if context is None:
                return HttpResponse(500, headers=extra)
            try:
                plain = encryption.unwrap(request.body, content_type, context)
            except encryption.EncryptionError:
                return HttpResponse(500, headers=extra, close=True)
        else:
            if not tls and not self.config.allow_unencrypted:
                return HttpResponse(500, headers=extra)
            plain = request.body
        self.service.stats["encrypted" if encrypted else "plaintext"] += 1
        if len(plain) > self.config.max_envelope_kb * 1024:
            return HttpResponse(413, headers=extra)

        machine = self.config.address
        try:
            wsman = soap.parse_request(plain)
        except soap.SoapParseError as exc:
            status, xml = 400, soap.fault_invalid(str(exc)).to_xml("", machine)
        else:
            try:
                status, xml = 200, await self.service.handle(wsman, user, conn.client_ip)
            except soap.WSManFault as fault:
                status, xml = 500, fault.to_xml(wsman.message_id, machine)
        if encrypted and context is not None:
            return HttpResponse(
                status,
                encryption.wrap(xml, context),
                headers=[("Content-Type", encryption.CONTENT_TYPE_SPNEGO), *extra],
            )
        return HttpResponse(status, xml, headers=[("Content-Type", _SOAP_TYPE), *extra])


def _reset(sock: socket.socket | None) -> None:
    """Make the coming close send RST, as a refused or broken connection does."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _server_tls_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl loads certificates only from files; they live for the duration of this call, readable by us alone.
    with tempfile.TemporaryDirectory(prefix="iissim-tls-") as directory:
        cert_path = os.path.join(directory, "cert.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path)
    return context
