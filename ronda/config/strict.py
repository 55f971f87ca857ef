"""What every model of the config shares: keys are exactly those declared, values frozen,
and ronda's own parsers' UsageError reported by pydantic at the field it concerns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ronda.errors import UsageError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def usage_to_value_error(call: Any, *args: Any) -> Any:
    """Our parsers raise UsageError; pydantic reports ValueErrors at the field."""
    try:
        return call(*args)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
