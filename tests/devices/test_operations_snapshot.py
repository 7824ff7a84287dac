"""`discovery_snapshot` against the simulator over real WinRM: one round trip returns what the three single-source
operations return, and a source that fails (a share refusing the credential, a failing step, a missing store) fails
alone while the others keep their data."""

from __future__ import annotations

from devices.iis import operations as ops
from devices.iis.session import IISSession
from iissim.control import ControlClient
from iissim.lab import Lab
from tests.devices.helpers import SHARE, SHARE_CREDENTIAL, Recording
from tests.iissim.labtools import demo_lab, endpoint

__all__ = ["demo_lab"]

SNAPSHOT_KEYS = {"stores", "sites", "files"}


def test_one_round_trip_returns_what_the_single_source_operations_return(demo_lab: Lab) -> None:
    with IISSession(endpoint(demo_lab, "IIS2019")) as session:
        s = Recording(session)
        stores = ops.list_store_certificates(s)
        sites = ops.list_sites(s)
        files = ops.list_files(s, SHARE, credential=SHARE_CREDENTIAL, patterns=("*.pfx", "*.p12"))
        before = session.round_trips
        snapshot = ops.discovery_snapshot(s, files_path=SHARE, credential=SHARE_CREDENTIAL)
        requests = session.round_trips - before
    raw = s.data["discovery_snapshot"]
    assert set(raw) == SNAPSHOT_KEYS
    assert set(raw["stores"]) == {"certificates", "missing"} and set(raw["files"]) == {"path", "files"}
    assert set(raw["sites"]) == set(s.data["list_sites"])
    assert snapshot.errors == {} and snapshot.missing_stores == ()
    assert snapshot.certificates == stores and len(stores) > 0
    assert snapshot.sites == sites
    assert snapshot.files == files
    assert {f.name for f in files} == {"shop-2026.pfx", "partner.p12"}
    assert requests == 4  # Command, Send, Receive, Signal on the open shell: one operation


def test_a_share_refusing_the_credential_fails_only_the_files(demo_lab: Lab) -> None:
    wrong = ops.FolderCredential("LAB\\svc-pki", "wrong")
    with IISSession(endpoint(demo_lab, "IIS2019")) as session:
        snapshot = ops.discovery_snapshot(session, files_path=SHARE, credential=wrong)
        missing = ops.discovery_snapshot(session, files_path="\\\\fs01.lab.test\\nope", credential=SHARE_CREDENTIAL)
    denied = snapshot.errors["files"]
    assert (denied.code, denied.step, denied.op) == ("access_denied", "connect", "discovery_snapshot")
    assert set(snapshot.errors) == {"files"} and snapshot.files is None
    assert snapshot.certificates and snapshot.sites is not None and snapshot.sites.sites
    assert missing.errors["files"].code == "path_not_found" and missing.certificates


def test_an_injected_failure_in_one_source_leaves_the_others(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_faults(
        "IIS2019", fail=[{"op": "discovery_snapshot", "step": "read_http_sys", "code": "netsh_failed", "times": 1}]
    )
    with IISSession(endpoint(demo_lab, "IIS2019")) as session:
        broken = ops.discovery_snapshot(session, files_path=SHARE, credential=SHARE_CREDENTIAL)
        healthy = ops.discovery_snapshot(session, files_path=SHARE, credential=SHARE_CREDENTIAL)
    assert set(broken.errors) == {"sites"} and broken.sites is None
    assert (broken.errors["sites"].code, broken.errors["sites"].step) == ("netsh_failed", "read_http_sys")
    assert broken.certificates == healthy.certificates and broken.files == healthy.files
    assert healthy.errors == {} and healthy.sites is not None


def test_a_missing_store_is_listed_and_sources_not_asked_for_are_not_read(demo_lab: Lab) -> None:
    host = demo_lab.host("IIS2022")
    with host.lock:
        web_hosting = host.state.stores.pop("WebHosting")
    with IISSession(endpoint(demo_lab, "IIS2022")) as session:
        snapshot = ops.discovery_snapshot(session, sites=False)
        sites_only = ops.discovery_snapshot(session, stores=())
    assert snapshot.missing_stores == ("WebHosting",) and snapshot.errors == {}
    assert snapshot.certificates and {c.store for c in snapshot.certificates} == {"My"}
    assert snapshot.sites is None and snapshot.files is None
    assert sites_only.certificates is None and sites_only.sites is not None and sites_only.files is None
    assert web_hosting  # the store had certificates: leaving them out is not an empty store's doing
