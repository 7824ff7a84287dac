"""Real TLS and HTTP on the demo lab's bindings, checked with plain Python ssl/socket clients."""

from __future__ import annotations

import socket
import ssl

from iissim.control import ControlClient
from iissim.lab import Lab
from iissim.model.state import thumbprint_of
from tests.iissim.labtools import b64, demo_lab, ok, served, shared_ca

__all__ = ["demo_lab"]


def _get(address: str, port: int, host_header: str, path: str, *, tls_sni: str | None = None) -> tuple[int, bytes]:
    raw = socket.create_connection((address, port), timeout=5)
    sock: socket.socket = raw
    if tls_sni is not None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(raw, server_hostname=tls_sni)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_it_picks_the_certificate_by_sni_and_serves_the_issuing_ca(demo_lab: Lab) -> None:
    shop = served(demo_lab, "IIS2019", 443, "shop.lab.test")
    blog = served(demo_lab, "IIS2019", 443, "BLOG.lab.test")
    assert shop["subject"] == "CN=shop.lab.test" and blog["subject"] == "CN=blog.lab.test"
    assert demo_lab.ca is not None
    assert shop["chain"] == [thumbprint_of(demo_lab.ca.issuing.der)]


def test_without_a_matching_sni_entry_it_falls_back_to_the_ipport_entry(demo_lab: Lab) -> None:
    default = served(demo_lab, "IIS2016", 443, None)
    unknown = served(demo_lab, "IIS2016", 443, "nobody.lab.test")
    portal = served(demo_lab, "IIS2016", 443, "portal.lab.test")
    assert default["subject"] == unknown["subject"] == "CN=www.legacy.lab.test"
    assert portal["subject"] == "CN=portal.lab.test"
    # IIS2019 has only SNI entries on *:443: a client without SNI gets no certificate at all.
    assert served(demo_lab, "IIS2019", 443, None)["code"] == "tls_handshake_failed"


def test_a_specific_ip_binding_is_served_on_that_address_only(demo_lab: Lab) -> None:
    second = demo_lab.host("IIS2019").state.addresses[1]
    assert served(demo_lab, "IIS2019", 443, None, ip=second)["subject"] == "CN=intranet.lab.test"


def test_an_ipv6_binding_is_served_on_the_ipv6_loopback(demo_lab: Lab) -> None:
    where = demo_lab.served_endpoint("IIS2019", "2001:db8:10::19", 443)
    assert where is not None and where[0] == "::1"
    assert served(demo_lab, "IIS2019", 443, None, ip="2001:db8:10::19")["subject"] == "CN=v6.lab.test"


def test_a_push_changes_what_is_served_at_once(demo_lab: Lab) -> None:
    host = demo_lab.host("IIS2022")
    assert demo_lab.ca is not None
    material = demo_lab.ca.issue(common_name="api.lab.test", key_type="ec256")
    target = {"action": "update_certificate", "site": "API", "binding_information": "*:443:api.lab.test"}
    ok(host, "push_and_bind", {"pfx_b64": b64(material.pfx("p", "aes256")), "pfx_password": "p", "bindings": [target]})
    assert served(demo_lab, "IIS2022", 443, "api.lab.test")["thumbprint"] == thumbprint_of(material.der)


def test_stopped_sites_serve_nothing(demo_lab: Lab) -> None:
    # Old Shop (stopped) alone on 8443: nothing listens.
    assert served(demo_lab, "IIS2016", 8443, None)["code"] == "connection_refused"
    control = ControlClient(demo_lab.control_url)
    control.stop_site("IIS2016", "Default Web Site")
    control.stop_site("IIS2016", "Legacy Portal")
    assert served(demo_lab, "IIS2016", 443, "portal.lab.test")["code"] == "connection_refused"
    control.start_site("IIS2016", "Old Shop")
    assert served(demo_lab, "IIS2016", 8443, None)["subject"] == "CN=shop.lab.test"


