"""The agent's two questions to its hub, over HTTP(S) with httpx: "which monitors do I
check?" and "take these verdicts". Verdict batches travel gzip-compressed (a batch of HTTPS
verdicts shrinks about eightfold)."""

from __future__ import annotations

import gzip
import json
import ssl
from typing import Any

import httpx

from ronda import __version__

ASSIGNMENT = "/api/v1/agent/assignment"
VERDICTS = "/api/v1/agent/verdicts"
TIMEOUT = 30.0  # seconds for one question to the hub; a hub slower than that is away for now
# Seconds for a batch to be stored: a hub under a flood answers late but does answer, and a
# batch sent again because its answer was slow only waits behind itself.
SEND_TIMEOUT = 120.0


class HubAway(Exception):
    """The hub did not take the call (unreachable, timed out, overloaded, or refused): the
    message says which, for the log."""


class Rejected(HubAway):
    """The hub will never take this batch (it answered 4xx: a defect in it): sending it again
    would block every batch behind it."""


class Refused(HubAway):
    """The hub refuses this agent's token (revoked, or never added): no retry will help."""


class HubClient:
    def __init__(self, hub: str, token: str, ca_file: str | None = None) -> None:
        self.hub = hub.rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "X-Ronda-Version": __version__}
        # trust_env off: the agent reaches its hub as configured, never through a proxy
        # named in its environment.
        # The system's trust store, and the hub's own CA when it has one (an SSL context:
        # httpx takes no file names any more).
        trust = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._client = httpx.AsyncClient(
            headers=headers, timeout=TIMEOUT, verify=trust, trust_env=False, follow_redirects=False
        )

    async def assignment(self, version: str) -> dict[str, Any]:
        """The hub's answer: {"version", "ask_every", "monitors": [...]} or {"unchanged": true}."""
        answer = await self._call("GET", ASSIGNMENT, params={"version": version} if version else None)
        data = answer.json()
        if not isinstance(data, dict):
            raise HubAway(f"{self.hub}{ASSIGNMENT}: not an assignment")
        return data

    async def send(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Hand a batch over; returns once the hub stored it."""
        body = gzip.compress(json.dumps(batch, separators=(",", ":")).encode(), compresslevel=6)
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        answer = await self._call("POST", VERDICTS, content=body, headers=headers, timeout=SEND_TIMEOUT)
        data = answer.json()
        return data if isinstance(data, dict) else {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.hub + path
        try:
            answer = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise HubAway(f"{url}: {type(exc).__name__} {exc}".strip()) from None
        if answer.status_code in (401, 403):
            raise Refused(f"{url}: the hub refuses this agent's token ({answer.status_code}): revoked, or never added")
        if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
            raise Rejected(f"{url}: answered {answer.status_code} {answer.text[:200]}")
        if answer.status_code != 200:
            raise HubAway(f"{url}: answered {answer.status_code} {answer.text[:200]}")
        return answer

    async def close(self) -> None:
        await self._client.aclose()
