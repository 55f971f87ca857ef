"""ronda's error tree. A down target is data (a Verdict), not an exception: these are for
bad input and misuse, and carry what a caller needs to tell the user where the problem is."""

from __future__ import annotations

from collections.abc import Sequence


class RondaError(Exception):
    """Base of every error ronda raises on purpose."""


class UsageError(RondaError):
    """Bad input on the command line or in an API call: a target, an option, a value."""


class ConfigError(RondaError):
    """A configuration file that cannot be used. Each problem names file, line and field;
    `str()` lists them one per line, as a person reads them."""

    def __init__(self, path: str, problems: Sequence[tuple[int | None, str | None, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.describe(line, field, message) for line, field, message in problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, list[tuple[int | None, str | None, str]]]]:
        return ConfigError, (self.path, self.problems)  # whole across a process (memory.made_apart)

    def describe(self, line: int | None, field: str | None, message: str) -> str:
        where = self.path if line is None else f"{self.path}:{line}"
        return f"{where}: {field}: {message}" if field else f"{where}: {message}"


class NotPermittedError(RondaError):
    """This machine forbids what a check needs (sending ICMP echo requests). A setting of the
    machine, not a fault of the target: no verdict is made, `ronda check` exits 3 (UNKNOWN)
    and `ronda run` logs it once and goes on. The message says how to allow it."""


class ServiceError(RondaError):
    """`ronda run` cannot start or go on: the API's address is taken, the database is unreachable."""
