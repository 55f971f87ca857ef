"""The contract's cause codes (CONTRACT.md section 2): their severity, precedence and words.

Codes are stable: add new ones freely, never rename one. `CAUSES` is ordered by
precedence: when a check finds several problems, the first one listed here is the
verdict's `cause`, because it explains the others (a name that does not resolve
explains why nothing connects; an expired certificate explains a failed handshake).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ronda.verdict import Finding


class Severity(StrEnum):
    """What a finding does to a target's status, and how urgent a notice about it is: the
    one severity scale of ronda, least to most urgent (a channel's `min_severity` reads it)."""

    INFO = "info"  # nothing to act on (a notice that something is fine again, say)
    WARNING = "warning"  # it works; someone must act before it stops working
    DEGRADED = "degraded"  # it works, but not as expected (too slow, say)
    DOWN = "down"  # the target does not work at this address

    def at_least(self, other: Severity) -> bool:
        """As urgent as `other`, or more."""
        order = list(Severity)
        return order.index(self) >= order.index(other)


@dataclass(frozen=True)
class Cause:
    code: str
    severity: Severity
    words: str  # plain words for a person, used when a finding has no detail


_CAUSE_LIST: tuple[Cause, ...] = (
    # A vendor's own words about its service (statuspage+https://) come first: when they are
    # there the page was read, so whatever else went wrong concerns the page's delivery (one
    # of its addresses, say), not the vendor's service that the monitor stands for. Degraded
    # or down as the vendor says: each finding carries its severity (docs/vendor-status-pages.md).
    Cause("vendor_reported", Severity.DEGRADED, "the vendor's status page reports a problem"),
    # Users' reports: never a probe's finding, the cause of an incident a surge of reports opened.
    Cause("user_reported", Severity.DEGRADED, "users report problems that ronda's own checks do not see"),
    # Nothing was checked: the target (after resolution) is an address or a file this
    # monitor may not reach (server.allow_private_targets, server.file_roots).
    Cause("target_not_allowed", Severity.DOWN, "ronda may not check this target: its address or file is off limits"),
    # DNS: nothing else can happen when the name does not resolve.
    Cause("dns_nxdomain", Severity.DOWN, "the name does not exist in DNS"),
    Cause("dns_servfail", Severity.DOWN, "the DNS server failed to answer for the name"),
    Cause("dns_timeout", Severity.DOWN, "the DNS server did not answer in time"),
    Cause("dns_no_answer", Severity.DOWN, "the name exists but has no address records"),
    # TCP
    Cause("tcp_refused", Severity.DOWN, "the connection was refused: nothing listens there"),
    Cause("tcp_unreachable", Severity.DOWN, "the address cannot be reached"),
    Cause("tcp_timeout", Severity.DOWN, "the connection was not accepted in time"),
    # An SSH server that shows another host key than the expected one may be someone in the
    # middle: that comes before whatever else its answer or another address went through.
    Cause("ssh_host_key_changed", Severity.DOWN, "the SSH server shows another host key than expected"),
    # Certificates at rest (file://): nothing to analyse when the file cannot be read.
    Cause("file_unreadable", Severity.DOWN, "the certificate file cannot be read"),
    Cause("no_certificate", Severity.DOWN, "the file holds no certificate"),
    # Certificates explain handshake failures, so they come before them.
    Cause("cert_expired", Severity.DOWN, "the TLS certificate has expired"),
    Cause("cert_not_yet_valid", Severity.DOWN, "the TLS certificate is not valid yet"),
    Cause("cert_revoked", Severity.DOWN, "the TLS certificate has been revoked"),
    Cause("cert_hostname_mismatch", Severity.DOWN, "the TLS certificate is for another name"),
    Cause("cert_chain_incomplete", Severity.DOWN, "the server does not send its intermediate certificate"),
    Cause("cert_intermediate_expired", Severity.DOWN, "an intermediate certificate has expired"),
    Cause("cert_untrusted", Severity.DOWN, "the TLS certificate is not trusted"),
    Cause("cert_weak_key", Severity.DOWN, "the TLS certificate's key is too weak"),
    Cause("cert_weak_signature", Severity.DOWN, "the TLS certificate is signed with a broken hash"),
    Cause("cert_not_deployed", Severity.DEGRADED, "a renewed certificate exists but is not served"),
    Cause("tls_protocol_too_old", Severity.DOWN, "the server only speaks an obsolete TLS version"),
    Cause("tls_handshake_failed", Severity.DOWN, "the TLS handshake failed"),
    # HTTP and content
    # browser+https://: the page's renderer died (its scripts past their heap, say); explains
    # the requests it left unfinished and a load event that never came.
    Cause("page_crashed", Severity.DOWN, "the page crashed the browser while it loaded"),
    Cause("http_timeout", Severity.DOWN, "the server did not answer the request in time"),
    Cause("http_redirect_loop", Severity.DOWN, "the page redirects in a loop"),
    Cause("http_server_error", Severity.DOWN, "the server answered with an error (5xx)"),
    Cause("http_client_error", Severity.DOWN, "the server refused the request (4xx)"),
    Cause("content_mismatch", Severity.DOWN, "the answer is not what was expected"),
    Cause("subresource_failed", Severity.DEGRADED, "the page loads but assets on other hosts fail"),
    # Other protocols
    Cause("auth_failed", Severity.DOWN, "the credentials were refused"),
    Cause("protocol_error", Severity.DOWN, "the server does not speak the expected protocol"),
    Cause("stream_missing", Severity.DOWN, "the expected media stream is gone"),
    # browser+https://: no browser to load the page in (Playwright or Chromium missing, crashed).
    Cause("browser_unavailable", Severity.DOWN, "no browser could load the page: ronda could not look"),
    # The service's own health check says it does not serve (grpc(s)://): it answers, and says no.
    Cause("not_serving", Severity.DOWN, "the service's health check says it is not serving"),
    Cause("icmp_no_reply", Severity.DOWN, "the host does not answer ping"),
    # Replies still come: the host is there, the way to it (or the host) is losing packets.
    Cause("icmp_packet_loss", Severity.DEGRADED, "some pings to the host were lost"),
    Cause("heartbeat_missed", Severity.DOWN, "the expected heartbeat did not arrive"),
    Cause("job_failed", Severity.DOWN, "the job reported that it failed"),  # a push monitor's /fail
    Cause("slow_response", Severity.DEGRADED, "the answer was slower than allowed"),
)

_WARNING_LIST: tuple[Cause, ...] = (
    Cause("cert_expiring", Severity.WARNING, "the TLS certificate expires soon"),
    Cause("cert_renewal_overdue", Severity.WARNING, "the TLS certificate should have been renewed by now"),
    Cause("cert_intermediate_expiring", Severity.WARNING, "an intermediate certificate expires soon"),
    # What the server sends besides the path clients build (an expired cross-sign, a stale
    # certificate): clients ignore it, so it never makes the target down.
    Cause("cert_chain_extra", Severity.WARNING, "the server sends a certificate no client's path uses"),
    Cause("cert_lifetime_over_policy", Severity.WARNING, "the certificate's lifetime exceeds policy"),
    Cause("cert_revocation_unknown", Severity.WARNING, "the certificate's revocation status could not be established"),
    Cause("clock_skew", Severity.WARNING, "the device's clock is off"),
    Cause("subresource_hosts_skipped", Severity.WARNING, "some of the page's asset hosts were not checked"),
    Cause("console_error", Severity.WARNING, "the page's JavaScript reported an error"),
    Cause("file_limit_reached", Severity.WARNING, "the folder holds more files than one check reads"),
    Cause("addresses_skipped", Severity.WARNING, "the name has more addresses than one check connects to"),
)

CAUSES: dict[str, Cause] = {c.code: c for c in _CAUSE_LIST}
WARNINGS: dict[str, Cause] = {c.code: c for c in _WARNING_LIST}
_PRECEDENCE: dict[str, int] = {c.code: i for i, c in enumerate(_CAUSE_LIST)}


def severity(code: str) -> Severity:
    """How a problem code affects status; unknown codes count as down (fail safe)."""
    known = CAUSES.get(code) or WARNINGS.get(code)
    return known.severity if known else Severity.DOWN


def severity_of(finding: Finding) -> Severity:
    """A finding's effect on status: the one it states, else its code's."""
    return Severity(finding.severity) if finding.severity else severity(finding.code)


def precedence(code: str) -> int:
    """Lower is more important; unknown codes sort last."""
    return _PRECEDENCE.get(code, len(_PRECEDENCE))


def words(code: str) -> str:
    known = CAUSES.get(code) or WARNINGS.get(code)
    return known.words if known else code.replace("_", " ")
