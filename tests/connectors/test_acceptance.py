"""Acceptance of [push] with the real parts: the demo lab over real WinRM and TLS, real Celery workers on Redis,
PostgreSQL, and the REST API as an integrator drives it (previews and pushes run in the workers).

1. enroll -> connector -> update certificate only on an SNI binding that shares its port: a plain `ssl` client
   gets the new certificate for that host and the old one for the other; in sync after rediscovery;
2. create a new site binding on the 2016 host: the journal shows a TripleDES PFX; the binding serves it;
3. a failure injected at the bind step, and separately a binding that verifies wrong: the order fails, the binding
   is as before, TLS shows the old certificate, the report counts the failure;
4. a worker killed (SIGKILL) in the middle of a push: a restarted worker finishes the order exactly once and the
   host has no duplicate binding;
5. the preview lists the shared-IP impact of a non-SNI binding and refuses an SNI binding without a host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.models import PushDevice
from iissim.lab import Lab
from tests.connectors.helpers import (
    address,
    control,
    https_bindings,
    journal,
    make_certificate,
    onboard,
    served_thumbprint,
)
from tests.devices.labs import redis_broker_in_use
from tests.enrollment.helpers import builtin_account, enrollment_payload
from tests.fixtures.users import make_user

pytestmark = pytest.mark.integration

SHOP = "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)"
DEADLINE = 120


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_broker_in_use() as url:
        yield url


@pytest.fixture
def people(transactional_db: Any) -> dict[str, Any]:
    return {
        "rita": make_user("rita", "requester"),
        "april": make_user("april", "approver"),
        "bruno": make_user("bruno", "approver"),
        "ian": make_user("ian", "implementer"),
        "audrey": make_user("audrey", "auditor"),
    }


def wait_for(api: Any, user: Any, order_id: int, states: set[str], worker: Any, timeout: float = DEADLINE) -> dict:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = api(user).get(f"/api/v1/work-orders/{order_id}/").json()
        if body["state"] in states:
            return body
        time.sleep(0.3)
    raise AssertionError(f"order {order_id} stayed {body.get('state')}: {body}\n{worker.log()[-4000:]}")


def new_connector(api: Any, user: Any, certificate_id: int, devices: list[Any], bind: dict[str, Any]) -> int:
    body = {
        "certificate": certificate_id,
        "name": "acceptance",
        "push_type": "push_and_bind",
        "devices": [d.pk for d in devices],
        "location": {"type": "certificate_store", "store": "personal"},
        "friendly_name": "acceptance push",
        "push_chain": False,
        "bind": bind,
        "scripts": None,
        "overwrite": False,
        "push_automatically": False,
        "secure_push": True,
    }
    response = api(user).post("/api/v1/connectors/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def push(api: Any, people: dict[str, Any], connector_id: int, worker: Any) -> dict[str, Any]:
    """Push to Device, the preview in the worker, two approvals, implement; returns the order when it ends."""
    response = api(people["rita"]).post(f"/api/v1/connectors/{connector_id}/push/", {"comment": "go"}, format="json")
    assert response.status_code == 201, response.json()
    order_id = response.json()["work_order"]
    order = wait_for(api, people["rita"], order_id, {"submitted", "cancelled"}, worker)
    assert order["state"] == "submitted", order
    for user in (people["april"], people["bruno"]):
        assert api(user).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").status_code == 200
    implement = api(people["ian"]).post(f"/api/v1/work-orders/{order_id}/implement/", {}, format="json")
    assert implement.status_code == 200, implement.json()
    return wait_for(api, people["rita"], order_id, {"completed", "failed"}, worker)


def enroll(api: Any, people: dict[str, Any], common_name: str, worker: Any) -> int:
    """A certificate through [enrollment]: the built-in CA, two approvals, issued by the worker."""
    account = builtin_account()
    payload = enrollment_payload(account, params={"common_name": common_name, "sans": {"dns": [common_name], "ip": []}})
    created = api(people["rita"]).post("/api/v1/enrollments/", payload, format="json")
    assert created.status_code == 201, created.json()
    order_id = created.json()["work_order"]
    steps = [("rita", "submit"), ("april", "approve"), ("bruno", "approve"), ("ian", "implement")]
    for who, verb in steps:
        response = api(people[who]).post(f"/api/v1/work-orders/{order_id}/{verb}/", {}, format="json")
        assert response.status_code == 200, (verb, response.json())
    order = wait_for(api, people["rita"], order_id, {"completed", "failed"}, worker)
    assert order["state"] == "completed", order
    return int(order["result"]["certificate"])


def test_1_enrolled_certificate_updates_an_sni_binding_and_leaves_its_neighbour_alone(
    lab: Lab, redis_url: str, worker_factory: Any, api: Any, people: dict[str, Any]
) -> None:
    worker = worker_factory("push-1", ["default", "devices"], redis_url, concurrency=2)
    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    blog_before = served_thumbprint(ip, 443, "blog.lab.test")
    certificate_id = enroll(api, people, "shop.lab.test", worker)
    connector_id = new_connector(
        api, people["rita"], certificate_id, [devices["IIS2019"]], {"type": "update_certificate", "profiles": [SHOP]}
    )
    order = push(api, people, connector_id, worker)

    assert order["state"] == "completed", order
    thumbprint = api(people["audrey"]).get(f"/api/v1/certificates/{certificate_id}/").json()["thumbprint"]
    assert served_thumbprint(ip, 443, "shop.lab.test") == thumbprint
    assert served_thumbprint(ip, 443, "blog.lab.test") == blog_before
    (device_result,) = order["result"]["devices"]
    assert device_result["operations"] == ["push_and_bind"] and device_result["ok"]

    # Rediscovery through the discovery API and the worker: the connector is in sync.
    admin = make_user("alice", "administrator")
    discovery = api(admin).post(
        "/api/v1/discoveries/",
        {
            "name": "after push",
            "run_type": "on_demand",
            "devices": [devices["IIS2019"].pk],
            "discovery_type": "all",
            "sources": ["certificate_store"],
            "batches": {"sequential": False, "size": 500, "interval_minutes": 0},
            "rule": None,
            "after_discover": {"move_to_inventory": "managed", "group": None, "use_access_control_rule": False},
            "schedule": None,
        },
        format="json",
    )
    assert discovery.status_code == 201, discovery.json()
    run = api(admin).post(f"/api/v1/discoveries/{discovery.json()['id']}/run/").json()["run"]
    deadline = time.monotonic() + DEADLINE
    while api(admin).get(f"/api/v1/discovery-runs/{run}/").json()["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.5)
    connector = api(people["audrey"]).get(f"/api/v1/connectors/{connector_id}/").json()
    assert connector["sync_status"] == "in_sync", connector
    assert connector["last_push"]["ok"] is True


def test_2_create_binding_on_the_2016_host_sends_tripledes_and_serves_the_certificate(
    lab: Lab, redis_url: str, worker_factory: Any, api: Any, people: dict[str, Any]
) -> None:
    worker = worker_factory("push-2", ["devices"], redis_url)
    devices = onboard(lab, "IIS2016")
    certificate = make_certificate("orders.legacy.lab.test")
    new = {"site": "Legacy Portal", "ip": "*", "port": 443, "host": "orders.legacy.lab.test", "sni": True}
    connector_id = new_connector(
        api, people["rita"], certificate.pk, [devices["IIS2016"]], {"type": "create_binding", "profiles": [new]}
    )
    order = push(api, people, connector_id, worker)

    assert order["state"] == "completed", order
    (entry,) = journal(lab, "IIS2016", "push_and_bind")
    assert entry["pfx"]["keys"] == entry["pfx"]["certificates"] == ["pbeWithSHAAnd3-KeyTripleDES-CBC"], entry["pfx"]
    assert entry["pfx"]["mac"] == "sha1" and entry["pfx"]["pbes2"] is False
    assert served_thumbprint(address(lab, "IIS2016"), 443, "orders.legacy.lab.test") == certificate.thumbprint
    preview = PushDevice.objects.get(work_order_id=order["id"]).preview
    assert preview["pfx_algorithm"] == "tripledes_sha1"


def test_3_a_failing_bind_and_a_wrong_certificate_both_end_failed_with_the_old_certificate_served(
    lab: Lab, redis_url: str, worker_factory: Any, api: Any, people: dict[str, Any]
) -> None:
    worker = worker_factory("push-3", ["devices"], redis_url)
    devices = onboard(lab, "IIS2016", "IIS2019")

    # a) a failure injected at the bind step of push_and_bind
    ip19 = address(lab, "IIS2019")
    shop_before = served_thumbprint(ip19, 443, "shop.lab.test")
    control(lab).fail_step("IIS2019", "push_and_bind", "bind")
    connector_a = new_connector(
        api,
        people["rita"],
        make_certificate("shop.lab.test").pk,
        [devices["IIS2019"]],
        {"type": "update_certificate", "profiles": [SHOP]},
    )
    failed = push(api, people, connector_a, worker)
    assert failed["state"] == "failed" and "injected_failure" in failed["error"]
    assert served_thumbprint(ip19, 443, "shop.lab.test") == shop_before
    assert https_bindings(lab, "IIS2019", "Shop")[0]["certificate_hash"] == shop_before

    # b) a binding that verifies wrong: HTTP.sys drift shadows the entry the push updates -> automatic rollback
    ip16 = address(lab, "IIS2016")
    default_before = served_thumbprint(ip16, 443)
    control(lab).set_http_sys(
        "IIS2016", kind="ipport", endpoint=f"{ip16}:443", certificate_hash=default_before, certificate_store="My"
    )
    connector_b = new_connector(
        api,
        people["rita"],
        make_certificate("www.legacy.lab.test").pk,
        [devices["IIS2016"]],
        {"type": "update_certificate", "profiles": ["MS IIS::Default Web Site::*:443:CS"]},
    )
    wrong = push(api, people, connector_b, worker)
    assert wrong["state"] == "failed"
    assert "verification failed; rolled back" in wrong["error"]
    (device_result,) = wrong["result"]["devices"]
    assert device_result["step"] == "rolled_back"
    assert any(e["phase"] == "push" and not e["ok"] for e in device_result["evidence"])
    assert served_thumbprint(ip16, 443) == default_before
    assert https_bindings(lab, "IIS2016", "Default Web Site")[0]["certificate_hash"] == default_before

    report = api(people["audrey"]).get("/api/v1/reports/push-validation/?days=1").json()
    assert report["failed"] >= 1 and report["pushes"]["failed"] == 2
    assert any(f["work_order"] == wrong["id"] and not f["ok"] for f in report["recent_failures"])


def test_4_a_worker_killed_mid_push_is_finished_exactly_once_by_the_next_worker(
    lab: Lab, redis_url: str, worker_factory: Any, api: Any, people: dict[str, Any]
) -> None:
    # A short visibility timeout so that Redis hands the killed worker's unacknowledged task to the next worker
    # within the test (production keeps the hour).
    env = {"CLM_BROKER_VISIBILITY_TIMEOUT": "10"}
    first = worker_factory("push-4a", ["devices"], redis_url, extra_env=env, pool="solo")
    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("kill.shop.lab.test")
    new = {"site": "Shop", "ip": "*", "port": 443, "host": "kill.shop.lab.test", "sni": True}
    connector_id = new_connector(
        api, people["rita"], certificate.pk, [devices["IIS2019"]], {"type": "create_binding", "profiles": [new]}
    )
    response = api(people["rita"]).post(f"/api/v1/connectors/{connector_id}/push/", {}, format="json")
    order_id = response.json()["work_order"]
    assert wait_for(api, people["rita"], order_id, {"submitted", "cancelled"}, first)["state"] == "submitted"
    for user in (people["april"], people["bruno"]):
        api(user).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json")
    # The host takes 6 s over push_and_bind: long enough to kill the worker while it waits for the answer.
    control(lab).set_faults("IIS2019", slow_ms={"push_and_bind": 6000})
    api(people["ian"]).post(f"/api/v1/work-orders/{order_id}/implement/", {}, format="json")
    deadline = time.monotonic() + DEADLINE
    while PushDevice.objects.get(work_order_id=order_id).step != "pushing":
        assert time.monotonic() < deadline, first.log()[-3000:]
        time.sleep(0.1)
    time.sleep(1.0)  # the envelope is on its way; the host is working on it
    first.stop(sig_kill=True)
    assert first.proc.returncode == -9

    second = worker_factory("push-4b", ["devices"], redis_url, extra_env=env, pool="solo")
    order = wait_for(api, people["rita"], order_id, {"completed", "failed"}, second, timeout=180)

    assert order["state"] in ("completed", "failed")
    if order["state"] == "failed":
        assert order["result"]["devices"][0]["step"] == "rolled_back", order
    finishes = [e for e in order["events"] if e["state"] in ("completed", "failed")]
    assert len(finishes) == 1, order["events"]
    infos = [b["binding_information"] for b in https_bindings(lab, "IIS2019", "Shop")]
    assert infos.count("*:443:kill.shop.lab.test") == (1 if order["state"] == "completed" else 0)
    assert len(journal(lab, "IIS2019", "push_and_bind")) == 1  # sent once: the second worker read the host back
    row = PushDevice.objects.get(work_order_id=order_id)
    assert "worker was lost" in " ".join(row.warnings)
    if order["state"] == "completed":
        assert served_thumbprint(address(lab, "IIS2019"), 443, "kill.shop.lab.test") == certificate.thumbprint


def test_5_the_preview_shows_the_shared_ip_impact_and_refuses_sni_without_a_host(
    lab: Lab, redis_url: str, worker_factory: Any, api: Any, people: dict[str, Any]
) -> None:
    worker = worker_factory("push-5", ["devices"], redis_url)
    devices = onboard(lab, "IIS2016")

    non_sni = {"site": "Legacy Portal", "ip": "*", "port": 443, "host": "plain.legacy.lab.test", "sni": False}
    shared = new_connector(
        api,
        people["rita"],
        make_certificate("plain.legacy.lab.test").pk,
        [devices["IIS2016"]],
        {"type": "create_binding", "profiles": [non_sni]},
    )
    order_id = api(people["rita"]).post(f"/api/v1/connectors/{shared}/push/", {}, format="json").json()["work_order"]
    assert wait_for(api, people["rita"], order_id, {"submitted", "cancelled"}, worker)["state"] == "submitted"
    (row,) = api(people["april"]).get(f"/api/v1/work-orders/{order_id}/push-devices/").json()
    (change,) = row["preview"]["changes"]
    assert [(s["site"], s["binding_information"]) for s in change["shared_with"]] == [("Default Web Site", "*:443:")]

    sni_without_host = new_connector(
        api,
        people["rita"],
        make_certificate("www.legacy.lab.test").pk,
        [devices["IIS2016"]],
        {"type": "update_binding", "profiles": ["MS IIS::Default Web Site::*:443:CS"], "changes": {"sni": True}},
    )
    refused_id = (
        api(people["rita"]).post(f"/api/v1/connectors/{sni_without_host}/push/", {}, format="json").json()["work_order"]
    )
    refused = wait_for(api, people["rita"], refused_id, {"submitted", "cancelled"}, worker)
    assert refused["state"] == "cancelled"
    assert "SNI needs a host name" in refused["error"]
    assert journal(lab, "IIS2016", "push_and_bind") == []
