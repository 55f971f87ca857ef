"""statuspage+https:// (and `kind: statuspage` in a config): a vendor's own status page, so
"our CDN says it is degraded" stands beside ronda's own signals, and can be the parent
(`depends_on`) of the monitors that depend on the vendor.

The document is fetched as http:// and https:// targets are, at every address, redirects
followed, so a status page that does not resolve, refuses, or serves a bad certificate is
named in those words, and the certificate is analysed like any other. Then it is read:

- a URL ending in `/` is the page's base: Statuspage's `api/v2/summary.json` under it is
  fetched;
- any other URL is fetched as written: a Statuspage JSON document (summary.json,
  incidents.json, ...), or an RSS 2.0 or Atom 1.0 incident feed, told apart by what the
  bytes are, whatever the content type claims.

`?component=NAME` (repeatable; `components:` in the config) watches only those components of
the vendor's; `?window=6h` is how far back a feed's entries count (default 24h). ronda's own
parameters are not sent to the vendor. What the vendor says becomes one `vendor_reported`
finding, degraded or down (ronda/probes/vendor.py has the rules), and the verdict's
`statuspage` object; anything that is not a status document is `protocol_error`, naming what
was expected.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ronda.durations import parse_duration
from ronda.errors import UsageError
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.exchange import Answer
from ronda.probes.http import fetch_at_each_address, first_answer, http_facts, judge
from ronda.probes.vendor import NotAStatusPage, VendorReport, calm_words
from ronda.probes.vendor_feed import WINDOW, read_feed
from ronda.probes.vendor_json import read_statuspage
from ronda.target import STATUSPAGE, CheckOptions, Target
from ronda.verdict import Finding

SUMMARY = "api/v2/summary.json"  # under a page's base URL (Atlassian Statuspage and its many look-alikes)
MAX_DOCUMENT = 2 << 20  # bytes: a large vendor's summary.json is a few hundred KiB
OWN_PARAMETERS = ("component", "window")  # ronda's, not the vendor's


async def probe_statuspage(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    watched, window = check_parameters(target)
    url = document_url(target)
    answers = await fetch_at_each_address(obs, ctx, options, url, deadline, MAX_DOCUMENT)
    obs.latency_ms = obs.elapsed_ms()
    for address, each in answers.items():
        judge(obs, options, address, each, url)
    answer = first_answer(obs, answers)
    if answer is None:
        return
    obs.facts["http"] = http_facts(answer)  # the page's fetch: its facts are http's
    if answer.status >= 400:
        return  # judged: the page answered with an error
    try:
        report = read_document(answer, watched, window, ctx)
    except NotAStatusPage as exc:
        obs.problem("protocol_error", f"{answer.url or url}: {exc}")
        return
    record(obs, report)


def document_url(target: Target) -> str:
    """The vendor's URL to fetch: the target's without `statuspage+` and ronda's own
    parameters; a base URL (ending in /) gets Statuspage's summary.json."""
    parts = urlsplit(target.url[len(STATUSPAGE) :])
    path = parts.path or "/"
    if path.endswith("/"):
        path += SUMMARY
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in OWN_PARAMETERS])
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, query, ""))


def check_parameters(target: Target, shown: str | None = None) -> tuple[list[str], float]:
    """ronda's own parameters of a statuspage+ URL: the components watched and a feed's
    window. Wrong ones are UsageErrors naming the URL (`shown`: as the user wrote it); the
    config checks them when it is loaded."""
    where = repr(shown or target.url)
    names = [value.strip() for key, value in parse_qsl(urlsplit(target.url).query, True) if key == "component"]
    if any(not name for name in names):
        raise UsageError(f"{where}: component= needs a component's name, as on the vendor's page")
    text = target.params.get("window")
    try:
        return names, WINDOW if text is None else parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{where}: window={text!r}: {exc}") from None


def read_document(answer: Answer, watched: list[str], window: float, ctx: ProbeContext) -> VendorReport:
    """The answer's body as a status document, told by its bytes: JSON is Statuspage's
    shape, XML a feed; an HTML page (the status page for people, say) is named as one."""
    url = answer.url
    if answer.truncated:
        raise NotAStatusPage(f"the document is larger than {MAX_DOCUMENT >> 20} MiB; ronda reads no more of it")
    head = answer.body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"{", b"[")):
        return read_statuspage(answer.body, url, watched)
    if head.startswith((b"<!doctype html", b"<html")):
        raise NotAStatusPage(
            "expected a status document, got an HTML page: give the page's base URL ending in / "
            f"(ronda reads its {SUMMARY}), its summary.json, or its RSS or Atom feed"
        )
    if head.startswith(b"<"):
        return read_feed(answer.body, url, watched, ctx.clock(), window)
    kind = answer.headers.get("content-type", "no content type")
    raise NotAStatusPage(
        f"expected a status document (Statuspage JSON, or an RSS or Atom feed), got {len(answer.body)} bytes "
        f"of neither ({kind})"
    )


def record(obs: Observation, report: VendorReport) -> None:
    """The vendor's words on the observation: the `statuspage` object, one `vendor_reported`
    finding unless all is well, and a `content_mismatch` for each component watched that the
    page does not have (a renamed component must not leave a watch that sees nothing)."""
    obs.facts["statuspage"] = report.to_json()
    status = report.status
    if status != "up":
        obs.findings.append(Finding("vendor_reported", report.words(), obs.target.host, None, None, status))
    for words in report.missing:
        obs.problem("content_mismatch", f"{report.url}: {words}")


def _detail(page: dict[str, Any]) -> list[str]:
    said = " - ".join(str(w) for w in (page["indicator"], page["description"]) if w) or "no overall state"
    watching = f"; watching {', '.join(page['watched'])}" if page["watched"] else ""
    where = f"{page['format']}, {page['url']}"
    lines = [f"vendor: {page['page'] or 'unnamed'} ({where}): {said}{watching}"]
    for component in page["components"]:
        lines.append(f"  - component {component['name']}: {component['status'].replace('_', ' ')}")
    for kind, items in (("incident", page["incidents"]), ("maintenance", page["maintenances"])):
        for item in items:
            facts = [item["status"].replace("_", " ")]
            facts += [f"impact {item['impact']}"] if item.get("impact") else []
            facts += [f"updated {item['updated_at']}"] if item["updated_at"] else []
            facts += [item["link"]] if item["link"] else []
            lines.append(f"  - {kind} {item['name']!r}: {', '.join(facts)}")
    if page.get("truncated"):
        lines.append("  (more than the vendor's first 25 of each are not listed)")
    return lines


SCHEME = ProbeScheme(
    probe_statuspage, timeout="http_timeout", facts="statuspage", words=calm_words, detail=_detail, http_answer=True
)
