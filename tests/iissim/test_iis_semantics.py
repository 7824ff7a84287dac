"""Windows' and IIS's own behaviour in the host model, operation by operation, through SimHost.run_command (the
envelope on stdin, as WinRS delivers it). No network here; the served-TLS consequences are in test_tls_serving."""

from __future__ import annotations

from typing import Any

import pytest

from iissim.model.bindings import parse_binding_information
from iissim.model.errors import WindowsError
from iissim.model.host import StepFailure
from iissim.model.iis import ConfigTransaction, start_site
from iissim.model.serving import select_certificate
from iissim.model.state import Binding, thumbprint_of
from tests.iissim.labtools import b64, build_host, fail, ok, shared_ca

CERTS = {
    "a": {"subject": "CN=a.test", "key": "ec256"},
    "b": {"subject": "CN=b.test", "key": "ec256"},
    "wide": {"subject": "CN=wide.test", "key": "ec256"},
}


def _host(build: int = 17763, *, sites: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    spec = {
        "name": "H1",
        "address": "127.200.1.1",
        "build": build,
        "sites": sites
        if sites is not None
        else [
            {
                "id": 1,
                "name": "Wide",
                "bindings": [{"protocol": "https", "info": "*:443:", "certificate": "wide"}],
            },
            {
                "id": 2,
                "name": "A",
                "bindings": [{"protocol": "https", "info": "*:443:a.test", "ssl_flags": 1, "certificate": "a"}],
            },
            {
                "id": 3,
                "name": "B",
                "bindings": [{"protocol": "https", "info": "*:443:b.test", "certificate": "wide"}],
            },
        ],
        **extra,
    }
    return build_host(spec, certificates=CERTS)


def _pfx(encryption: str, password: str = "pw-1") -> tuple[str, str]:
    material = shared_ca().issue(common_name="new.test", key_type="ec256")
    return b64(material.pfx(password, encryption)), thumbprint_of(material.der)


def _push(host: Any, encryption: str = "legacy", *targets: dict[str, Any], password: str = "pw-1") -> dict[str, Any]:
    pfx, _ = _pfx(encryption)
    return {"pfx_b64": pfx, "pfx_password": password, "store": "My", "bindings": list(targets)}


def test_it_refuses_an_aes256_pfx_on_server_2016_and_keeps_the_store() -> None:
    host = _host(14393)
    before = host.dump()
    error = fail(host, "push_and_bind", _push(host, "aes256"))
    assert error["code"] == "pfx_import_failed" and error["step"] == "import"
    assert "The specified network password is not correct." in error["message"]
    assert host.dump() == before


def test_it_imports_the_same_aes256_pfx_on_server_2019() -> None:
    host = _host(17763)
    data = ok(host, "push_and_bind", _push(host, "aes256"))
    assert data["imported"] and data["has_private_key"]
    assert data["thumbprint"] in {c["thumbprint"] for c in host.dump()["stores"]["My"]}


def test_it_refuses_a_wrong_pfx_password() -> None:
    host = _host(20348)
    params = _push(host, "legacy")
    params["pfx_password"] = "not-the-password"
    error = fail(host, "push_and_bind", params)
    assert (error["code"], error["step"]) == ("pfx_import_failed", "import")


def test_it_refuses_sni_without_host() -> None:
    host = _host()
    target = {"action": "create_binding", "site": "A", "binding_information": "*:8443:", "ssl_flags_set": 1}
    error = fail(host, "push_and_bind", _push(host, "legacy", target))
    assert error["code"] == "sni_requires_host"
    tx = ConfigTransaction(host.state)
    site = tx.site("A")
    assert site is not None
    with pytest.raises(WindowsError, match="0x80070057"):
        tx.add_binding(site, Binding("https", "*:9443:", ssl_flags=1, certificate_hash="AB" * 20))


def test_it_refuses_the_ccs_bit_without_host() -> None:
    host = _host()
    target = {"action": "create_binding", "site": "A", "binding_information": "*:8443:", "ssl_flags_set": 2}
    assert fail(host, "push_and_bind", _push(host, "legacy", target))["code"] == "ccs_requires_host"


@pytest.mark.parametrize(
    ("build", "flags", "accepted"),
    [(14393, 4, False), (17763, 4, True), (17763, 8, True), (17763, 16, False), (20348, 16 | 32 | 64, True)],
)
def test_it_accepts_sslflags_bits_above_3_only_on_builds_that_have_them(build: int, flags: int, accepted: bool) -> None:
    host = _host(build)
    target = {
        "action": "create_binding",
        "site": "A",
        "binding_information": "*:8443:new.test",
        "ssl_flags_set": 1 | flags,
    }
    document = ok(host, "push_and_bind", _push(host, "legacy", target)) if accepted else None
    if accepted:
        assert document is not None and document["bindings"][0]["binding"]["ssl_flags"] == 1 | flags
    else:
        error = fail(host, "push_and_bind", _push(host, "legacy", target))
        assert error["code"] == "invalid_ssl_flags" and "0x80070585" in error["message"]


def test_a_duplicate_binding_makes_the_later_site_fail_to_start() -> None:
    sites = [
        {"id": 1, "name": "First", "bindings": ["http *:80:dup.test"]},
        {"id": 2, "name": "Second", "bindings": ["http *:80:dup.test"]},
        {"id": 3, "name": "Other", "state": "stopped", "bindings": ["http *:80:other.test"]},
    ]
    host = _host(sites=sites)
    state = {s["name"]: s for s in host.dump()["sites"]}
    assert state["First"]["state"] == "Started"
    assert state["Second"]["state"] == "Stopped" and "0x800700B7" in state["Second"]["start_error"]
    # Giving a stopped site a binding a started site already registered: it cannot start either.
    tx = ConfigTransaction(host.state)
    other = tx.site("Other")
    assert other is not None
    tx.add_binding(other, Binding("http", "*:80:dup.test"))
    tx.commit()
    site = host.state.site_by_name("Other")
    assert site is not None
    with pytest.raises(WindowsError, match="already exists"):
        start_site(host.state, site)


def test_a_commit_that_duplicates_a_started_sites_binding_stops_the_site_it_went_to() -> None:
    host = _host(sites=[{"id": 1, "name": "One", "bindings": ["http *:80:x.test"]}, {"id": 2, "name": "Two"}])
    tx = ConfigTransaction(host.state)
    two = tx.site("Two")
    assert two is not None
    tx.add_binding(two, Binding("http", "*:80:x.test"))
    result = tx.commit()
    assert [s["site"] for s in result.sites_stopped] == ["Two"]


def test_push_and_bind_refuses_to_create_an_exact_duplicate() -> None:
    host = _host()
    target = {"action": "create_binding", "site": "B", "binding_information": "*:443:A.TEST", "ssl_flags_set": 1}
    error = fail(host, "push_and_bind", _push(host, "legacy", target))
    assert error["code"] == "binding_conflict" and "'A'" in error["message"]


def test_removing_a_non_sni_binding_removes_the_shared_http_sys_entry_unless_config_only() -> None:
    host = _host()
    key = ("ipport", "0.0.0.0:443")
    wide = host.state.http_sys[key].certificate_hash
    assert select_certificate(host.state, "127.200.1.1", 443, None) is not None

    tx = ConfigTransaction(host.state)
    site = tx.site("B")
    assert site is not None
    tx.remove_binding(site, site.bindings[0], remove_config_only=True)
    tx.commit()
    assert host.state.http_sys[key].certificate_hash == wide  # site Wide still served

    tx = ConfigTransaction(host.state)
    site = tx.site("Wide")
    assert site is not None
    tx.remove_binding(site, site.bindings[0], remove_config_only=False)
    tx.commit()
    assert key not in host.state.http_sys  # KB 2405568: every non-SNI binding on 0.0.0.0:443 lost its certificate
    assert select_certificate(host.state, "127.200.1.1", 443, None) is None


def test_update_certificate_keeps_foreign_sslflags_bits_and_attributes() -> None:
    sites = [
        {
            "id": 1,
            "name": "Fancy",
            "bindings": [
                {
                    "protocol": "https",
                    "info": "*:443:fancy.test",
                    "ssl_flags": 1 | 32 | 4,
                    "certificate": "a",
                    "attributes": {"note": "admin"},
                }
            ],
        }
    ]
    host = _host(20348, sites=sites)
    target = {"action": "update_certificate", "site": "Fancy", "binding_information": "*:443:fancy.test"}
    data = ok(host, "push_and_bind", _push(host, "legacy", target))
    binding = host.state.sites[0].bindings[0]
    assert binding.ssl_flags == 37 and binding.attributes == {"note": "admin"}
    assert binding.certificate_hash == data["thumbprint"]
    update = {
        "action": "update_binding",
        "site": "Fancy",
        "binding_information": "*:443:fancy.test",
        "ssl_flags_clear": 4,
    }
    ok(host, "push_and_bind", _push(host, "legacy", update))
    assert host.state.sites[0].bindings[0].ssl_flags == 33


def test_update_binding_keeps_an_http_sys_entry_other_bindings_share_and_drops_an_orphan() -> None:
    host = _host()
    move = {
        "action": "update_binding",
        "site": "B",
        "binding_information": "*:443:b.test",
        "ssl_flags_set": 1,
    }
    ok(host, "push_and_bind", _push(host, "legacy", move))
    assert ("ipport", "0.0.0.0:443") in host.state.http_sys  # site Wide still uses it
    assert ("hostnameport", "b.test:443") in host.state.http_sys
    move_wide = {**move, "site": "Wide", "binding_information": "*:443:", "new_binding_information": "*:443:w.test"}
    ok(host, "push_and_bind", _push(host, "legacy", move_wide))
    assert ("ipport", "0.0.0.0:443") not in host.state.http_sys  # nobody uses it any more


def test_restore_puts_bindings_and_http_sys_back_exactly() -> None:
    host = _host()
    before = host.dump()
    targets = [
        {"action": "update_certificate", "site": "A", "binding_information": "*:443:a.test"},
        {"action": "update_certificate", "site": "Wide", "binding_information": "*:443:"},
        {"action": "create_binding", "site": "B", "binding_information": "[2001:db8::5]:8443:", "ssl_flags_set": 0},
    ]
    pushed = ok(host, "push_and_bind", _push(host, "legacy", *targets))
    assert host.dump() != before
    restored = ok(host, "restore", {"snapshot": pushed["snapshot"], "remove_certificate": True})
    assert restored["certificate_removed"] is True
    assert host.dump() == before


def test_bindings_parse_ipv6_and_normalise_an_empty_address() -> None:
    assert parse_binding_information("[2001:DB8::1]:443:v6.test").format() == "[2001:db8::1]:443:v6.test"
    assert parse_binding_information(":443:").ip == "*"
    with pytest.raises(WindowsError, match="0x80072550"):
        parse_binding_information("2001:db8::1:443:")
    host = _host(sites=[{"id": 1, "name": "V6", "bindings": ["https [2001:db8::1]:443:v6.test", "net.tcp 808:*"]}])
    site = ok(host, "list_sites")["sites"][0]
    assert [(b["ip"], b["port"], b["host"], b["ip_version"]) for b in site["bindings"]] == [
        ("2001:db8::1", 443, "v6.test", 6),
        (None, 808, "*", None),
    ]


def test_remove_certificate_if_unused_checks_bindings_and_keeps_a_shared_key() -> None:
    host = _host(stores={"My": ["b"], "WebHosting": ["b"]})
    thumb_a = host.state.sites[1].bindings[0].certificate_hash
    used = ok(host, "remove_certificate_if_unused", {"thumbprint": thumb_a, "store": "My"})
    assert used["removed"] is False and used["reason"] == "in_use"
    assert {u["kind"] for u in used["used_by"]} == {"binding", "http_sys"}
    thumb_b = next(t for t, c in host.state.stores["My"].items() if "b.test" in c.certificate.subject.rfc4514_string())
    removed = ok(host, "remove_certificate_if_unused", {"thumbprint": thumb_b, "store": "My"})
    assert removed["removed"] is True and removed["key_deleted"] is False  # WebHosting still holds it
    assert host.state.has_private_key(host.state.stores["WebHosting"][thumb_b])
    missing = ok(host, "remove_certificate_if_unused", {"thumbprint": thumb_b, "store": "My"})
    assert missing["reason"] == "not_found"


def test_a_failed_push_takes_back_the_certificate_it_imported() -> None:
    host = _host()
    host.op_faults.failures.append(StepFailure(op="push_and_bind", step="commit"))
    before = host.dump()
    target = {"action": "update_certificate", "site": "A", "binding_information": "*:443:a.test"}
    error = fail(host, "push_and_bind", _push(host, "legacy", target))
    assert (error["code"], error["step"]) == ("injected_failure", "commit")
    assert host.dump() == before
