"""Durations as people write them in config: 500ms, 30s, 5m, 1h, 1d (or a bare number of seconds)."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`, a finite positive number; raises ValueError with the accepted
    forms when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 500ms, 30s, 5m or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = _seconds(value)
    else:
        match = _PATTERN.match(value)
        if not match:
            raise ValueError(f"expected a duration such as 500ms, 30s, 5m or 1h, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive, got {_shown(value)}")
    if math.isinf(seconds):
        raise ValueError(f"a duration must be finite, got {_shown(value)}")
    return seconds


def _seconds(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int past what a float holds: longer than any duration
        return math.inf


def _shown(value: str | int | float) -> str:
    """The value as given, cut short: a 400-digit number is not worth repeating whole."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        return "a number of thousands of digits"
    return text if len(text) <= 40 else f"{text[:37]}..."


def format_duration(seconds: float) -> str:
    """A duration as people say it: 45 s, 3 min 20 s, 2 h 5 min, 3 d 4 h."""
    seconds = max(0, round(seconds))
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            part = rest // smaller_size
            return f"{whole} {unit} {part} {smaller}" if part else f"{whole} {unit}"
    return f"{seconds} s"
