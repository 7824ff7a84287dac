"""The endpoint's HTTP layer spoken to over a raw socket: status codes, challenges, keep-alive, framing, refusals.

The host behind the endpoint is `FakeHost` (tests/iissim/conftest.py), the one faked seam.
"""

from __future__ import annotations

import base64
import socket

from tests.iissim.conftest import PASSWORD, USER, StartEndpoint


def exchange(port: int, *requests: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send each request on one connection and read each response (Content-Length framed)."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        stream = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            status_line = stream.readline()
            if not status_line:
                break
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
            body = stream.read(int(headers.get("content-length", "0")))
            answers.append((status, headers, body))
    return answers


def post(body: bytes = b"", *, path: str = "/wsman", auth: str | None = None, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "Content-Type: application/soap+xml;charset=UTF-8\r\n"
    if auth:
        head += f"Authorization: {auth}\r\n"
    return (head + extra + "\r\n").encode() + body


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_an_anonymous_post_is_challenged_with_negotiate_only_by_default(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    [(status, headers, body)] = exchange(endpoint.http, post())
    assert status == 401
    assert headers["www-authenticate"] == "Negotiate"
    assert headers["server"] == "Microsoft-HTTPAPI/2.0"
    assert body == b""


def test_basic_is_offered_where_the_lab_allows_it(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("negotiate", "basic"), allow_unencrypted=True)
    [(status, headers, _)] = exchange(endpoint.http, post())
    assert status == 401
    assert headers["www-authenticate"] == 'Negotiate, Basic realm="WSMAN"'


def test_other_paths_and_methods_are_refused(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    get = b"GET /wsman HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = exchange(endpoint.http, post(path="/other"), get)
    assert [status for status, _, _ in answers] == [404, 405]


def test_one_connection_carries_many_requests(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    answers = exchange(endpoint.http, post(auth=basic()), post(auth=basic()), post(auth=basic("winrm", "bad")))
    assert [status for status, _, _ in answers] == [200, 200, 401]
    assert endpoint.listener.stats["connections"] == 1


def test_a_malformed_request_gets_400_and_the_connection_closes(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with socket.create_connection(("127.0.0.1", endpoint.http), 5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nConnection: close\r\n" in answer


def test_a_body_beyond_the_envelope_limit_gets_413_without_being_read(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(max_envelope_kb=10)
    request = b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    [(status, _, _)] = exchange(endpoint.http, request)
    assert status == 413


def test_xml_that_is_not_a_soap_envelope_gets_a_fault(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    [(status, headers, body)] = exchange(endpoint.http, post(b"<not-soap/>", auth=basic()))
    assert status == 400
    assert headers["content-type"] == "application/soap+xml;charset=UTF-8"
    assert b"<s:Fault>" in body


def test_an_unknown_resource_uri_gets_a_fault_naming_it(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
        b"<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action>"
        b"<a:MessageID>uuid:0A4D1E1C-1111-2222-3333-444455556666</a:MessageID>"
        b"<w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</w:ResourceURI>"
        b"</s:Header><s:Body/></s:Envelope>"
    )
    [(status, _, body)] = exchange(endpoint.http, post(envelope, auth=basic()))
    assert status == 500
    assert b"Microsoft.PowerShell" in body
    assert b"<a:RelatesTo>uuid:0A4D1E1C-1111-2222-3333-444455556666</a:RelatesTo>" in body


def test_chunked_request_bodies_are_accepted(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    request = (
        f"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: {basic()}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "b\r\n<not-soap/>\r\n0\r\n\r\n"
    ).encode()
    [(status, _, body)] = exchange(endpoint.http, request)
    assert status == 400
    assert b"<s:Fault>" in body
