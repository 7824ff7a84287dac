"""What a Windows command line does before any operation runs: cmd.exe built-ins, powershell.exe argument parsing
(-EncodedCommand), and PowerShell's CLIXML on stderr."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from xml.sax.saxutils import escape

CMD_LINE_MAX = 8191
CLIXML_NS = "http://schemas.microsoft.com/powershell/2004/04"

_POWERSHELL_VALUE_PARAMS = (
    "executionpolicy",
    "inputformat",
    "outputformat",
    "windowstyle",
    "configurationname",
    "version",
    "psconsolefile",
)
_POWERSHELL_SWITCHES = ("noprofile", "noninteractive", "nologo", "noexit", "sta", "mta")


def split_command_line(line: str) -> list[str]:
    """Split as CommandLineToArgvW does for the cases that matter: whitespace, double quotes, backslash-quote."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    has_token = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            j = i
            while j < len(line) and line[j] == "\\":
                j += 1
            count = j - i
            if j < len(line) and line[j] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    i = j + 1
                else:
                    i = j
                has_token = True
                continue
            current.append("\\" * count)
            has_token = True
            i = j
            continue
        if ch == '"':
            in_quotes = not in_quotes
            has_token = True
        elif ch in " \t" and not in_quotes:
            if has_token:
                args.append("".join(current))
                current = []
                has_token = False
        else:
            current.append(ch)
            has_token = True
        i += 1
    if has_token:
        args.append("".join(current))
    return args


@dataclass
class PowerShellInvocation:
    encoded_script: str | None
    file: str | None
    command: str | None
    error: str | None = None


def _is_encoded_command(name: str) -> bool:
    return name in ("e", "ec") or (len(name) >= 2 and "encodedcommand".startswith(name))


def parse_powershell(args: list[str]) -> PowerShellInvocation:
    """Read powershell.exe's parameters; parameter names may be abbreviated and start with '-' or '/'."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg[:1] not in ("-", "/"):
            return PowerShellInvocation(None, None, " ".join(args[i:]))
        name = arg[1:].lower()
        if _is_encoded_command(name):
            if i + 1 >= len(args):
                return PowerShellInvocation(None, None, None, "Missing the argument to -EncodedCommand.")
            try:
                raw = base64.b64decode(args[i + 1], validate=True)
                script = raw.decode("utf-16-le")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return PowerShellInvocation(
                    None,
                    None,
                    None,
                    "Cannot process the command because the value specified with -EncodedCommand is not properly "
                    "encoded. The value must be Base64 encoded.",
                )
            return PowerShellInvocation(script, None, None)
        if name == "c" or (len(name) >= 3 and "command".startswith(name)):
            return PowerShellInvocation(None, None, " ".join(args[i + 1 :]))
        if name and "file".startswith(name):
            return PowerShellInvocation(None, args[i + 1] if i + 1 < len(args) else "", None)
        if any(p.startswith(name) for p in _POWERSHELL_VALUE_PARAMS) and name:
            i += 2
            continue
        if any(s.startswith(name) for s in _POWERSHELL_SWITCHES) and name:
            i += 1
            continue
        return PowerShellInvocation(
            None,
            None,
            None,
            f"-{arg[1:]} : The term '-{arg[1:]}' is not recognized as a parameter of powershell.exe.",
        )
    return PowerShellInvocation(None, None, None, "powershell.exe started without a command (interactive).")


def _clixml_string(text: str) -> str:
    # PowerShell escapes CR and LF inside CLIXML strings as _x000D_ and _x000A_.
    return escape(text).replace("\r", "_x000D_").replace("\n", "_x000A_")


PROGRESS_RECORD = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.'
    "</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
)


def clixml_stderr(error: str | None = None) -> bytes:
    """What powershell.exe writes to stderr when its output is redirected: the progress record, then errors."""
    body = PROGRESS_RECORD
    if error:
        body += "".join(f'<S S="Error">{_clixml_string(line)}_x000D__x000A_</S>' for line in error.splitlines() or [""])
    return f'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="{CLIXML_NS}">{body}</Objs>'.encode()


def not_recognized(program: str) -> bytes:
    return (
        f"'{program}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
    ).encode()


def encode_powershell_command(script: str) -> str:
    """The -EncodedCommand value for a script (used by tests and by the portal's bootstrap alike)."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")
