"""The probe registry: every scheme of the scheme table (ronda/schemes.py) -> the ProbeScheme
its probe module declares as `SCHEME`. A new scheme is its module and one line in that table;
nothing here names a protocol."""

from __future__ import annotations

import importlib

from ronda.probes.base import Facts, ProbeScheme
from ronda.schemes import SCHEMES
from ronda.target import CheckOptions


def _declared(module: str) -> ProbeScheme:
    record = importlib.import_module(f"{__name__}.{module}").SCHEME
    if not isinstance(record, ProbeScheme):
        raise TypeError(f"ronda.probes.{module}.SCHEME is not a ProbeScheme")
    return record


PROBES: dict[str, ProbeScheme] = {name: _declared(scheme.probe) for name, scheme in SCHEMES.items()}
# The probe that speaks for each key of a verdict's facts, in the table's order: the order a
# verdict's facts are summed up, printed and written in.
FACTS: dict[str, ProbeScheme] = {}
for record in PROBES.values():
    if record.facts is not None:
        FACTS.setdefault(record.facts, record)  # a status page's module does not speak for "http"
del record
_RANK = {key: i for i, key in enumerate(FACTS)}  # built once: in_order runs twice a check


def in_order(facts: dict[str, Facts]) -> dict[str, Facts]:
    """A check's facts in the registry's order (a key no probe declares goes last)."""
    if len(facts) < 2:
        return dict(facts)
    return dict(sorted(facts.items(), key=lambda item: _RANK.get(item[0], len(_RANK))))


def schemes_of(record: ProbeScheme) -> str:
    """The schemes a probe checks, as words: `ws:// or wss://`."""
    return " or ".join(f"{name}://" for name, other in PROBES.items() if other is record)


def misplaced_options(scheme: str, options: CheckOptions) -> str | None:
    """Words for a probe's own options given for a target of another scheme, or None."""
    for record in {id(r): r for r in PROBES.values()}.values():
        if record is PROBES[scheme] or all(getattr(options, name) is None for name in record.options):
            continue
        given = " and ".join(f"--{name.replace('_', '-')}" for name in record.options)
        return f"{given} go with a {schemes_of(record)} target, not {scheme}://"
    return None


def option_schemes(option: str) -> str:
    """The schemes whose probe takes this CheckOptions field, as words (`ws:// or wss://`)."""
    return " or ".join(f"{name}://" for name, record in PROBES.items() if option in record.options)
