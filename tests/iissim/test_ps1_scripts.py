"""The operation scripts: parameters travel only in the envelope, never inside script text."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from devices.iis import operations as ops

OPS_DIR = Path(ops.__file__).with_name("ops")
SCRIPTS = sorted(OPS_DIR.glob("*.ps1"))
BOOTSTRAP = Path(ops.__file__).with_name("bootstrap.ps1")

# Text a template engine or string formatting would leave behind, and PowerShell that re-parses text as code.
SPLICE_MARKERS = [
    (re.compile(r"\{\{|\}\}"), "template braces"),
    (re.compile(r"%\(\w+\)s|%s\b"), "printf-style placeholder"),
    (re.compile(r"\$\{?\w*(password|pfx|secret)\w*\}?", re.IGNORECASE), None),  # checked below: only from $Params
    (re.compile(r"Invoke-Expression|\biex\b", re.IGNORECASE), "Invoke-Expression re-parses text as code"),
    (re.compile(r"\[scriptblock\]::Create|ScriptBlock\]::Create", re.IGNORECASE), "a script block made from text"),
    (re.compile(r"AddScript\(|-Command\s+\$", re.IGNORECASE), "text run as a command"),
]


def test_every_operation_has_a_script_and_a_wrapper() -> None:
    assert {p.stem for p in SCRIPTS} == {*ops.OPERATION_NAMES, "_common"}
    for name in ops.OPERATION_NAMES:
        assert callable(getattr(ops, name))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_parameter_is_spliced_into_script_text(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern, why in SPLICE_MARKERS:
        if why is None:
            continue
        match = pattern.search(text)
        assert match is None, f"{path.name}: {why}: {match.group(0)!r}"
    # A value that looks secret may only come from $Params (Get-Param / Get-RequiredParam) or be derived from one.
    for line in text.splitlines():
        if re.search(r"\$password\s*=", line, re.IGNORECASE):
            assert "Get-Param" in line or "Get-RequiredParam" in line, f"{path.name}: {line.strip()}"
    if path.stem != "_common":
        assert text.lstrip().splitlines()[0].startswith("#"), "each op says what it does"
        assert "param($Params)" in text


class Recorder:
    """The one faked seam here: a session that records what would be sent instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    def run(self, op: str, params: dict[str, Any], script: str) -> Any:
        self.sent.append((op, params, script))
        raise LookupError("recorded")


def _strings(value: Any) -> list[str]:
    """Every string in the params, base64 blobs decoded."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if key.endswith("_b64"):
                out.append(base64.b64decode(item).decode("utf-8", "replace"))
            else:
                out.extend(_strings(item))
        return out
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


CANARY = "Canary$@'\"`;pw-7b1f"
CALLS = [
    ("list_files", lambda s: ops.list_files(s, "\\\\fs\\" + CANARY, credential=ops.FolderCredential("u", CANARY))),
    ("push_and_bind", lambda s: ops.push_and_bind(s, CANARY.encode(), CANARY, friendly_name=CANARY)),
    ("write_file", lambda s: ops.write_file(s, "C:\\" + CANARY, CANARY.encode())),
    ("remove_file", lambda s: ops.remove_file(s, "\\\\fs\\" + CANARY, credential=ops.FolderCredential("u", CANARY))),
    ("run_script", lambda s: ops.run_script(s, "C:\\" + CANARY, arguments=[CANARY])),
    ("restore", lambda s: ops.restore(s, {"version": 1, "note": CANARY})),
    ("remove_certificate_if_unused", lambda s: ops.remove_certificate_if_unused(s, CANARY)),
    ("verify_served_on_host", lambda s: ops.verify_served_on_host(s, 443, sni=CANARY)),
    ("list_store_certificates", lambda s: ops.list_store_certificates(s, thumbprint=CANARY)),
]


@pytest.mark.parametrize(("op", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_the_wrappers_send_the_script_file_unchanged_and_values_only_as_params(op: str, call: Any) -> None:
    recorder = Recorder()
    with pytest.raises(LookupError):
        call(recorder)
    sent_op, params, script = recorder.sent[0]
    assert sent_op == op
    assert script == ops.script_text(op)
    assert CANARY not in script
    assert any(CANARY in value for value in _strings(params))
    body = (OPS_DIR / f"{op}.ps1").read_text(encoding="utf-8")
    assert script.startswith("param($Params)")
    assert body.split("param($Params)", 1)[1].strip() in script.replace("\r\n", "\n")
