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


# pydantic's bounds on numbers, as a person says them, and the key of the bound in its ctx.
BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}
# pydantic's "Input should be a valid integer, unable to parse string as an integer", shorter.
KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
}


def plain_message(error: ErrorDetails) -> str:
    """What is wrong with the value at `error["loc"]`, without pydantic's framing."""
    kind, seen = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling)"
    if kind == "missing":
        return "required but missing"
    bound = BOUNDS.get(kind)
    context = error.get("ctx") or {}
    if bound is not None and bound[1] in context:
        return f"expected {bound[0]} {context[bound[1]]}, got {seen!r}"
    if kind in KINDS:
        return f"expected {KINDS[kind]}, got {seen!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def name_in_use(name: str) -> str:
    """Two monitors cannot share a name: said of the second one."""
    return f"{name!r} is used by another monitor"
