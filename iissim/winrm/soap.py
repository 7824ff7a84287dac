"""WS-Management SOAP: reading the requests both client libraries send, writing the responses and faults they parse.

Responses use the prefixes a Windows host uses (s, a, x, w, rsp, p) and echo the request's MessageID verbatim in
RelatesTo: pypsrp compares it as a string on every response (winrm-protocol.md §1.4).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_RESOURCE_URI = SHELL_URI + "/cmd"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"

ACTION_CREATE = TRANSFER + "/Create"
ACTION_DELETE = TRANSFER + "/Delete"
ACTION_COMMAND = SHELL_URI + "/Command"
ACTION_SEND = SHELL_URI + "/Send"
ACTION_RECEIVE = SHELL_URI + "/Receive"
ACTION_SIGNAL = SHELL_URI + "/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

STATE_RUNNING = SHELL_URI + "/CommandState/Running"
STATE_DONE = SHELL_URI + "/CommandState/Done"

_ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US"'
    + "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NS.items() if prefix != "f")
    + ">"
)
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class SoapParseError(ValueError):
    """The request is not a WS-Management envelope this endpoint can read."""


@dataclass
class WSManRequest:
    action: str
    message_id: str
    resource_uri: str
    body: ET.Element
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float = 60.0
    max_envelope_size: int = 153600

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")


def parse_duration(text: str | None, default: float) -> float:
    """xs:duration as WS-Management uses it (PT20S, PT20.000S, P0DT0H0M60S) -> seconds."""
    if not text:
        return default
    match = _DURATION.match(text.strip())
    if not match:
        return default
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _named(header: ET.Element, path: str) -> dict[str, str]:
    return {node.attrib.get("Name", ""): (node.text or "").strip() for node in header.findall(path, NS)}


def parse_request(xml: bytes) -> WSManRequest:
    """Read the headers both clients send. `To` and mustUnderstand are deliberately not validated (pywinrm sends
    a fixed `To` and puts mustUnderstand on attributes without a namespace)."""
    try:
        # The endpoint only listens on loopback for clients the lab drives; expat expands no external entities.
        root = ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise SoapParseError(f"not XML: {exc}") from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if root.tag != f"{{{NS['s']}}}Envelope" or header is None or body is None:
        raise SoapParseError("not a SOAP 1.2 envelope")

    def text(path: str) -> str:
        node = header.find(path, NS)
        return (node.text or "").strip() if node is not None else ""

    action = text("a:Action")
    message_id = text("a:MessageID")
    if not action or not message_id:
        raise SoapParseError("Action and MessageID are required")
    selectors = _named(header, "w:SelectorSet/w:Selector")
    options = _named(header, "w:OptionSet/w:Option")
    try:
        max_envelope = int(text("w:MaxEnvelopeSize") or 153600)
    except ValueError:
        max_envelope = 153600
    return WSManRequest(
        action=action,
        message_id=message_id,
        resource_uri=text("w:ResourceURI"),
        body=body,
        selectors=selectors,
        options=options,
        operation_timeout=parse_duration(text("w:OperationTimeout"), 60.0),
        max_envelope_size=max_envelope,
    )


def new_id() -> str:
    return str(uuid.uuid4()).upper()


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A response envelope; `body` is already-serialised XML using the prefixes of `NS`."""
    return (
        f"{_ENVELOPE_OPEN}<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{new_id()}</a:MessageID>"
        f"<a:To>{_ANONYMOUS}</a:To><a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


@dataclass(frozen=True)
class WSManFault(Exception):
    """A WS-Management fault: HTTP 500 with a SOAP Fault whose WSManFault Code the clients act on."""

    code: int
    message: str
    subcode: str = "w:InternalError"
    value: str = "s:Receiver"
    fault_detail: str | None = None

    def __str__(self) -> str:
        return f"WSManFault {self.code}: {self.message}"

    def to_xml(self, relates_to: str, machine: str) -> bytes:
        detail = f"<w:FaultDetail>{self.fault_detail}</w:FaultDetail>" if self.fault_detail else ""
        body = (
            f"<s:Fault><s:Code><s:Value>{self.value}</s:Value><s:Subcode><s:Value>{self.subcode}</s:Value>"
            f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(self.message)}</s:Text></s:Reason>'
            f'<s:Detail>{detail}<f:WSManFault xmlns:f={quoteattr(NS["f"])} Code="{self.code}" '
            f"Machine={quoteattr(machine)}><f:Message>{escape(self.message)}</f:Message></f:WSManFault>"
            f"</s:Detail></s:Fault>"
        )
        return envelope(ACTION_FAULT, relates_to, body)


