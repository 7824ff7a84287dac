"""Served-certificate checks over real TLS handshakes against a local server that picks certificates by SNI."""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.tls import TlsEndpoint, fetch_served_now


def make_cert(cn: str, tmp: Path) -> tuple[ssl.SSLContext, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / f"{cn}.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / f"{cn}.pem")
    der = cert.public_bytes(serialization.Encoding.DER)
    return context, hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


@pytest.fixture
def sni_server(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A TLS server on 127.0.0.1: 'a.example.test' and 'b.example.test' by SNI, 'default' without SNI."""
    contexts = {cn: make_cert(cn, tmp_path) for cn in ("default", "a.example.test", "b.example.test")}
    default_ctx = contexts["default"][0]

    def pick(sock: ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name in contexts:
            sock.context = contexts[server_name][0]

    default_ctx.sni_callback = pick
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with default_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, {cn: thumb for cn, (_, thumb) in contexts.items()}
    stop.set()
    thread.join(2)
    listener.close()


def test_it_reads_the_certificate_served_for_each_sni_host(sni_server: tuple[int, dict[str, str]]) -> None:
    port, thumbprints = sni_server
    results = fetch_served_now(
        [
            TlsEndpoint("127.0.0.1", port, "a.example.test"),
            TlsEndpoint("127.0.0.1", port, "b.example.test"),
            TlsEndpoint("127.0.0.1", port, ""),
        ],
        concurrency=2,
    )
    assert [r.thumbprint for r in results] == [
        thumbprints["a.example.test"],
        thumbprints["b.example.test"],
        thumbprints["default"],
    ]
    assert all(r.ok and r.error == "" for r in results)


def test_a_closed_port_is_reported_not_raised() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (result,) = fetch_served_now([TlsEndpoint("127.0.0.1", port, "x.example.test")], timeout=2)
    assert not result.ok
    assert result.error.startswith("connection failed")


def test_a_plain_tcp_server_is_a_handshake_failure() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    (result,) = fetch_served_now([TlsEndpoint("127.0.0.1", port)], timeout=3)
    listener.close()
    assert not result.ok
    assert "TLS handshake failed" in result.error or "connection failed" in result.error
