"""smtp://, imap://, pop3://, ldap://, postgres:// (STARTTLS) and smtps://, imaps://,
pop3s://, ldaps:// (implicit TLS): the certificate a mail, directory or database server
serves, read with the same analysis as tls://.

Each scheme is a dialogue kept as data, like blackbox_exporter's query/response lists: a
list of steps, each something to send and the reply that lets the dialogue go on. STARTTLS
schemes speak their steps in plain text before the handshake (as the `Prelude` of
`secure_connection`); implicit-TLS schemes speak theirs after it, to prove that the service
behind the certificate answers. Every step waits only until the check's shared deadline.

A reply is told apart three ways, because each points a person somewhere else:
- not the protocol at all (an HTTP or SSH server on the port): `protocol_error`, "does not
  speak SMTP", with what it said;
- the protocol, declining ("the server does not offer STARTTLS"): `protocol_error` with
  the server's own words;
- silence or a closed connection: `protocol_error` naming the step that got no answer.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Connection, Failure, Prelude
from ronda.probes.tls import secure_connection
from ronda.target import CheckOptions, Target

MAX_LINES = 100  # a multi-line reply longer than this is not a greeting, it is a flood
QUOTE_CHARS = 120  # how much of a reply a finding quotes
MAX_LDAP_MESSAGE = 1 << 16  # an answer to StartTLS is a few dozen bytes


class NotProtocol(Exception):
    """The bytes read do not have the protocol's shape; the message is what was read."""


Reader = Callable[[asyncio.StreamReader], Awaitable[str]]
"""Reads one reply and returns it as text (lines joined by newlines), or raises NotProtocol."""


@dataclass(frozen=True)
class Step:
    send: bytes  # b"": just read (a greeting)
    read: Reader
    expect: str  # a regex (case-insensitive, multi-line) for the reply that lets the dialogue go on
    noun: str  # the reply in words: "SMTP greeting", "answer to EHLO"
    declined: str  # what a reply of the protocol that does not match `expect` means


@dataclass(frozen=True)
class Dialogue:
    protocol: str  # "SMTP", for "does not speak SMTP"
    before_tls: tuple[Step, ...] = ()  # STARTTLS: spoken in plain text
    after_tls: tuple[Step, ...] = ()  # implicit TLS: spoken over TLS, proving the service answers


# --- replies -----------------------------------------------------------------------------------


def lines(shape: str, more: str | None = None) -> Reader:
    """A line-based reply: every line must match `shape`; a line that matches `more`
    (SMTP's `250-`, IMAP's untagged `* `) says another line follows."""
    shape_re = re.compile(shape, re.IGNORECASE)
    more_re = re.compile(more, re.IGNORECASE) if more else None

    async def read(reader: asyncio.StreamReader) -> str:
        got: list[str] = []
        while len(got) < MAX_LINES:
            got.append(await _line(reader))
            if not shape_re.match(got[-1]):
                raise NotProtocol("\n".join(got))
            if more_re is None or not more_re.match(got[-1]):
                return "\n".join(got)
        raise NotProtocol("\n".join(got[:3]) + f"\n... more than {MAX_LINES} lines")

    return read


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise NotProtocol("(a line of more than 64 KiB)") from None
    return raw.decode("utf-8", "replace").rstrip("\r\n")


# LDAP is BER on the wire. No LDAP library: one fixed request and the first few fields of
# one response need none (and ldap3, the usual one, is synchronous and would block the loop).
LDAP_START_TLS_OID = "1.3.6.1.4.1.1466.20037"  # RFC 4511 section 4.14
LDAP_WHO_AM_I_OID = "1.3.6.1.4.1.4203.1.11.3"  # RFC 4532; a server without it still answers (protocolError)
_LDAP_RESULTS = {0: "success", 1: "operationsError", 2: "protocolError", 52: "unavailable", 53: "unwillingToPerform"}


def _tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 128, "short-form BER lengths only"
    return bytes([tag, len(body)]) + body


def ldap_extended_request(oid: str, message_id: int = 1) -> bytes:
    """LDAPMessage { messageID, ExtendedRequest [APPLICATION 23] { requestName [0] oid } }."""
    return _tlv(0x30, _tlv(0x02, bytes([message_id])) + _tlv(0x77, _tlv(0x80, oid.encode())))


