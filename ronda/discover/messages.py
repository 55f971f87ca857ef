"""WS-Discovery's messages as ONVIF devices use them (the 2005/04 draft, WS-Addressing
2004/08, SOAP 1.2 over UDP): a Probe for types, the ProbeMatches that answer it, and the
scopes a device describes itself with (onvif://www.onvif.org/name/..., hardware/...,
location/...). Built and read with ronda.soap, so what comes off the network is parsed as
hostile input there.

Types are QNames such as dn:NetworkVideoTransmitter; they are matched by their local names,
since devices declare the same namespaces under any prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ronda import soap
from ronda.probes.onvif import TDS

WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN = "http://www.onvif.org/ver10/network/wsdl"
NAMESPACES = {"a": WSA, "d": WSD, "dn": DN, "tds": TDS}
PROBE = f"{WSD}/Probe"
PROBE_MATCHES = f"{WSD}/ProbeMatches"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = f"{WSA}/role/anonymous"
# What ONVIF devices announce themselves as: a camera or encoder, and any ONVIF device.
ONVIF_TYPES = ("dn:NetworkVideoTransmitter", "tds:Device")
SCOPE_PREFIX = "onvif://www.onvif.org/"
MAX_MATCHES = 64  # ProbeMatch entries read from one answer (a device sends one)
MAX_LIST = 64  # types, scopes or addresses read from one entry


def message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _header(action: str, message: str, extra: str) -> str:
    return f'<a:Action s:mustUnderstand="1">{action}</a:Action><a:MessageID>{message}</a:MessageID>{extra}'


def probe(message: str, types: Sequence[str]) -> bytes:
    """A Probe for devices of every type in `types` (prefixes among NAMESPACES)."""
    header = _header(
        PROBE,
        message,
        f'<a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">{DISCOVERY_TO}</a:To>',
    )
    body = f"<d:Probe><d:Types>{soap.text(' '.join(types))}</d:Types></d:Probe>"
    return soap.envelope(body, header, NAMESPACES)


@dataclass(frozen=True)
class Probe:
    message: str
    types: tuple[str, ...]

    def wants(self, offered: Sequence[str]) -> bool:
        """A device matches when it offers every type asked for (none asked: every device)."""
        names = {soap.local(kind) for kind in offered}
        return all(soap.local(kind) in names for kind in self.types)


def read_probe(data: bytes) -> Probe | None:
    """The Probe in `data`, or None when it is something else (or not SOAP at all)."""
    try:
        message = soap.parse(data)
    except soap.SoapError:
        return None
    payload = message.payload
    if payload is None or soap.local(payload.tag) != "Probe":
        return None
    types = (soap.child_text(payload, "Types") or "").split()[:MAX_LIST]
    return Probe(soap.child_text(message.header, "MessageID") or "", tuple(types))


@dataclass(frozen=True)
class Match:
    """One device, as its ProbeMatch describes it."""

    endpoint: str  # its endpoint reference: a stable identity, usually urn:uuid:...
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]  # where its device service answers
    metadata_version: str = "1"


def probe_matches(relates_to: str, matches: Sequence[Match]) -> bytes:
    header = _header(
        PROBE_MATCHES,
        message_id(),
        f"<a:RelatesTo>{soap.text(relates_to)}</a:RelatesTo><a:To>{ANONYMOUS}</a:To>",
    )
    entries = "".join(
        f"<d:ProbeMatch><a:EndpointReference><a:Address>{soap.text(m.endpoint)}</a:Address></a:EndpointReference>"
        f"<d:Types>{soap.text(' '.join(m.types))}</d:Types><d:Scopes>{soap.text(' '.join(m.scopes))}</d:Scopes>"
        f"<d:XAddrs>{soap.text(' '.join(m.xaddrs))}</d:XAddrs>"
        f"<d:MetadataVersion>{soap.text(m.metadata_version)}</d:MetadataVersion></d:ProbeMatch>"
        for m in matches
    )
    return soap.envelope(f"<d:ProbeMatches>{entries}</d:ProbeMatches>", header, NAMESPACES)


def read_probe_matches(data: bytes) -> tuple[str, list[Match]]:
    """(the MessageID it answers, its matches); SoapError when `data` is not ProbeMatches."""
    message = soap.parse(data)
    payload = message.payload
    if payload is None or soap.local(payload.tag) != "ProbeMatches":
        raise soap.SoapError("a SOAP message, but not ProbeMatches")
    matches = []
    for entry in [e for e in payload if soap.local(e.tag) == "ProbeMatch"][:MAX_MATCHES]:
        endpoint = soap.child_text(entry, "EndpointReference", "Address")
        if not endpoint:
            continue  # a match that does not say who it is cannot be told apart from others
        matches.append(
            Match(
                endpoint,
                _words(soap.child_text(entry, "Types")),
                _words(soap.child_text(entry, "Scopes")),
                _words(soap.child_text(entry, "XAddrs")),
                soap.child_text(entry, "MetadataVersion") or "",
            )
        )
    return soap.child_text(message.header, "RelatesTo") or "", matches


def _words(value: str | None) -> tuple[str, ...]:
    return tuple((value or "").split()[:MAX_LIST])


def onvif_scopes(name: str, hardware: str, location: str) -> tuple[str, ...]:
    """The scopes a camera announces (values percent-encoded, as ONVIF writes them)."""
    return (
        f"{SCOPE_PREFIX}type/video_encoder",
        f"{SCOPE_PREFIX}Profile/Streaming",
        f"{SCOPE_PREFIX}name/{quote(name, safe='')}",
        f"{SCOPE_PREFIX}hardware/{quote(hardware, safe='')}",
        f"{SCOPE_PREFIX}location/{quote(location, safe='')}",
    )


def scope_values(scopes: Sequence[str], kind: str) -> list[str]:
    """The decoded values of the ONVIF scopes of one kind (name, hardware, location, ...)."""
    prefix = f"{SCOPE_PREFIX}{kind}/".lower()
    return [unquote(scope[len(prefix) :]) for scope in scopes if scope.lower().startswith(prefix)]
