"""SOAP 1.2 as ONVIF devices and WS-Discovery speak it: envelopes out, envelopes in, and the
WS-Security UsernameToken that signs a call.

Hand-written rather than a SOAP library (zeep, which onvif-zeep builds on): ronda sends a
handful of fixed calls and reads a few elements of each answer, where zeep would fetch and
compile the ONVIF WSDLs for every device. What comes back is hostile input: it is parsed by
defusedxml with DTDs forbidden, so no entity expansion (billion laughs) and no external
entity is ever resolved. Elements are found by their local names: devices put ONVIF's
elements in the right namespaces under many different prefixes, and some in the wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ronda.verdict import iso

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

# Fault subcodes that mean "who are you?": ONVIF's own, and WS-Security's (RFC-style codes
# some devices send instead).
_NOT_AUTHORIZED = {"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken", "FailedCheck"}


class SoapError(ValueError):
    """Bytes that are not a SOAP 1.2 envelope; the message says what they are instead."""


def envelope(body: str, header: str = "", namespaces: Mapping[str, str] | None = None) -> bytes:
    """A SOAP 1.2 envelope around `body` (XML text), its prefixes declared on the envelope."""
    declared = {"s": SOAP_ENV, **(namespaces or {})}
    attributes = " ".join(f"xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in declared.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {attributes}>'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def text(value: str) -> str:
    """`value` as XML character data."""
    return escape(value)


def local(tag: str) -> str:
    """An element's name without its namespace: `{uri}Name` -> `Name`; `p:Name` -> `Name`."""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def child(element: Element | None, *names: str) -> Element | None:
    """The first descendant along `names` (local names, one level each), or None."""
    for name in names:
        if element is None:
            return None
        element = next((c for c in element if local(c.tag) == name), None)
    return element


def child_text(element: Element | None, *names: str) -> str | None:
    found = child(element, *names)
    return None if found is None else (found.text or "").strip()


@dataclass(frozen=True)
class Message:
    """A parsed envelope: its Header (if any) and Body."""

    header: Element | None
    body: Element

    @property
    def payload(self) -> Element | None:
        """The body's first element: the answer, or the fault."""
        return next(iter(self.body), None)


def parse(data: bytes) -> Message:
    """The envelope in `data`; SoapError when it is not one (not XML, a DTD, another root)."""
    if data.lstrip()[:14].lower() in (b"<!doctype html", b"<html>") or data.lstrip()[:6].lower() == b"<html ":
        raise SoapError("an HTML page, not SOAP")
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise SoapError(f"XML that declares a DTD or entities, refused ({type(exc).__name__})") from None
    except ParseError as exc:
        raise SoapError(f"not XML ({exc})") from None
    except LookupError as exc:  # <?xml encoding="..."?> names an encoding Python does not know
        raise SoapError(f"XML in an unknown encoding ({exc})") from None
    if root.tag == f"{{{SOAP11_ENV}}}Envelope":
        raise SoapError("a SOAP 1.1 envelope, where ONVIF speaks SOAP 1.2")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapError(f"XML, but not a SOAP envelope (its root element is <{local(root.tag)}>)")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise SoapError("a SOAP envelope without a Body")
    return Message(root.find(f"{{{SOAP_ENV}}}Header"), body)


@dataclass(frozen=True)
class Fault:
    """A SOAP 1.2 fault: its code (Sender, Receiver), subcodes (ter:NotAuthorized) and reason."""

    code: str
    subcodes: tuple[str, ...]
    reason: str

    @property
    def not_authorized(self) -> bool:
        return any(local(code) in _NOT_AUTHORIZED for code in (self.code, *self.subcodes))

    def __str__(self) -> str:
        codes = "/".join(local(code) for code in (self.code, *self.subcodes) if code)
        return f"{codes}: {self.reason}" if self.reason else codes


def fault_of(message: Message) -> Fault | None:
    payload = message.payload
    if payload is None or local(payload.tag) != "Fault":
        return None
    code = child(payload, "Code")
    subcodes: list[str] = []
    subcode = child(code, "Subcode")
    while subcode is not None and len(subcodes) < 8:  # nested Subcode elements, each more precise
        subcodes.append(child_text(subcode, "Value") or "")
        subcode = child(subcode, "Subcode")
    return Fault(child_text(code, "Value") or "", tuple(subcodes), child_text(payload, "Reason", "Text") or "")


def fault(code: str, subcode: str, reason: str, namespaces: Mapping[str, str]) -> bytes:
    """A fault envelope (`code` Sender or Receiver; `subcode` a QName whose prefix is declared)."""
    body = (
        f"<s:Fault><s:Code><s:Value>s:{code}</s:Value><s:Subcode><s:Value>{text(subcode)}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en">{text(reason)}</s:Text></s:Reason></s:Fault>'
    )
    return envelope(body, namespaces=namespaces)


# -- WS-Security UsernameToken (the profile ONVIF requires of every device) -----------------


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), as the UsernameToken profile defines it."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def username_token(username: str, password: str, created: datetime, nonce: bytes | None = None) -> str:
    """The Security header for one call. `created` should be the device's time: a device
    refuses a token created too far from its own clock."""
    nonce = os.urandom(16) if nonce is None else nonce
    stamp = iso(created)
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{text(username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">{password_digest(nonce, stamp, password)}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


@dataclass(frozen=True)
class UsernameToken:
    """A token as a device reads it from a call."""

    username: str
    digest: str
    nonce: bytes
    created: str

    def signed_with(self, password: str) -> bool:
        return password_digest(self.nonce, self.created, password) == self.digest


def read_username_token(message: Message) -> UsernameToken | None:
    """The call's UsernameToken, or None when there is none (or it cannot be read)."""
    token = child(message.header, "Security", "UsernameToken")
    if token is None:
        return None
    try:
        nonce = base64.b64decode(child_text(token, "Nonce") or "", validate=True)
    except ValueError:
        return None
    fields = (child_text(token, name) or "" for name in ("Username", "Password", "Created"))
    username, digest, created = fields
    return UsernameToken(username, digest, nonce, created)
