"""The lab's control API: HTTP + JSON on loopback (stdlib ThreadingHTTPServer), and a small client for tests.

Documented in iissim/README.md ("Control API"). It inspects and steers the simulated hosts from outside: state
dumps, the operation journal, fault injection (transport faults go into the host's TransportFaults, which the WinRM
endpoint reads on every request), site start/stop, HTTP.sys drift, pre/post script behaviour, reset.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from iissim.model.errors import OpError
from iissim.model.host import StepFailure
from iissim.model.iis import start_site
from iissim.model.state import HttpSysEntry, ScriptSpec, norm_path

if TYPE_CHECKING:
    from iissim.lab import Lab
    from iissim.model.host import SimHost

TRANSPORT_FIELDS = {"latency_ms": int, "refuse_connections": bool, "auth_failure": bool, "drop_connection_on_op": str}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def faults_view(host: SimHost) -> dict[str, Any]:
    with host.transport_faults.lock:
        transport = {name: getattr(host.transport_faults, name) for name in TRANSPORT_FIELDS}
    return {"transport": transport, **host.op_faults.as_dict()}


def apply_faults(host: SimHost, body: dict[str, Any]) -> None:
    """Merge fault settings: transport fields replace, `fail` rules are appended, `slow_ms` entries replace."""
    unknown = set(body) - set(TRANSPORT_FIELDS) - {"fail", "slow_ms"}
    if unknown:
        raise ControlError(400, f"unknown fault fields: {', '.join(sorted(unknown))}")
    with host.transport_faults.lock:
        for name, kind in TRANSPORT_FIELDS.items():
            if name not in body:
                continue
            value = body[name]
            if value is not None and not isinstance(value, kind):
                raise ControlError(400, f"'{name}' must be {kind.__name__}")
            setattr(host.transport_faults, name, value if value is not None else (None if kind is str else kind()))
    rules = body.get("fail") or []
    if not isinstance(rules, list):
        raise ControlError(400, "'fail' must be a list of {op, step, code?, message?, times?}")
    with host.op_faults.lock:
        for rule in rules:
            if not isinstance(rule, dict) or not rule.get("op") or not rule.get("step"):
                raise ControlError(400, "each 'fail' rule needs 'op' and 'step'")
            host.op_faults.failures.append(
                StepFailure(
                    op=str(rule["op"]),
                    step=str(rule["step"]),
                    code=str(rule.get("code") or "injected_failure"),
                    message=str(rule.get("message") or ""),
                    times=int(rule["times"]) if rule.get("times") is not None else None,
                )
            )
        slow = body.get("slow_ms") or {}
        if not isinstance(slow, dict):
            raise ControlError(400, "'slow_ms' must map op names (or '*') to milliseconds")
        for op, ms in slow.items():
            host.op_faults.slow_ms[str(op)] = int(ms)


def clear_faults(host: SimHost) -> None:
    host.op_faults.clear()
    with host.transport_faults.lock:
        host.transport_faults.latency_ms = 0
        host.transport_faults.refuse_connections = False
        host.transport_faults.auth_failure = False
        host.transport_faults.drop_connection_on_op = None


class ControlServer:
    """Serves the control API for a Lab on (address, port); port 0 picks a free port."""

    def __init__(self, lab: Lab, address: str = "127.0.0.1", port: int = 0) -> None:
        self.lab = lab
        handler = type("Handler", (_Handler,), {"control": self})
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="iissim-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    # -- routes ---------------------------------------------------------------------------------------------------

    def host(self, name: str) -> SimHost:
        host = self.lab.find_host(unquote(name))
        if host is None:
            raise ControlError(404, f"no host named '{unquote(name)}'")
        return host

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v1"]:
            raise ControlError(404, "the control API lives under /v1/")
        parts = parts[1:]
        if parts == ["healthz"] and method == "GET":
            return 200, {"ok": True}
        if parts == ["lab"] and method == "GET":
            return 200, self.lab.info()
        if parts == ["reset"] and method == "POST":
            for host in self.lab.hosts.values():
                host.reset()
            return 200, {"reset": sorted(self.lab.hosts)}
        if parts == ["hosts"] and method == "GET":
            return 200, {"hosts": [self.lab.host_summary(h) for h in self.lab.hosts.values()]}
        if len(parts) < 2 or parts[0] != "hosts":
            raise ControlError(404, f"no route {method} {path}")
        host = self.host(parts[1])
        rest = parts[2:]
        if not rest and method == "GET":
            return 200, {
                **host.dump(),
                "listeners": self.lab.listeners(host.name),
                "faults": faults_view(host),
                "journal_seq": host.journal.last_seq,
            }
        if rest == ["journal"] and method == "GET":
            since = int((query.get("since") or ["0"])[0])
            return 200, {"entries": host.journal.since(since)}
        if rest == ["faults"]:
            if method == "GET":
                return 200, faults_view(host)
            if method == "POST":
                apply_faults(host, self._object(body))
                return 200, faults_view(host)
            if method == "DELETE":
                clear_faults(host)
                return 200, faults_view(host)
        if rest == ["reset"] and method == "POST":
            host.reset()
            return 200, {"reset": [host.name]}
        if len(rest) == 3 and rest[0] == "sites" and rest[2] in ("start", "stop") and method == "POST":
            return 200, self._site_state(host, unquote(rest[1]), rest[2])
        if rest == ["scripts"] and method == "PUT":
            data = self._object(body)
            if not data.get("path"):
                raise ControlError(400, "'path' is required")
            with host.lock:
                spec = ScriptSpec.from_dict(data)
                host.state.scripts[norm_path(spec.path)] = spec
                if host.state.files.read(spec.path) is None:
                    host.state.files.write(spec.path, b"# pre/post script\r\n")
            host.notify_changed()
            return 200, spec.as_dict()
        if rest == ["http_sys"] and method in ("PUT", "DELETE"):
            data = self._object(body)
            if not data.get("kind") or not data.get("endpoint"):
                raise ControlError(400, "'kind' and 'endpoint' are required")
            with host.lock:
                if method == "PUT":
                    entry = HttpSysEntry.from_dict(data)
                    if not entry.app_id:
                        entry.app_id = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
                    host.state.add_http_sys(entry)
                else:
                    host.state.http_sys.pop((str(data["kind"]), str(data["endpoint"]).lower()), None)
            host.notify_changed()
            return 200, {"http_sys": host.dump()["http_sys"]}
        raise ControlError(404, f"no route {method} {path}")

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ControlError(400, "the request body must be a JSON object")
        return body

    @staticmethod
    def _site_state(host: SimHost, name: str, action: str) -> dict[str, Any]:
        with host.lock:
            site = host.state.site_by_name(name)
            if site is None:
                raise ControlError(404, f"no site named '{name}' on {host.name}")
            if action == "stop":
                site.state = "Stopped"
                site.start_error = None
            else:
                try:
                    start_site(host.state, site)
                except OpError as exc:
                    raise ControlError(409, exc.message) from exc
            result = {"site": site.name, "state": site.state, "start_error": site.start_error}
        host.notify_changed()
        return result


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "iissim-control/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self, method: str) -> None:
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"error": "the request body is not JSON"})
            return
        try:
            status, payload = self.control.handle(method, parsed.path, parse_qs(parsed.query), body)
        except ControlError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except (TypeError, ValueError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        self._send(status, payload)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, indent=1).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class ControlClient:
    """A client of the control API (tests, the portal's demo set-up)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("the control API URL must be http(s)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - base_url is checked to be http(s) in __init__
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ControlError(exc.code, detail) from exc

    @staticmethod
    def _h(name: str) -> str:
        return quote(name, safe="")

    def lab(self) -> dict[str, Any]:
        return self._call("GET", "/v1/lab")

    def hosts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/hosts")["hosts"]

    def state(self, host: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/hosts/{self._h(host)}")

    def journal(self, host: str, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/hosts/{self._h(host)}/journal?since={since}")["entries"]

    def faults(self, host: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/hosts/{self._h(host)}/faults")

    def set_faults(self, host: str, **faults: Any) -> dict[str, Any]:
        return self._call("POST", f"/v1/hosts/{self._h(host)}/faults", faults)

    def fail_step(
        self, host: str, op: str, step: str, *, code: str = "injected_failure", times: int | None = None
    ) -> None:
        self.set_faults(host, fail=[{"op": op, "step": step, "code": code, "times": times}])

    def clear_faults(self, host: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/hosts/{self._h(host)}/faults")

    def reset(self, host: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/v1/hosts/{self._h(host)}/reset" if host else "/v1/reset", {})

    def start_site(self, host: str, site: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/hosts/{self._h(host)}/sites/{self._h(site)}/start", {})

    def stop_site(self, host: str, site: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/hosts/{self._h(host)}/sites/{self._h(site)}/stop", {})

    def set_script(self, host: str, path: str, *, exit_code: int = 0, output: str = "", delay_ms: int = 0) -> Any:
        body = {"path": path, "exit_code": exit_code, "output": output, "delay_ms": delay_ms}
        return self._call("PUT", f"/v1/hosts/{self._h(host)}/scripts", body)

    def set_http_sys(self, host: str, **entry: Any) -> Any:
        return self._call("PUT", f"/v1/hosts/{self._h(host)}/http_sys", entry)

    def delete_http_sys(self, host: str, kind: str, endpoint: str) -> Any:
        return self._call("DELETE", f"/v1/hosts/{self._h(host)}/http_sys", {"kind": kind, "endpoint": endpoint})
