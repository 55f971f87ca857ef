"""The probe registry: scheme -> probe. Adding a scheme is one module and one line here."""

from __future__ import annotations

from ronda.probes.base import Probe
from ronda.probes.dns import probe_dns
from ronda.probes.file import probe_file
from ronda.probes.http import probe_http
from ronda.probes.icmp import probe_icmp
from ronda.probes.onvif import probe_onvif
from ronda.probes.rtsp import probe_rtsp
from ronda.probes.starttls import probe_service_tls
from ronda.probes.statuspage import probe_statuspage
from ronda.probes.tcp import probe_tcp
from ronda.probes.tls import probe_tls
from ronda.probes.websocket import probe_websocket

PROBES: dict[str, Probe] = {
    "http": probe_http,
    "https": probe_http,
    "tcp": probe_tcp,
    "tls": probe_tls,
    "dns": probe_dns,
    "icmp": probe_icmp,
    "file": probe_file,
    "smtp": probe_service_tls,
    "smtps": probe_service_tls,
    "imap": probe_service_tls,
    "imaps": probe_service_tls,
    "pop3": probe_service_tls,
    "pop3s": probe_service_tls,
    "ldap": probe_service_tls,
    "ldaps": probe_service_tls,
    "postgres": probe_service_tls,
    "statuspage+https": probe_statuspage,  # a vendor's status page, fetched over HTTPS (or HTTP)
    "statuspage+http": probe_statuspage,
    "rtsp": probe_rtsp,
    "rtsps": probe_rtsp,
    "onvif": probe_onvif,
    "onvifs": probe_onvif,
    "ws": probe_websocket,
    "wss": probe_websocket,
}
