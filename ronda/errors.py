"""ronda's error tree. A down target is data (a Verdict), not an exception: these are for
bad input and misuse, and carry what a caller needs to tell the user where the problem is."""

from __future__ import annotations


class RondaError(Exception):
    """Base of every error ronda raises on purpose."""


class UsageError(RondaError):
    """Bad input on the command line or in an API call: a target, an option, a value."""


class ConfigError(RondaError):
    """A configuration file that cannot be used; `str()` names file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what}")
