"""docs/verdict.schema.json: the JSON Schema of a verdict, made by the code
(ronda/verdict_schema.py). The committed file is what the code makes now, so it cannot go
stale; and real verdicts, as `ronda check --json` prints them and the store cuts them to
size for the API, are valid by it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ronda.verdict import compact
from ronda.verdict_schema import schema_text
from tests.support import ronda_check

SCHEMA_FILE = Path("docs") / "verdict.schema.json"


@pytest.fixture(scope="module")
def validator(repo_root: Path) -> Draft202012Validator:
    schema = json.loads((repo_root / SCHEMA_FILE).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(validator: Draft202012Validator, verdict: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(verdict)]


def checked(repo_root: Path, *args: str) -> dict[str, Any]:
    """The verdict `ronda check ARGS --json` prints."""
    done = ronda_check(repo_root, *args, "--json")
    assert done.stdout.startswith("{"), done.stdout + done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    return verdict


def test_the_committed_schema_is_the_one_the_code_makes(repo_root):
    committed = (repo_root / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), f"stale: run `python -m ronda.verdict_schema {SCHEMA_FILE}`"


def test_docs_verdict_md_links_the_schema_and_its_example_passes_it(repo_root, validator):
    text = (repo_root / "docs" / "verdict.md").read_text(encoding="utf-8")
    assert "(verdict.schema.json)" in text
    example = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert problems(validator, example) == []


@pytest.fixture
def https_verdict(repo_root, web, pki, ca_file) -> dict[str, Any]:
    """Everything a verdict can hold: one address serves an expired certificate (a finding),
    the other one expiring soon (a warning), both with their chain."""
    now = datetime.now(UTC)
    soon = pki.server_context("shop.test", valid_from=now - timedelta(days=85), valid_until=now + timedelta(days=5))
    expired = pki.server_context("shop.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))
    port = web("127.0.0.2", tls=soon).port
    web("127.0.0.3", port=port, tls=expired)
    pinned = f"shop.test:{port}:127.0.0.2,127.0.0.3"
    verdict = checked(repo_root, f"https://shop.test:{port}/", "--resolve", pinned, "--ca-file", ca_file)
    assert verdict["findings"] and verdict["warnings"] and len(verdict["certificates"]) == 2, verdict["summary"]
    return verdict


def test_a_degraded_https_verdict_with_certificates_is_valid(validator, https_verdict):
    assert https_verdict["status"] == "degraded"
    assert problems(validator, https_verdict) == []


def test_a_verdict_cut_to_size_for_the_store_is_valid(validator, https_verdict):
    """What the API returns from the store: lists and texts cut, `omitted` counting the rest."""
    cut = compact(https_verdict, 1200)
    assert cut["omitted"], "the budget must have cut something"
    assert problems(validator, cut) == []


def test_an_up_verdict_and_a_down_one_are_valid(repo_root, validator, web, free_port):
    up = checked(repo_root, web().url("/"))
    down = checked(repo_root, f"tcp://127.0.0.1:{free_port}")
    assert (up["status"], down["status"], down["cause"]) == ("up", "down", "tcp_refused")
    assert problems(validator, up) == [] and problems(validator, down) == []


def test_the_schema_refuses_what_no_verdict_is(validator, https_verdict):
    """Its teeth: a reader that trusts the schema can trust these keys."""
    misspelt = {**https_verdict, "findings": [{**https_verdict["findings"][0], "adress": "127.0.0.3"}]}
    assert any("adress" in problem for problem in problems(validator, misspelt))
    assert problems(validator, {**https_verdict, "status": "fine"})
    assert problems(validator, {**https_verdict, "checked_at": "2026-01-01 10:00"})
    assert problems(validator, {key: value for key, value in https_verdict.items() if key != "cause"})