# Fault codes. 2150858793 and 2150858843 are the ones the clients act on (winrm-protocol.md §1.5); 2150859173 is
# Windows' MaxShellsPerUser fault as public reports quote it; the others are plausible values, not checked against
# a Windows host.
CODE_TIMED_OUT = 2150858793
CODE_SHELL_NOT_FOUND = 2150858843
CODE_MAX_SHELLS = 2150859173
CODE_ACTION_NOT_SUPPORTED = 2150858772
CODE_RESOURCE_NOT_FOUND = 2150858770
CODE_INVALID_PARAMETER = 87


def fault_timed_out() -> WSManFault:
    return WSManFault(
        CODE_TIMED_OUT,
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        subcode="w:TimedOut",
    )


def fault_shell_not_found(shell_id: str | None) -> WSManFault:
    return WSManFault(
        CODE_SHELL_NOT_FOUND,
        f"The request for the Windows Remote Shell with ShellId {shell_id or ''} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists "
        "on the server. Provide the correct ShellId or create a new shell and retry the operation.",
        subcode="w:InvalidSelectors",
        value="s:Sender",
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def fault_command_not_found(command_id: str | None) -> WSManFault:
    return WSManFault(
        CODE_INVALID_PARAMETER,
        f"The WS-Management service cannot process the request because the CommandId {command_id or ''} is not "
        "valid for this shell. The command may have been terminated.",
        subcode="w:InvalidParameter",
        value="s:Sender",
    )


def fault_max_shells(limit: int) -> WSManFault:
    return WSManFault(
        CODE_MAX_SHELLS,
        f"The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} "
        "concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.",
        subcode="w:QuotaLimit",
    )


def fault_action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        CODE_ACTION_NOT_SUPPORTED,
        f"The WS-Management service cannot process the request because the action {action} is not supported.",
        subcode="a:ActionNotSupported",
        value="s:Sender",
    )


def fault_resource_not_found(resource_uri: str) -> WSManFault:
    return WSManFault(
        CODE_RESOURCE_NOT_FOUND,
        f"The WS-Management service cannot process the request. The resource URI ({resource_uri}) was not found in "
        "the WS-Management catalog.",
        subcode="w:DestinationUnreachable",
        value="s:Sender",
    )


def fault_invalid(message: str) -> WSManFault:
    return WSManFault(CODE_INVALID_PARAMETER, message, subcode="w:InvalidParameter", value="s:Sender")


def create_response(relates_to: str, shell_id: str, owner: str, client_ip: str, idle_timeout: float) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{_ANONYMOUS}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{CMD_RESOURCE_URI}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{CMD_RESOURCE_URI}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP><rsp:IdleTimeOut>PT{idle_timeout:.3f}S</rsp:IdleTimeOut>"
        "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        "</rsp:Shell>"
    )
    return envelope(TRANSFER + "/CreateResponse", relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return envelope(ACTION_COMMAND + "Response", relates_to, body)


def send_response(relates_to: str) -> bytes:
    return envelope(ACTION_SEND + "Response", relates_to, "<rsp:SendResponse/>")


def signal_response(relates_to: str) -> bytes:
    return envelope(ACTION_SIGNAL + "Response", relates_to, "<rsp:SignalResponse/>")


def delete_response(relates_to: str) -> bytes:
    return envelope(TRANSFER + "/DeleteResponse", relates_to, "")


def receive_response(
    relates_to: str,
    command_id: str,
    chunks: list[tuple[str, str]],
    done: bool,
    exit_code: int | None,
) -> bytes:
    """`chunks` are (stream name, base64 text). A final response marks both streams ended and carries the exit code."""
    parts = ["<rsp:ReceiveResponse>"]
    parts.extend(
        f'<rsp:Stream Name="{name}" CommandId="{command_id}">{data}</rsp:Stream>' for name, data in chunks if data
    )
    if done:
        parts.append(f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"/>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"/>')
        parts.append(
            f'<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}">'
            f"<rsp:ExitCode>{exit_code if exit_code is not None else 0}</rsp:ExitCode></rsp:CommandState>"
        )
    else:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"/>')
    parts.append("</rsp:ReceiveResponse>")
    return envelope(ACTION_RECEIVE + "Response", relates_to, "".join(parts))
