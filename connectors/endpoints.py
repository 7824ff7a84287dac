"""Which ip:port[:host] a push affects, what each should serve afterwards, and the portal's TLS check of them.

A changed or created binding must serve the pushed certificate; so must every other binding that shares its non-SNI
HTTP.sys entry (IIS keeps one certificate per ip:port). After a restore each endpoint must serve what it served
before (a created binding: anything but the pushed certificate). The portal connects to the binding's own address,
or to the device's host name for `*`, with the SNI name where the binding has a host. An endpoint the portal cannot
reach at all is checked once more from the host itself (`verify_served_on_host`), so a firewall between the portal
and the site does not fail a good push.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from connectors.tls import ServedCertificate, TlsEndpoint, fetch_served_now
from devices.iis import operations
from devices.iis.errors import DeviceError
from devices.profiles import parse_binding_information

# A wildcard host header (`*.apps.example.test`) is checked with a name it covers.
WILDCARD_PROBE = "tls-check"


@dataclass
class Expectation:
    """One endpoint and what it must serve: `expect` (a thumbprint), or with `expect_not`, anything but that one."""

    site: str
    binding_information: str
    ip: str
    port: int
    host: str
    sni: bool
    address: str
    role: str  # changed | created | shared | restored
    site_started: bool = True
    expect: str = ""
    expect_not: str = ""

    @property
    def sni_name(self) -> str:
        if not self.host:
            return ""
        return self.host.replace("*", WILDCARD_PROBE, 1) if self.host.startswith("*.") else self.host

    def key(self) -> tuple[str, int, str]:
        return (self.address.lower(), self.port, self.sni_name.lower())


@dataclass
class CheckResult:
    expectation: Expectation
    served: str = ""
    ok: bool = False
    error: str = ""
    method: str = "portal"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        e = self.expectation
        return {
            "site": e.site,
            "binding": e.binding_information,
            "ip": e.ip,
            "port": e.port,
            "host": e.host,
            "address": e.address,
            "role": e.role,
            "expected_thumbprint": e.expect,
            "must_not_be": e.expect_not,
            "served_thumbprint": self.served,
            "ok": self.ok,
            "error": self.error,
            "method": self.method,
            "notes": self.notes,
        }


def connect_address(ip: str | None, device_hostname: str) -> str:
    """Where the portal connects for a binding address: the address itself, or the device for `*`."""
    if not ip or ip in ("*", "0.0.0.0"):  # noqa: S104 - an IIS binding value, not a socket bind
        return device_hostname
    return ip.strip("[]")


def expectation_for_binding(
    *,
    site: str,
    binding_information: str,
    ssl_flags: int,
    device_hostname: str,
    role: str,
    site_started: bool = True,
    expect: str = "",
    expect_not: str = "",
) -> Expectation:
    ip, port, host = parse_binding_information(binding_information)
    return Expectation(
        site=site,
        binding_information=binding_information,
        ip=ip,
        port=int(port or 443),
        host=host,
        sni=bool(ssl_flags & 1),
        address=connect_address(ip, device_hostname),
        role=role,
        site_started=site_started,
        expect=expect.upper(),
        expect_not=expect_not.upper(),
    )


def unique(expectations: list[Expectation]) -> list[Expectation]:
    """One check per endpoint: a changed binding wins over a shared one on the same ip:port[:host]."""
    order = {"changed": 0, "created": 0, "restored": 0, "shared": 1}
    chosen: dict[tuple[str, int, str], Expectation] = {}
    for item in sorted(expectations, key=lambda e: order.get(e.role, 2)):
        chosen.setdefault(item.key(), item)
    return list(chosen.values())


def _judge(result: CheckResult) -> None:
    e = result.expectation
    if not result.served:
        if e.expect_not or not e.site_started:
            # Nothing served: the restored-away binding is gone, or the site is stopped (no listener); neither is
            # the pushed certificate.
            result.ok = True
            if not e.site_started:
                result.notes.append("site stopped: no listener")
        return
    if e.expect:
        result.ok = result.served == e.expect
        if not result.ok:
            result.error = result.error or f"served {result.served}, expected {e.expect}"
    else:
        result.ok = result.served != e.expect_not
        if not result.ok:
            result.error = result.error or f"still serves {result.served}"


def check_endpoints(
    expectations: list[Expectation],
    *,
    session: operations.OperationRunner | None = None,
    timeout: float = 5.0,
    concurrency: int = 50,
) -> list[CheckResult]:
    """Handshake with every endpoint from the portal; endpoints the portal cannot connect to are checked from the
    host over `session` (if given). Returns one result per expectation, in order."""
    items = unique(expectations)
    served = fetch_served_now(
        [TlsEndpoint(ip=e.address, port=e.port, host=e.sni_name) for e in items],
        concurrency=concurrency,
        timeout=timeout,
    )
    results = []
    for expectation, got in zip(items, served, strict=True):
        result = CheckResult(expectation, served=got.thumbprint or "", error=got.error)
        if not got.ok and session is not None and _unreachable(got):
            _check_on_host(result, session)
        _judge(result)
        results.append(result)
    return results


def _unreachable(got: ServedCertificate) -> bool:
    return got.error.startswith(("connection failed", "timed out"))


def _check_on_host(result: CheckResult, session: operations.OperationRunner) -> None:
    e = result.expectation
    try:
        on_host = operations.verify_served_on_host(
            session, e.port, sni=e.sni_name or None, ip=e.ip if e.ip not in ("", "*") else "*"
        )
    except DeviceError as exc:
        result.notes.append(f"portal: {result.error}; on the host: {exc.message}")
        result.error = f"not reachable from the portal ({result.error}) nor on the host ({exc.message})"
        return
    result.notes.append(f"portal: {result.error}; checked on the host instead")
    result.served, result.error, result.method = on_host.thumbprint, "", "on_host"


def expectation_from_dict(data: dict[str, Any]) -> Expectation:
    return Expectation(**{k: data[k] for k in Expectation.__dataclass_fields__ if k in data})


def expectation_as_dict(expectation: Expectation) -> dict[str, Any]:
    return asdict(expectation)