def test_a_stopped_site_sharing_a_port_gets_no_requests(demo_lab: Lab) -> None:
    ControlClient(demo_lab.control_url).stop_site("IIS2019", "Blog")
    address = demo_lab.host("IIS2019").state.addresses[0]
    where = demo_lab.served_endpoint("IIS2019", address, 443)
    assert where is not None  # Shop keeps the port open
    # HTTP.sys keeps the ssl binding of a stopped site, so the handshake works; no site takes the request.
    assert served(demo_lab, "IIS2019", 443, "blog.lab.test")["subject"] == "CN=blog.lab.test"
    status, body = _get(*where, "blog.lab.test", "/", tls_sni="blog.lab.test")
    assert status == 400 and b"Invalid Hostname" in body
    assert _get(*where, "shop.lab.test", "/index.html", tls_sni="shop.lab.test")[0] == 200


def test_http_bindings_serve_static_files_by_host_header(demo_lab: Lab) -> None:
    host = demo_lab.host("IIS2019")
    ok(
        host,
        "write_file",
        {"path": "C:\\inetpub\\sites\\shop\\.well-known\\acme-challenge\\tok1", "content_b64": b64(b"tok1.key")},
    )
    address = host.state.addresses[0]
    where = demo_lab.served_endpoint("IIS2019", address, 80, "http")
    assert where is not None
    assert _get(*where, "shop.lab.test", "/.well-known/acme-challenge/tok1") == (200, b"tok1.key")
    assert _get(*where, "shop.lab.test", "/.well-known/acme-challenge/nope")[0] == 404
    assert _get(*where, "shop.lab.test", "/index.html") == (200, b"<html><body>Shop</body></html>")


def test_the_wildcard_host_binding_matches_one_label(demo_lab: Lab) -> None:
    assert served(demo_lab, "IIS2022", 443, "x.apps.lab.test")["subject"] == "CN=*.apps.lab.test"
    assert served(demo_lab, "IIS2022", 443, "a.b.apps.lab.test")["subject"] == "CN=iis2022.lab.test"  # ipport
    address = demo_lab.host("IIS2022").state.addresses[0]
    where = demo_lab.served_endpoint("IIS2022", address, 443)
    assert where is not None
    assert _get(*where, "x.apps.lab.test", "/", tls_sni="x.apps.lab.test")[0] == 404  # routed to Apps (no files)
    assert _get(*where, "a.b.apps.lab.test", "/", tls_sni="a.b.apps.lab.test")[0] == 404


def test_the_central_certificate_store_serves_host_and_wildcard_files() -> None:
    ca = shared_ca()
    exact = ca.issue(common_name="ccs.test", key_type="ec256")
    wildcard = ca.issue(common_name="*.ccs.test", key_type="ec256")
    spec = {
        "hosts": [
            {
                "name": "CCS1",
                "address": "127.0.0.1",
                "build": 20348,
                "ccs": {"path": "C:\\ccs", "password": "ccs-pw"},
                "sites": [
                    {
                        "id": 1,
                        "name": "S",
                        "bindings": [{"protocol": "https", "info": "*:443:ccs.test", "ssl_flags": 3}],
                    }
                ],
                "files": [
                    {"path": "C:\\ccs\\ccs.test.pfx", "base64": b64(exact.pfx("ccs-pw", "aes256"))},
                    {"path": "C:\\ccs\\_.ccs.test.pfx", "base64": b64(wildcard.pfx("ccs-pw", "aes256"))},
                ],
            }
        ]
    }
    with Lab(spec, relocate_to="auto", serve_winrm=False) as lab:
        assert ("ccs", "443") in lab.host("CCS1").state.http_sys
        assert served(lab, "CCS1", 443, "ccs.test")["thumbprint"] == thumbprint_of(exact.der)
        assert served(lab, "CCS1", 443, "www.ccs.test")["thumbprint"] == thumbprint_of(wildcard.der)
        assert served(lab, "CCS1", 443, "other.test")["code"] == "tls_handshake_failed"


def test_a_binding_whose_certificate_is_not_in_its_store_fails_the_handshake(demo_lab: Lab) -> None:
    host = demo_lab.host("IIS2019")
    with host.lock:
        entry = host.state.http_sys[("hostnameport", "blog.lab.test:443")]
        entry.certificate_store = "WebHosting"  # the certificate lives in My (iis-peers.md §6 item 9)
    assert served(demo_lab, "IIS2019", 443, "blog.lab.test")["code"] == "tls_handshake_failed"
    assert served(demo_lab, "IIS2019", 443, "shop.lab.test")["subject"] == "CN=shop.lab.test"
