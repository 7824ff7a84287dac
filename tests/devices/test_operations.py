"""Every operation of devices.iis against the simulator over real WinRM, for each authentication mode, with the
JSON shapes the scripts return pinned (the real PowerShell scripts must produce the same keys)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from devices.iis import operations as ops
from devices.iis.errors import OperationFailed
from devices.iis.session import IISSession
from iissim.control import ControlClient
from iissim.lab import Lab
from tests.devices.helpers import SHARE, SHARE_CREDENTIAL, Recording
from tests.iissim.labtools import demo_lab, endpoint, served, shared_ca

__all__ = ["demo_lab"]

SHAPES: dict[str, set[str]] = {
    "host_facts": {
        "hostname", "fqdn", "domain", "os", "iis", "powershell", "clr_version", "modules", "ccs_installed", "stores",
        "ssl_flags_mask", "pfx_aes256_supported", "addresses", "ipv6_addresses", "time_utc",
    },
    "list_sites": {"sites", "http_sys"},
    "site": {"id", "name", "state", "physical_path", "app_pool", "start_error", "bindings", "ftp_ssl"},
    "binding": {
        "protocol", "binding_information", "ip", "port", "host", "ip_version", "ssl_flags", "sni", "ccs",
        "certificate_hash", "certificate_store", "http_sys",
    },
    "http_sys": {"kind", "endpoint", "certificate_hash", "certificate_store", "app_id"},
    "ftp_ssl": {"certificate_hash", "certificate_store", "control_channel_policy", "data_channel_policy"},
    "certificate": {
        "store", "thumbprint", "subject", "issuer", "serial_number", "not_before", "not_after", "friendly_name",
        "has_private_key", "key_provider", "key_algorithm", "key_size", "dns_names", "enhanced_key_usages", "der_b64",
    },
    "list_files": {"path", "files"},
    "file": {"path", "name", "size", "modified", "sha256", "content_b64", "skipped"},
    "push_and_bind": {
        "thumbprint", "store", "imported", "has_private_key", "friendly_name", "key_provider", "chain_added",
        "bindings", "http_sys", "sites_stopped", "snapshot",
    },
    "binding_change": {"site", "action", "binding", "shared_with"},
    "snapshot": {"version", "host", "taken_at", "bindings", "ftp", "http_sys", "certificate", "chain_added"},
    "restore": {"restored", "http_sys", "certificate_removed", "chain_removed", "chain_kept"},
    "chain_added": {"store", "thumbprint", "subject"},
    "remove_certificate_if_unused": {"thumbprint", "store", "removed", "reason", "used_by", "key_deleted"},
    "write_file": {"path", "size", "sha256", "previous_path", "replaced"},
    "remove_file": {"path", "removed", "reason"},
    "run_script": {"path", "exit_code", "output", "duration_ms", "finished_at"},
    "verify_served_on_host": {"ip", "port", "sni", "method", "thumbprint", "subject", "not_after", "chain", "protocol"},
}  # fmt: skip

MODES = [
    pytest.param("IIS2019", "http", "negotiate", id="negotiate-http-encrypted"),
    pytest.param("IIS2019", "http", "ntlm", id="ntlm-http-encrypted"),
    pytest.param("IIS2022", "https", "negotiate", id="negotiate-https"),
    pytest.param("IIS2022", "https", "basic", id="basic-https"),
]


def _keys(value: dict[str, Any], shape: str) -> None:
    assert set(value) == SHAPES[shape], f"{shape}: {sorted(set(value) ^ SHAPES[shape])}"


@pytest.mark.parametrize(("host", "scheme", "auth"), MODES)
def test_every_operation_over_winrm(demo_lab: Lab, host: str, scheme: str, auth: str) -> None:
    sim = demo_lab.host(host)
    ControlClient(demo_lab.control_url).set_script(host, "C:\\scripts\\broken.ps1", exit_code=4, output="nope")
    with IISSession(endpoint(demo_lab, host, scheme=scheme, auth=auth)) as session:
        s = Recording(session)

        facts = ops.host_facts(s)
        assert facts.build == sim.state.build and facts.hostname == host
        _keys(s.data["host_facts"], "host_facts")

        inventory = ops.list_sites(s)
        _keys(s.data["list_sites"], "list_sites")
        for site in s.data["list_sites"]["sites"]:
            _keys(site, "site")
            for binding in site["bindings"]:
                _keys(binding, "binding")
            if site["ftp_ssl"]:
                _keys(site["ftp_ssl"], "ftp_ssl")
        for entry in s.data["list_sites"]["http_sys"]:
            _keys(entry, "http_sys")
        assert {b.http_sys.kind for site in inventory.sites for b in site.bindings if b.http_sys} >= {"hostnameport"}

        certificates = ops.list_store_certificates(s)
        for raw in s.data["list_store_certificates"]["certificates"]:
            _keys(raw, "certificate")
        for cert in certificates:
            assert cert.der is not None and hashlib.sha1(cert.der).hexdigest().upper() == cert.thumbprint

        files = ops.list_files(s, SHARE, credential=SHARE_CREDENTIAL)
        _keys(s.data["list_files"], "list_files")
        _keys(s.data["list_files"]["files"][0], "file")
        assert {f.name for f in files} == {"shop-2026.pfx", "partner.p12", "lab-root.cer"}
        assert all(f.content is not None and hashlib.sha256(f.content).hexdigest() == f.sha256 for f in files)
        with pytest.raises(OperationFailed) as denied:
            ops.list_files(s, SHARE, credential=ops.FolderCredential("LAB\\svc-pki", "wrong"))
        assert (denied.value.code, denied.value.step) == ("access_denied", "connect")

        first = ops.write_file(s, "C:\\inetpub\\wwwroot\\hello.txt", b"one")
        second = ops.write_file(s, "C:\\inetpub\\wwwroot\\hello.txt", b"two")
        _keys(s.data["write_file"], "write_file")
        assert (first.replaced, second.replaced, second.previous_path) == (
            False,
            True,
            "C:\\inetpub\\wwwroot\\hello.txt.previous",
        )

        created = ops.write_file(s, "C:\\inetpub\\wwwroot\\new.txt", b"mine")
        kept = ops.remove_file(s, created.path, expected_sha256=hashlib.sha256(b"other").hexdigest())
        removed = ops.remove_file(s, created.path, expected_sha256=created.sha256)
        _keys(s.data["remove_file"], "remove_file")
        gone = ops.remove_file(s, created.path)
        assert (kept.removed, kept.reason, removed.removed, removed.reason) == (False, "changed", True, None)
        assert (gone.removed, gone.reason) == (False, "not_found")
        assert ops.list_files(s, "C:\\inetpub\\wwwroot", patterns=("new.txt",), recurse=False) == []

        run = ops.run_script(s, "C:\\scripts\\pre-push.ps1", arguments=["-Thumbprint", "AB$@'x"])
        _keys(s.data["run_script"], "run_script")
        assert run.exit_code == 0
        with pytest.raises(OperationFailed) as script_failed:
            ops.run_script(s, "C:\\scripts\\broken.ps1")
        assert (script_failed.value.code, script_failed.value.step) == ("script_failed", "run")

        material = shared_ca().issue(common_name="new.lab.test", key_type="ec256")
        encryption = "aes256" if sim.state.build >= 17763 else "legacy"
        pushed = ops.push_and_bind(
            s,
            material.pfx("P@ss$word'1", encryption),
            "P@ss$word'1",
            store="WebHosting",
            bindings=[ops.BindingTarget("create_binding", "Default Web Site", "*:443:new.lab.test", ssl_flags_set=1)],
            friendly_name="new 2026",
        )
        raw_push = s.data["push_and_bind"]
        _keys(raw_push, "push_and_bind")
        _keys(raw_push["bindings"][0], "binding_change")
        _keys(raw_push["bindings"][0]["binding"], "binding")
        _keys(raw_push["snapshot"], "snapshot")
        assert pushed.friendly_name == "new 2026" and pushed.store == "WebHosting"

        on_host = ops.verify_served_on_host(s, 443, sni="new.lab.test")
        _keys(s.data["verify_served_on_host"], "verify_served_on_host")
        assert on_host.thumbprint == pushed.thumbprint
        assert served(demo_lab, host, 443, "new.lab.test")["thumbprint"] == pushed.thumbprint

        restored = ops.restore(s, pushed.snapshot, remove_certificate=True)
        _keys(s.data["restore"], "restore")
        assert restored.certificate_removed is True
        assert served(demo_lab, host, 443, "new.lab.test").get("thumbprint") != pushed.thumbprint

        intranet = next(c for c in certificates if c.subject == "CN=intranet.lab.test")
        removal = ops.remove_certificate_if_unused(s, intranet.thumbprint, store=intranet.store)  # type: ignore[arg-type]
        _keys(s.data["remove_certificate_if_unused"], "remove_certificate_if_unused")
        in_use = host == "IIS2019"  # bound to the Intranet site there; unused on IIS2022
        assert removal.removed is not in_use and (removal.reason == "in_use") is in_use
