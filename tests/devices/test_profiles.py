"""Profile names by the reference's convention `MS IIS::<site>::<ip>:<port>:<host>:CS[:(SNI)]`, `(http)` for http
bindings, the device-name profile for a push without binding -- from binding structures and from the demo lab's
real configuration fetched over WinRM."""

from __future__ import annotations

from typing import Any

import pytest

from devices.profiles import (
    binding_profiles,
    device_name_profile,
    format_ip,
    normalize_sites,
    parse_binding_information,
    profile_name,
)
from devices.selectors import device_profile, device_profiles
from devices.services import device_create
from devices.validation import (
    device_probe,
    device_validation_finish,
    device_validation_request,
    device_validation_start,
)
from iissim.lab import Lab
from tests.devices.labs import host_address, lab_device_input


def site(name: str, *bindings: dict[str, Any], site_id: int = 1) -> dict[str, Any]:
    return {"id": site_id, "name": name, "state": "started", "bindings": list(bindings)}


def binding(protocol: str, info: str, ssl_flags: int = 0) -> dict[str, Any]:
    return {"protocol": protocol, "binding_information": info, "ssl_flags": ssl_flags}


def names(sites: list[dict[str, Any]]) -> list[str]:
    return [p.name for p in binding_profiles(normalize_sites(sites))]


def test_an_https_binding_without_host_has_no_hostname_segment() -> None:
    assert names([site("Default Web Site", binding("https", "*:443:"))]) == ["MS IIS::Default Web Site::*:443:CS"]


def test_an_sni_binding_carries_its_host_and_the_sni_marker() -> None:
    sites = [site("Shop", binding("https", "*:443:shop.example.test", ssl_flags=1))]
    assert names(sites) == ["MS IIS::Shop::*:443:shop.example.test:CS:(SNI)"]


def test_a_host_header_without_the_sni_flag_has_no_sni_marker() -> None:
    sites = [site("Portal", binding("https", "10.0.0.5:443:portal.example.test"))]
    assert names(sites) == ["MS IIS::Portal::10.0.0.5:443:portal.example.test:CS"]


def test_an_http_binding_is_marked_http() -> None:
    sites = [site("Default Web Site", binding("http", "*:80:"), binding("http", "*:8080:www.example.test"))]
    assert names(sites) == [
        "MS IIS::Default Web Site::*:80:CS:(http)",
        "MS IIS::Default Web Site::*:8080:www.example.test:CS:(http)",
    ]


def test_an_ipv6_address_is_bracketed_and_compressed() -> None:
    sites = [site("V6", binding("https", "[2001:0db8:0000::0019]:443:"), binding("https", "[::1]:8443:v6.test", 1))]
    assert names(sites) == ["MS IIS::V6::[2001:db8::19]:443:CS", "MS IIS::V6::[::1]:8443:v6.test:CS:(SNI)"]


def test_a_wildcard_host_header_is_kept_as_it_is() -> None:
    sites = [site("Apps", binding("https", "*:443:*.apps.example.test", ssl_flags=33))]
    assert names(sites) == ["MS IIS::Apps::*:443:*.apps.example.test:CS:(SNI)"]


def test_an_empty_ip_means_all_unassigned() -> None:
    assert parse_binding_information(":80:") == ("*", 80, "")
    assert names([site("S", binding("http", ":80:"))]) == ["MS IIS::S::*:80:CS:(http)"]
    assert format_ip("0.0.0.0") == "*"


def test_ftp_and_net_tcp_bindings_are_not_profiles() -> None:
    sites = [site("Files", binding("ftp", "*:21:")), site("Wcf", binding("net.tcp", "808:*"), site_id=2)]
    assert names(sites) == []


def test_profiles_keep_site_and_binding_order_and_describe_the_binding() -> None:
    sites = [
        site("B", binding("https", "*:443:b.test", 1), site_id=2),
        site("A", binding("http", "*:80:"), binding("https", "*:443:"), site_id=1),
    ]
    profiles = binding_profiles(normalize_sites(sites))
    assert [p.site for p in profiles] == ["A", "A", "B"]
    sni = profiles[2]
    assert (sni.kind, sni.protocol, sni.ip, sni.port, sni.host, sni.sni, sni.http) == (
        "binding",
        "https",
        "*",
        443,
        "b.test",
        True,
        False,
    )


def test_the_push_only_profile_is_the_device_name() -> None:
    profile = device_name_profile("iis-web-01")
    assert (profile.name, profile.kind, profile.site) == ("iis-web-01", "device", None)


def test_profile_name_builds_from_parts() -> None:
    assert (
        profile_name(site="Default Web Site", ip="*", port=443, host="www.example.test", protocol="https", sni=True)
        == "MS IIS::Default Web Site::*:443:www.example.test:CS:(SNI)"
    )


@pytest.mark.django_db
def test_the_demo_hosts_profiles_match_the_convention_exactly(demo_lab: Lab) -> None:
    """Sites and bindings come from the simulated hosts over real WinRM (a validation without a worker)."""
    intranet_ip = demo_lab.host("IIS2019").state.addresses[1]
    expected = {
        "IIS2016": [
            "MS IIS::Default Web Site::*:80:CS:(http)",
            "MS IIS::Default Web Site::*:443:CS",
            "MS IIS::Legacy Portal::*:443:portal.lab.test:CS:(SNI)",
            "MS IIS::Old Shop::*:8443:CS",
        ],
        "IIS2019": [
            "MS IIS::Default Web Site::*:80:CS:(http)",
            "MS IIS::Shop::*:80:shop.lab.test:CS:(http)",
            "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)",
            "MS IIS::Blog::*:443:blog.lab.test:CS:(SNI)",
            f"MS IIS::Intranet::{intranet_ip}:443:CS",
            "MS IIS::Intranet::[2001:db8:10::19]:443:CS",
        ],
        "IIS2022": [
            "MS IIS::Default Web Site::*:80:CS:(http)",
            "MS IIS::Default Web Site::*:443:CS",
            "MS IIS::Apps::*:443:*.apps.lab.test:CS:(SNI)",
            "MS IIS::API::*:443:api.lab.test:CS:(SNI)",
            "MS IIS::Archive::*:443:archive.lab.test:CS:(SNI)",
        ],
    }
    for name, wanted in expected.items():
        device = device_create(data=lab_device_input(demo_lab, name), validate=False)
        validation = device_validation_request(device=device)
        started = device_validation_start(validation_id=validation.pk)
        assert started is not None
        device_validation_finish(validation=started, outcome=device_probe(device))
        device.refresh_from_db()
        assert device.hostname == host_address(demo_lab, name)
        assert [p.name for p in device_profiles(device=device)] == wanted, name
        assert [p.name for p in device_profiles(device=device, http_only=True)] == [w for w in wanted if "(http)" in w]
        assert [p.name for p in device_profiles(device=device, push_type="push")] == [name]
        assert device_profile(device=device, name=wanted[-1]) is not None
        assert device_profile(device=device, name="MS IIS::Nope::*:443:CS") is None
