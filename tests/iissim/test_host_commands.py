"""What SimHost.run_command does with a WinRS command line and its stdin, before and around an operation:
powershell.exe's -EncodedCommand (any abbreviation), the envelope on stdin, one JSON document on stdout, the exit
code, PowerShell's CLIXML on stderr, cmd.exe built-ins and its limits, and the journal."""

from __future__ import annotations

import base64
import json

import pytest

from iissim.model.shell import clixml_stderr, split_command_line
from tests.iissim.labtools import BOOTSTRAP, b64, build_host, fail, ok, run, shared_ca

HOST = {"name": "CMD1", "address": "127.200.2.1", "build": 17763, "sites": []}


def _envelope(op: str = "host_facts", **extra: object) -> bytes:
    return json.dumps({"op": op, "v": 1, "params": {}, "script": "param($Params) @{}", **extra}).encode()


@pytest.mark.parametrize(
    "switch", ["-EncodedCommand", "-encodedcommand", "-enc", "-e", "-ec", "/EncodedCommand", "-EncodedC"]
)
def test_it_accepts_any_abbreviation_of_encodedcommand(switch: str) -> None:
    host = build_host(HOST)
    result = host.run_command(f"powershell.exe -NoProfile -NonInteractive {switch} {BOOTSTRAP}", _envelope())
    assert result.exit_code == 0
    assert json.loads(result.stdout)["data"]["os"]["build"] == 17763


def test_it_answers_with_one_json_document_and_progress_clixml_on_success() -> None:
    host = build_host(HOST)
    result = host.run_command(f"PowerShell -NoProfile -ExecutionPolicy Bypass -EncodedCommand {BOOTSTRAP}", _envelope())
    assert result.stdout.endswith(b"\r\n") and result.stdout.count(b"\r\n") == 1
    assert result.stderr.startswith(b"#< CLIXML\r\n") and b"Preparing modules for first use." in result.stderr
    assert b'S="Error"' not in result.stderr


def test_a_failed_operation_has_exit_code_1_and_an_error_record_on_stderr() -> None:
    host = build_host(HOST)
    document, code, stderr = run(host, "list_files", {"path": "C:\\nowhere"})
    assert code == 1 and document["ok"] is False
    assert document["error"] == {
        "code": "path_not_found",
        "message": "Cannot find path 'C:\\nowhere' because it does not exist.",
        "step": "list",
    }
    assert b'<S S="Error">Cannot find path' in stderr


def test_it_rejects_a_bad_encodedcommand_like_powershell() -> None:
    host = build_host(HOST)
    result = host.run_command("powershell.exe -EncodedCommand not*base64", _envelope())
    assert result.exit_code == 1 and result.stdout == b""
    assert b"not properly encoded" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"", "no envelope"),
        (b"{not json", "not a JSON envelope"),
        (json.dumps({"op": "host_facts", "v": 2, "params": {}, "script": "x"}).encode(), "version 2"),
        (json.dumps({"op": "host_facts", "v": 1, "params": {}}).encode(), "no script"),
    ],
)
def test_it_refuses_a_missing_or_malformed_envelope(stdin: bytes, message: str) -> None:
    host = build_host(HOST)
    result = host.run_command(f"powershell -e {BOOTSTRAP}", stdin)
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["error"]["code"] == "bad_envelope"
    assert message in document["error"]["message"]


def test_it_takes_a_byte_order_mark_and_reports_an_unknown_op() -> None:
    host = build_host(HOST)
    result = host.run_command(f"powershell -e {BOOTSTRAP}", b"\xef\xbb\xbf" + _envelope("format_disk"))
    assert json.loads(result.stdout)["error"]["code"] == "unknown_op"


def test_cmd_builtins_answer_and_unknown_programs_are_not_recognized() -> None:
    host = build_host(HOST)
    assert host.run_command("hostname", b"").stdout == b"CMD1\r\n"
    assert host.run_command("cmd /c hostname", b"").stdout == b"CMD1\r\n"
    assert b"10.0.17763" in host.run_command("ver", b"").stdout
    missing = host.run_command("ipconfig2 /all", b"")
    assert missing.exit_code == 1 and b"'ipconfig2' is not recognized" in missing.stderr


def test_it_refuses_a_command_line_over_cmds_limit() -> None:
    host = build_host(HOST)
    result = host.run_command("echo " + "x" * 8200, b"")
    assert result.exit_code == 1 and result.stderr == b"The command line is too long.\r\n"


def test_command_lines_split_like_windows() -> None:
    assert split_command_line('powershell -File "C:\\a b\\x.ps1" -x \\"q\\"') == [
        "powershell",
        "-File",
        "C:\\a b\\x.ps1",
        "-x",
        '"q"',
    ]


def test_clixml_escapes_line_breaks_and_markup() -> None:
    text = clixml_stderr("a <b>\r\nc").decode()
    assert '<S S="Error">a &lt;b&gt;_x000D__x000A_</S><S S="Error">c_x000D__x000A_</S>' in text


def test_the_journal_keeps_params_without_secrets_and_the_pfx_algorithms() -> None:
    host = build_host(HOST)
    pfx = shared_ca().issue(common_name="j.test", key_type="ec256").pfx("S3cret$pw", "aes256")
    fail(
        host,
        "list_files",
        {"path": "\\\\fs\\x", "credential": {"username": "u", "password": "Share$pw"}},
    )
    ok(host, "push_and_bind", {"pfx_b64": b64(pfx), "pfx_password": "S3cret$pw", "bindings": []})
    entries = host.journal.since(0)
    assert [e["op"] for e in entries] == ["list_files", "push_and_bind"]
    assert entries[0]["params"]["credential"] == {"username": "u", "password": "***"}
    push = entries[1]
    assert push["params"]["pfx_password"] == "***"
    assert push["params"]["pfx_b64"]["bytes"] == len(pfx)
    assert push["pfx"]["keys"] == ["pbes2/pbkdf2/hmacWithSHA256/aes256-cbc"] and push["pfx"]["mac"] == "sha256"
    assert "S3cret" not in json.dumps(entries) and "Share$pw" not in json.dumps(entries)
    assert base64.b64encode(pfx).decode()[:40] not in json.dumps(entries)
