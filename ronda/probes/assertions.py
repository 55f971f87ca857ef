"""What an HTTP answer's headers and body must show (the check's `expect`, ronda/httpspec.py):
headers, texts and regular expressions that must or must not appear, the body's size, JSON
paths, and a GraphQL answer without errors. Each failed assertion is a `content_mismatch`
finding that names what was asserted, what was expected and what was seen.
"""

from __future__ import annotations

import json
from typing import Any

from ronda.httpspec import pattern
from ronda.probes.base import Observation
from ronda.probes.exchange import MAX_BODY, Answer
from ronda.target import CheckOptions

EXCERPT = 80  # characters of the body quoted around what was found, or from its start


def judge_content(obs: Observation, options: CheckOptions, where: str, address: str, answer: Answer) -> None:
    """Every assertion on the answer's headers and body; each failure a finding."""
    for words in _failures(options, answer):
        obs.problem("content_mismatch", f"{where}: {words}", address=address)


def _failures(options: CheckOptions, answer: Answer) -> list[str]:
    expect = options.expect
    failed = [words for check in expect.headers if (words := check.judge(answer.headers)) is not None]
    failed += _size(expect.max_size, expect.min_size, answer)
    text = answer.body.decode("utf-8", "replace")
    scope = "the first MiB of the page" if answer.truncated else "the page"
    if expect.text is not None and expect.text not in text:
        failed.append(f"{expect.text!r} is not in {scope}, which begins {_begins(text)}")
    if expect.no_text is not None and (at := text.find(expect.no_text)) >= 0:
        failed.append(f"{expect.no_text!r} is in {scope}, expected it absent: {_around(text, at, len(expect.no_text))}")
    if expect.regex is not None and not pattern(expect.regex).search(text):
        failed.append(f"nothing in {scope} matches /{expect.regex}/; it begins {_begins(text)}")
    if expect.no_regex is not None and (found := pattern(expect.no_regex).search(text)):
        seen = _around(text, found.start(), len(found.group(0)))
        failed.append(f"/{expect.no_regex}/ matches in {scope}, expected no match: {seen}")
    graphql = options.request is not None and options.request.graphql
    if expect.json_paths or graphql:
        failed += _json_failures(options, answer, text, graphql)
    return failed


def _size(most: int | None, least: int | None, answer: Answer) -> list[str]:
    size = answer.seen_size
    if most is not None and size > most:
        counted = f"more than {most} bytes" if answer.truncated else f"{size} bytes"
        return [f"the body is {counted}, expected at most {most}"]
    if least is not None and size < least:
        return [f"the body is {size} bytes, expected at least {least}"]
    return []


def _json_failures(options: CheckOptions, answer: Answer, text: str, graphql: bool) -> list[str]:
    if answer.truncated:
        return [f"the body is larger than the {MAX_BODY >> 20} MiB ronda reads: its JSON was not read"]
    try:
        document = json.loads(text)
    except ValueError as exc:
        return [f"the body is not JSON ({exc}); it begins {_begins(text)}"]
    except RecursionError:
        return ["the body is JSON nested too deeply to read"]
    failed = [words for check in options.expect.json_paths if (words := check.judge(document)) is not None]
    if graphql:
        failed += _graphql_failures(document)
    return failed


def _graphql_failures(document: Any) -> list[str]:
    """GraphQL answers 200 with `errors` when a query fails (GraphQL over HTTP): a failure
    all the same."""
    if not isinstance(document, dict):
        return ["the GraphQL answer is not a JSON object"]
    errors = document.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0].get("message") if isinstance(errors[0], dict) else errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return [f"the GraphQL answer has errors: {_short(str(first))!r}{more}"]
    if document.get("data") is None:
        return ["the GraphQL answer has no data"]
    return []


def _begins(text: str) -> str:
    return repr(_short(text.strip())) if text.strip() else "empty"


def _around(text: str, at: int, length: int) -> str:
    start = max(at - EXCERPT // 2, 0)
    end = min(at + length + EXCERPT // 2, len(text))
    return ("…" if start else "") + repr(text[start:end]) + ("…" if end < len(text) else "")


def _short(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
