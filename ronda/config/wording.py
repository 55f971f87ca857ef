"""A monitor's mistakes in ronda's words, wherever they are made: the config file's errors
(load.py) and the dashboard's monitor form say each rule the same way, from here.

ronda's own checks raise ValueErrors whose text is already for people; pydantic wraps
them as "Value error, ...". Its own checks (a missing key, an unknown one) get ronda's
words here too."""

from __future__ import annotations

from pydantic_core import ErrorDetails

# pydantic's error types whose message ronda writes (its validators' ValueErrors and the
# custom errors of schema.py), or rewrites here.
RONDA_WORDED = frozenset({"value_error", "missing", "extra_forbidden"})


def plain_message(error: ErrorDetails) -> str:
    """What is wrong with the value at `error["loc"]`, without pydantic's framing."""
    if error["type"] == "extra_forbidden":
        return "unknown key (check its spelling)"
    if error["type"] == "missing":
        return "required but missing"
    return str(error["msg"]).removeprefix("Value error, ")


def name_in_use(name: str) -> str:
    """Two monitors cannot share a name: said of the second one."""
    return f"{name!r} is used by another monitor"
