"""The verdict's JSON Schema (docs/verdict.schema.json), made from the code that writes the
verdict: the records of ronda/verdict.py give the keys and their types, what their `to_json`
always writes gives `required`, and the probe registry gives the protocols' keys. So the
schema changes when the code does; tests/test_verdict_schema.py fails while the committed
file differs from what this makes.

    python -m ronda.verdict_schema docs/verdict.schema.json     (no path: to stdout)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ronda.probes import FACTS, schemes_of
from ronda.verdict import CertificateInfo, ChainEntry, Finding, Verdict

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Times as `iso` writes them: UTC, to the second, with Z.
UTC_SECOND = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
# Verdict fields that are no key of the JSON: `facts` and `extra` are spread into it, one key
# each; `kept` is the monitor's memory for its next check.
SPREAD = ("facts", "extra", "kept")

# What a key means, by record, where its name does not say it all. A key renamed in the code
# and not here fails the generation (KeyError), so no description outlives its key.
WORDS: dict[str, dict[str, str]] = {}
WORDS["Verdict"] = {
    "target": "The URL checked, a password in it shown as ***.",
    "status": "up; degraded (it works in part, too slowly, or a warning someone must act on); down.",
    "cause": "The code of the most important finding (docs/causes.md); null when nothing failed.",
    "summary": "One line in plain words.",
    "checked_at": "When the check was made: UTC, to the second, with Z.",
    "latency_ms": "How long the target took to answer, in milliseconds; null when it never answered.",
    "addresses": "Every address behind the name that was checked.",
    "vantage": "Where the check was made from: local (ronda itself) or a probe agent's region.",
    "findings": "Every problem, most important first, with the host, address and port it was seen at.",
    "warnings": "What needs acting on while the target still works (a certificate expiring soon).",
    "certificates": "Every certificate served, read whether or not it verified.",
}
WORDS["Finding"] = {
    "code": "A cause or warning code (docs/causes.md).",
    "detail": "What was seen, in plain words.",
    "severity": "Where a code spans degraded and down (vendor_reported), which of the two; else the code's own.",
}
WORDS["CertificateInfo"] = {
    "host": "The name the certificate was asked for.",
    "address": "The address that served it.",
    "days_left": "Days until it expires, fractional; negative once expired.",
    "chain": "The other certificates the server sent, in its order, then any fetched from the leaf's AIA address.",
    "problems": "The codes of what is wrong with this certificate.",
}
WORDS["ChainEntry"] = {"fetched": "true: not sent by the server, fetched from the leaf's AIA address."}
OTHER_KEYS = (
    "Each protocol adds what it said under a key of its own; keys are added over time, never renamed. "
    "A stored verdict cut to size (the API's) has `omitted`: how many items were left out under each key."
)


def verdict_schema() -> dict[str, Any]:
    """The JSON Schema of `Verdict.to_json()`."""
    made = TypeAdapter(Verdict).json_schema(mode="serialization")
    definitions = {name: _record(name, body) for name, body in made.pop("$defs").items()}
    top = _record("Verdict", made)
    for name in SPREAD:
        del top["properties"][name]
    for key, record in FACTS.items():
        facts: dict[str, Any] = {"type": "object", "description": f"What the {schemes_of(record)} check said."}
        if record.facts_schema:
            facts["properties"] = dict(record.facts_schema)
        top["properties"][key] = facts
    top["additionalProperties"] = {"type": "object", "description": OTHER_KEYS}
    return {
        "$schema": DRAFT,
        "title": "ronda verdict",
        "description": "What one check found, as `ronda check --json` prints it and the API returns it.",
        **top,
        "$defs": definitions,
    }


def _written_keys(record: str) -> set[str]:
    """The keys `to_json` writes for the least record of its kind: those it always writes."""
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    least: dict[str, Any] = {
        "Verdict": Verdict("tcp://x:1", "up", None, "", moment, None),
        "Finding": Finding("code", "detail"),
        "ChainEntry": ChainEntry("CN=x", "CN=y", moment, moment),
        "CertificateInfo": CertificateInfo("x", "192.0.2.1", 1, "CN=x", "CN=y", "01", (), moment, moment, 0.0, "ab"),
    }
    return set(least[record].to_json())


def _record(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """One record's schema as its JSON is: no key beside those known, `required` what is
    always written; a key left out when unset is never null."""
    written = _written_keys(name)
    properties = {}
    for key, value in body["properties"].items():
        value = {name: part for name, part in value.items() if name != "title"}
        if key in written:
            value.pop("default", None)  # always written: a default never applies
        else:
            value = _never_null(value)
        properties[key] = _times(value)
    out: dict[str, Any] = {"type": "object"}
    if "description" in body:
        out["description"] = body["description"]
    for key, words in WORDS.get(name, {}).items():
        properties[key]["description"] = words
    out["properties"] = properties
    out["required"] = [key for key in properties if key in written]
    out["additionalProperties"] = False
    return out


def _never_null(value: dict[str, Any]) -> dict[str, Any]:
    """`str | None` as JSON has it when None is left out: the one type that is not null."""
    kinds = [kind for kind in value.get("anyOf", []) if kind != {"type": "null"}]
    if len(kinds) != 1:
        return value
    rest = {name: part for name, part in value.items() if name not in ("anyOf", "default")}
    return {**kinds[0], **rest}


def _times(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("format") == "date-time":
        return {**value, "pattern": UTC_SECOND}
    return value


def schema_text() -> str:
    """The schema as docs/verdict.schema.json holds it."""
    return json.dumps(verdict_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv:
        Path(argv[0]).write_text(schema_text(), encoding="utf-8")
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
