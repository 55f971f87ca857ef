"""The scheme table: every URL scheme ronda checks, one line each. A new scheme is its probe
module (ronda/probes/NAME.py) and one line here.

Low on purpose: it imports nothing of ronda's, so URL parsing (ronda/target.py) can ask which
schemes exist without importing the probes. The probe is named by its module, a string:
ronda/probes/__init__.py imports the modules named here to build the probe registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scheme:
    probe: str  # the module in ronda/probes/ that checks it
    port: int | None = None  # the default port; None: the URL must write one
    credentials: bool = False  # the URL may carry user:pass@ (kept off the shown URL)
    portless: bool = False  # the target is a host, not a port on it (ping): its port is 0


SCHEMES: dict[str, Scheme] = {
    "http": Scheme("http", 80),
    "https": Scheme("http", 443),
    "tcp": Scheme("tcp"),
    "tls": Scheme("tls", 443),
    "dns": Scheme("dns", 53),
    "icmp": Scheme("icmp", portless=True),
    "file": Scheme("file"),  # a path, not a host (ronda/target.py reads it apart)
    "smtp": Scheme("starttls", 25),  # submission (587) speaks STARTTLS too: write the port
    "smtps": Scheme("starttls", 465),
    "imap": Scheme("starttls", 143),
    "imaps": Scheme("starttls", 993),
    "pop3": Scheme("starttls", 110),
    "pop3s": Scheme("starttls", 995),
    "ldap": Scheme("starttls", 389),
    "ldaps": Scheme("starttls", 636),
    "postgres": Scheme("starttls", 5432),
    "statuspage+https": Scheme("vendor_page", 443),  # a vendor's status page, fetched over HTTPS (or HTTP)
    "statuspage+http": Scheme("vendor_page", 80),
    "browser+https": Scheme("browser", 443),  # the page loaded in headless Chromium (the `browser` extra)
    "browser+http": Scheme("browser", 80),
    "rtsp": Scheme("rtsp", 554, credentials=True),
    "rtsps": Scheme("rtsp", 322, credentials=True),  # RTSP over TLS (IANA)
    "onvif": Scheme("onvif", 80, credentials=True),  # an ONVIF device service is HTTP (SOAP)
    "onvifs": Scheme("onvif", 443, credentials=True),  # onvif:// over TLS
    "ws": Scheme("websocket", 80),
    "wss": Scheme("websocket", 443),
    "ssh": Scheme("ssh", 22),
    "grpc": Scheme("grpc"),  # the gRPC health service, over HTTP/2 in clear text; no standard port
    "grpcs": Scheme("grpc", 443),  # grpc:// over TLS (ALPN h2)
}

# Ports that go without saying in a URL (http:// 80, https:// 443, ...).
DEFAULT_PORTS: dict[str, int] = {name: s.port for name, s in SCHEMES.items() if s.port is not None}


def spelled_out() -> str:
    """The schemes as help text lists them, a scheme and its TLS twin together: `smtp(s)://`."""
    names = [name for name in SCHEMES if not (name.endswith("s") and name[:-1] in SCHEMES)]
    return ", ".join(f"{name}(s)://" if f"{name}s" in SCHEMES else f"{name}://" for name in names)
