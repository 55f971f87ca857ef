"""The outside contract, pinned: every code CONTRACT.md section 2 names exists, and a verdict's
JSON carries every key of the section 3 example. The contract lives beside the repository,
in ../shared/CONTRACT.md (so CI has it); without it these tests are skipped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ronda.causes import CAUSES, WARNINGS


@pytest.fixture(scope="module")
def contract(repo_root: Path) -> str:
    path = repo_root.parent / "shared" / "CONTRACT.md"
    if not path.is_file():
        pytest.skip(f"the contract is not beside the repository ({path} is missing)")
    return path.read_text(encoding="utf-8")


def section(contract: str, number: int) -> str:
    match = re.search(rf"^## {number}\..*?(?=^## \d+\.|\Z)", contract, re.M | re.S)
    assert match, f"CONTRACT.md has no section {number}"
    return match.group(0)


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def codes_in(text: str) -> list[str]:
    return re.findall(r"`([a-z][a-z0-9_]*)`", text)


@pytest.fixture(scope="module")
def cause_codes(contract: str) -> list[str]:
    """The bulleted lists of section 2 (`- DNS: ...`, continued on indented lines)."""
    lists = [p for p in paragraphs(section(contract, 2)) if p.startswith("- ")]
    codes = [code for p in lists for code in codes_in(p)]
    assert len(codes) > 20, "section 2's cause lists were not found; has the contract's layout changed?"
    return codes


@pytest.fixture(scope="module")
def warning_codes(contract: str) -> list[str]:
    [warnings] = [p for p in paragraphs(section(contract, 2)) if p.startswith("Warnings")]
    codes = codes_in(warnings)
    assert codes, "section 2's warnings paragraph names no codes"
    return codes


@pytest.fixture(scope="module")
def example(contract: str) -> dict:
    match = re.search(r"```json\n(.*?)```", section(contract, 3), re.S)
    assert match, "section 3 has no JSON example"
    return json.loads(match.group(1))


def test_every_cause_code_in_the_contract_exists(cause_codes):
    missing = [code for code in cause_codes if code not in CAUSES]
    assert missing == [], f"CONTRACT.md section 2 names cause codes ronda lacks: {missing}"


def test_every_warning_code_in_the_contract_exists(warning_codes):
    missing = [code for code in warning_codes if code not in WARNINGS and code not in CAUSES]
    assert missing == [], f"CONTRACT.md section 2 names warning codes ronda lacks: {missing}"


def test_the_contract_lists_the_known_codes(cause_codes, warning_codes):
    """A guard on the parsing above: a few codes from each list must be found."""
    assert {"dns_nxdomain", "tcp_refused", "cert_expired", "http_server_error", "heartbeat_missed"} <= set(cause_codes)
    assert {"cert_expiring", "cert_renewal_overdue", "clock_skew"} <= set(warning_codes)


def test_the_status_words_are_the_contracts(contract):
    [status] = [p for p in paragraphs(section(contract, 2)) if p.startswith("Status")]
    assert set(codes_in(status)) == {"up", "degraded", "down"}


# --- section 3: the verdict object ------------------------------------------------------------------------


@pytest.fixture
def https_verdict(web, pki, check):
    """A verdict with everything in it: one address serves an expired certificate (a finding),
    the other one expiring soon (a warning), both with their chain."""
    now = datetime.now(UTC)
    expiring = web(
        "127.0.0.2",
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=85), valid_until=now + timedelta(days=5)),
    )
    web(
        "127.0.0.3",
        port=expiring.port,
        tls=pki.server_context("shop.test", valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2)),
    )
    port = expiring.port
    verdict = check(f"https://shop.test:{port}/", resolve={("shop.test", port): ("127.0.0.2", "127.0.0.3")})
    assert verdict.findings and verdict.warnings and len(verdict.certificates) == 2, verdict.summary
    return verdict.to_json()


def missing_keys(example: dict, actual: dict, where: str = "verdict") -> list[str]:
    """Keys of the example (recursively, into the first item of lists of objects) absent in actual."""
    missing = []
    for key, value in example.items():
        if key not in actual:
            missing.append(f"{where}.{key}")
        elif isinstance(value, dict) and isinstance(actual[key], dict):
            missing += missing_keys(value, actual[key], f"{where}.{key}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            if not actual[key]:
                missing.append(f"{where}.{key}[0] (the list is empty)")
            else:
                missing += missing_keys(value[0], actual[key][0], f"{where}.{key}[0]")
    return missing


def test_an_https_verdict_has_every_key_of_the_contract_example(example, https_verdict):
    assert missing_keys(example, https_verdict) == []


def test_a_tcp_verdict_has_every_key_of_the_example_but_http(example, listening_port, check):
    actual = check(f"tcp://127.0.0.1:{listening_port}").to_json()
    assert "http" not in actual
    expected = {key: value for key, value in example.items() if key != "http"}
    expected = {key: [] if isinstance(value, list) else value for key, value in expected.items()}
    assert missing_keys(expected, actual) == []


def test_a_verdicts_json_has_the_types_of_the_example(example, https_verdict):
    for key, value in example.items():
        if value is not None:
            assert isinstance(https_verdict[key], type(value) if not isinstance(value, float) else float | int), key
    cert = https_verdict["certificates"][0]
    for key, value in example["certificates"][0].items():
        assert isinstance(cert[key], type(value) if not isinstance(value, float) else float | int), key


def test_a_verdicts_times_are_utc_with_a_z(https_verdict):
    moment = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(moment, https_verdict["checked_at"])
    for cert in https_verdict["certificates"]:
        assert re.fullmatch(moment, cert["not_before"]) and re.fullmatch(moment, cert["not_after"])
        assert all(re.fullmatch(moment, entry["not_after"]) for entry in cert["chain"])


def test_days_left_is_negative_once_expired(https_verdict):
    days = {cert["address"]: cert["days_left"] for cert in https_verdict["certificates"]}
    assert days["127.0.0.3"] < 0 < days["127.0.0.2"]


def test_a_verdicts_json_round_trips_through_json(https_verdict):
    assert json.loads(json.dumps(https_verdict)) == https_verdict


def test_docs_list_every_cause_and_warning_code(repo_root):
    from ronda.causes import CAUSES, WARNINGS

    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", (repo_root / "docs" / "causes.md").read_text(), re.MULTILINE))
    assert listed == set(CAUSES) | set(WARNINGS)