def _ber_fields(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) pairs inside a constructed value (short and long lengths)."""
    fields: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data):
        tag, length, i = data[i], data[i + 1], i + 2
        if length & 0x80:
            size = length & 0x7F
            length, i = int.from_bytes(data[i : i + size], "big"), i + size
        fields.append((tag, data[i : i + length]))
        i += length
    return fields


async def _ber_length(reader: asyncio.StreamReader, first: int) -> int | None:
    if not first & 0x80:
        return first
    size = first & 0x7F
    # Active Directory writes every length in the 4-byte long form (0x84 ...).
    return int.from_bytes(await reader.readexactly(size), "big") if 1 <= size <= 4 else None


async def ldap_message(reader: asyncio.StreamReader) -> str:
    """One LDAPMessage, as text: `extendedResponse id=1 resultCode=0 (success) <message>`."""
    head = await reader.readexactly(2)
    length = await _ber_length(reader, head[1]) if head[0] == 0x30 else None
    if length is None or length > MAX_LDAP_MESSAGE:
        raise NotProtocol(_text(head + await _some(reader)))
    fields = _ber_fields(await reader.readexactly(length))
    if len(fields) < 2 or fields[0][0] != 0x02:
        raise NotProtocol(f"{_text(head)}... (a BER sequence, not an LDAPMessage)")
    message_id, (op, body) = int.from_bytes(fields[0][1], "big"), fields[1]
    if op != 0x78:  # ExtendedResponse [APPLICATION 24]
        return f"LDAP operation 0x{op:02x} id={message_id}"
    result = _ber_fields(body)  # resultCode ENUMERATED, matchedDN, diagnosticMessage, ...
    code = int.from_bytes(result[0][1], "big") if result and result[0][0] == 0x0A else -1
    message = result[2][1].decode("utf-8", "replace") if len(result) > 2 else ""
    return f"extendedResponse id={message_id} resultCode={code} ({_LDAP_RESULTS.get(code, 'error')}) {message}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


async def _some(reader: asyncio.StreamReader) -> bytes:
    """Whatever else has arrived, to quote a reply that is not the protocol."""
    try:
        async with asyncio.timeout(0.05):
            return await reader.read(80)
    except TimeoutError:
        return b""


POSTGRES_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
_POSTGRES_ANSWERS = {b"S": "S (go ahead with TLS)", b"N": "N (no TLS here)", b"E": "E (an error message)"}


async def postgres_byte(reader: asyncio.StreamReader) -> str:
    """The one-byte answer to SSLRequest: S, N, or E from a server too old to know it."""
    answer = await reader.readexactly(1)
    if answer not in _POSTGRES_ANSWERS:
        raise NotProtocol(_text(answer + await _some(reader)))
    return _POSTGRES_ANSWERS[answer]


# --- the dialogues -----------------------------------------------------------------------------

_SMTP = lines(r"\d{3}(?:[ -]|$)", more=r"\d{3}-")
_IMAP_TAGGED = lines(r"(?:\*|a1) ", more=r"\* ")  # untagged lines, then the answer tagged a1
_POP3 = lines(r"(?:\+OK|-ERR)\b")
_TURNED_AWAY = "the server turned the connection away"
_NO_STARTTLS = "the server does not offer STARTTLS"

# fmt: off
SMTP_GREETING = Step(b"", _SMTP, r"\A220\b", "SMTP greeting", _TURNED_AWAY)
SMTP_EHLO = Step(b"EHLO ronda.invalid\r\n", _SMTP, r"^250[ -]STARTTLS\s*$", "answer to EHLO", _NO_STARTTLS)
SMTP_STARTTLS = Step(b"STARTTLS\r\n", _SMTP, r"\A220\b", "answer to STARTTLS", "the server refused STARTTLS")
IMAP_GREETING = Step(b"", lines(r"\* (?:OK|PREAUTH|BYE)\b"), r"\A\* OK\b", "IMAP greeting", _TURNED_AWAY)
IMAP_STARTTLS = Step(b"a1 STARTTLS\r\n", _IMAP_TAGGED, r"^a1 OK\b", "answer to a1 STARTTLS", _NO_STARTTLS)
POP3_GREETING = Step(b"", _POP3, r"\A\+OK\b", "POP3 greeting", _TURNED_AWAY)
POP3_STLS = Step(b"STLS\r\n", _POP3, r"\A\+OK\b", "answer to STLS", _NO_STARTTLS + " (STLS)")
LDAP_STARTTLS = Step(
    ldap_extended_request(LDAP_START_TLS_OID), ldap_message, r"\AextendedResponse id=1 resultCode=0\b",
    "answer to the LDAP StartTLS request", "the server does not offer StartTLS",
)
LDAP_WHO_AM_I = Step(  # any result code will do: an LDAP answer is the proof
    ldap_extended_request(LDAP_WHO_AM_I_OID), ldap_message, r"\AextendedResponse id=1 ",
    "answer to the LDAP Who am I? request", "the server did not answer as an LDAP server",
)
POSTGRES_SSL = Step(
    POSTGRES_SSL_REQUEST, postgres_byte, r"\AS\b", "answer to SSLRequest", "the server does not accept TLS"
)
# fmt: on

DIALOGUES: dict[str, Dialogue] = {
    "smtp": Dialogue("SMTP", before_tls=(SMTP_GREETING, SMTP_EHLO, SMTP_STARTTLS)),
    "smtps": Dialogue("SMTP", after_tls=(SMTP_GREETING,)),
    "imap": Dialogue("IMAP", before_tls=(IMAP_GREETING, IMAP_STARTTLS)),
    "imaps": Dialogue("IMAP", after_tls=(IMAP_GREETING,)),
    "pop3": Dialogue("POP3", before_tls=(POP3_GREETING, POP3_STLS)),
    "pop3s": Dialogue("POP3", after_tls=(POP3_GREETING,)),
    "ldap": Dialogue("LDAP", before_tls=(LDAP_STARTTLS,)),
    "ldaps": Dialogue("LDAP", after_tls=(LDAP_WHO_AM_I,)),
    "postgres": Dialogue("PostgreSQL", before_tls=(POSTGRES_SSL,)),
}


# --- speaking them -----------------------------------------------------------------------------


def _quote(text: str) -> str:
    text = " | ".join(line for line in text.splitlines() if line)
    return repr(text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "...")


async def converse(conn: Connection, protocol: str, steps: Sequence[Step], deadline: float) -> Failure | None:
    """Speak `steps` over `conn`; a Failure names the first step that did not go as expected."""
    for step in steps:
        problem = await _take(conn, protocol, step, deadline)
        if problem is not None:
            return Failure("protocol_error", problem)
    return None


async def _take(conn: Connection, protocol: str, step: Step, deadline: float) -> str | None:
    """One step: what went wrong, in words, or None."""
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            if step.send:
                conn.writer.write(step.send)
                await conn.writer.drain()
            reply = await step.read(conn.reader)
    except TimeoutError:
        return f"the server sent no {step.noun} in time"
    except asyncio.IncompleteReadError as exc:
        after = f" (after {_quote(exc.partial.decode('utf-8', 'replace'))})" if exc.partial else ""
        return f"the server closed the connection before its {step.noun}{after}"
    except NotProtocol as exc:
        return f"the server does not speak {protocol}: its {step.noun} was {_quote(str(exc))}"
    except OSError as exc:
        return f"the connection broke before the server's {step.noun} ({exc.strerror or exc})"
    if not re.search(step.expect, reply, re.IGNORECASE | re.MULTILINE):
        return f"{step.declined}: its {step.noun} was {_quote(reply)}"
    return None


def _prelude(dialogue: Dialogue, where: str) -> Prelude | None:
    if not dialogue.before_tls:
        return None

    async def prelude(conn: Connection, deadline: float) -> Failure | None:
        failure = await converse(conn, dialogue.protocol, dialogue.before_tls, deadline)
        return Failure(failure.code, f"{where}: {failure.detail}") if failure else None

    return prelude


async def probe_service_tls(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    """The scheme's dialogue around a TLS handshake, at every address behind the name."""
    dialogue = DIALOGUES[target.scheme]

    async def check(address: str) -> None:
        where = f"{target.host} at {address}"
        prelude = _prelude(dialogue, where)
        conn = await secure_connection(obs, ctx, options, target.host, address, target.port, deadline, prelude)
        if conn is None:
            return
        try:
            failure = await converse(conn, dialogue.protocol, dialogue.after_tls, deadline)
        finally:
            conn.close()
        if failure is not None:
            obs.problem(failure.code, f"{where}: {failure.detail}", address=address)

    await each_address(obs, options, deadline, check, ctx.dns)


SCHEME = ProbeScheme(probe_service_tls)
