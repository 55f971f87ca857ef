"""What an API's answer must show (issue 17): status ranges, headers, texts and regular
expressions that must or must not appear, JSON paths with comparisons, the body's size;
each failure a finding naming what was asserted, expected and seen. Against a JSON API on
loopback that changes its answer, through the probe, `ronda check` and the config."""

from __future__ import annotations

import asyncio
import json
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ronda.check import run_check
from ronda.config.load import load_config
from ronda.errors import UsageError
from ronda.httpspec import (
    parse_header_check,
    parse_json_check,
    parse_size,
    parse_status_ranges,
)
from ronda.node.runner import check_options
from ronda.target import CheckOptions, Expectations, parse_target
from tests.api_world import Answer, ApiServer
from tests.support import config_error, ronda_check


@pytest.fixture
def api():
    server = ApiServer()
    yield server
    server.close()


def judged(url: str, **expect):
    options = CheckOptions(expect=Expectations(**expect), timeout=5)
    return asyncio.run(run_check(parse_target(url), options))


def details(verdict) -> list[str]:
    return [f.detail for f in verdict.findings]


# --- status ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "status", "accepted"),
    [
        ("2xx", 204, True),
        ("2xx", 301, False),
        ("200-299", 299, True),
        ("200-299", 300, False),
        ([200, 204], 204, True),
        ([200, 204], 202, False),
        ("200, 204", 204, True),
        (["2xx", 304], 304, True),
        (404, 404, True),
    ],
)
def test_status_ranges_accept_what_they_name(written, status, accepted):
    assert parse_status_ranges(written).accepts(status) is accepted


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("6xx", "expected a status such as 200, 2xx or 200-299"),
        ("299-200", "statuses run from 100 to 599, the lower first"),
        ("99", "statuses run from 100 to 599"),
        ("ok", "expected a status such as"),
        ([], "expected a status such as 200, 2xx, 200-299 or [200, 204]"),
    ],
)
def test_a_bad_status_range_is_refused_in_words(written, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_status_ranges(written)


def test_a_status_outside_the_range_keeps_its_cause(api):
    api.route("/health", Answer(503, "maintenance"))
    verdict = judged(api.url("/health"), status=parse_status_ranges("2xx"))
    assert (verdict.status, verdict.cause) == ("down", "http_server_error")
    assert "answered 503 Service Unavailable, expected 2xx" in verdict.summary
    api.route("/health", Answer(403, "no"))
    assert judged(api.url("/health"), status=parse_status_ranges("2xx")).cause == "http_client_error"
    api.route("/health", Answer(204))
    assert judged(api.url("/health"), status=parse_status_ranges([200, 204])).status == "up"


# --- headers ------------------------------------------------------------------------------------


def test_header_assertions_name_the_header_the_expected_and_the_seen(api):
    api.route("/v1", Answer(200, {"ok": True}, {"X-Api-Version": "1.9", "Server": "leaky/1.0"}))
    verdict = judged(
        api.url("/v1"),
        headers=(
            parse_header_check("Content-Type ~ ^application/json"),  # passes
            parse_header_check("X-Api-Version: 2.0"),
            parse_header_check("X-Request-Id"),
            parse_header_check("!Server"),
            parse_header_check("X-Api-Version ~ ^2\\."),
        ),
    )
    assert verdict.cause == "content_mismatch"
    words = "\n".join(details(verdict))
    assert "header X-Api-Version is '1.9', expected '2.0'" in words
    assert "header X-Request-Id is missing, expected it present" in words
    assert "header Server is 'leaky/1.0', expected no such header" in words
    assert "header X-Api-Version is '1.9', expected a match for /^2\\./" in words
    assert "Content-Type" not in words
    assert len(verdict.findings) == 4


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("X Y: 1", "expected Name, !Name, 'Name: value' or 'Name ~ regex'"),
        ("!Server: x", "expected Name, !Name"),
        ("X ~ (?=look)", "not a regular expression RE2 takes"),
    ],
)
def test_a_bad_header_rule_is_refused(rule, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_header_check(rule)


# --- texts and regular expressions --------------------------------------------------------------


def test_text_that_must_not_appear_is_quoted_where_it_was_found(api):
    api.route("/status", Answer(200, "all good, but: Fatal error in module payments"))
    verdict = judged(api.url("/status"), text="good", no_text="Fatal error")
    assert verdict.cause == "content_mismatch"
    [detail] = details(verdict)
    assert "'Fatal error' is in the page, expected it absent" in detail
    assert "Fatal error in module payments" in detail


def test_a_regular_expression_must_match_and_another_must_not(api):
    api.route("/version", Answer(200, '{"version": "2.14.1", "debug": false}'))
    url = api.url("/version")
    assert judged(url, regex=r'"version":\s*"2\.\d+', no_regex=r'"debug":\s*true').status == "up"
    verdict = judged(url, regex=r'"version":\s*"3\.', no_regex=r"2\.14")
    words = "\n".join(details(verdict))
    assert 'nothing in the page matches /"version":\\s*"3\\./; it begins' in words
    assert "/2\\.14/ matches in the page, expected no match: " in words


def test_a_hostile_body_cannot_make_a_regular_expression_backtrack(api):
    # (a+)+$ against a megabyte of a's then b: exponential for a backtracking engine, linear for RE2.
    api.route("/evil", Answer(200, "a" * 200_000 + "b"))
    verdict = judged(api.url("/evil"), regex="(a+)+$")
    assert verdict.cause == "content_mismatch"


# --- JSON paths ---------------------------------------------------------------------------------


class ChangingApi:
    """A JSON API whose answer the test changes between checks."""

    def __init__(self, server: ApiServer) -> None:
        self.document: object = {"status": {"ok": True}, "items": [{"count": 5}, {"count": 1}], "version": "2.1"}
        server.route("/v1/health", lambda seen: Answer(200, self.document))


PATHS = ("status.ok == true", "items[0].count > 3", "length(items) >= 1", 'version != "1.0"', "status")


def test_json_paths_pass_then_each_failure_names_path_expected_and_seen(api):
    changing = ChangingApi(api)
    checks = tuple(parse_json_check(text) for text in PATHS)
    assert judged(api.url("/v1/health"), json_paths=checks).status == "up"
    changing.document = {"status": {"ok": 1}, "items": [], "version": "1.0"}
    verdict = judged(api.url("/v1/health"), json_paths=checks)
    assert (verdict.status, verdict.cause) == ("down", "content_mismatch")
    words = "\n".join(details(verdict))
    assert "JSON status.ok is 1, expected == true" in words  # 1 is not true in JSON
    assert "JSON items[0].count is null, expected > 3" in words
    assert "JSON length(items) is 0, expected >= 1" in words
    assert 'JSON version is "1.0", expected != "1.0"' in words
    assert len(verdict.findings) == 4  # `status` is still there


def test_a_missing_path_and_an_answer_that_is_not_json(api):
    changing = ChangingApi(api)
    changing.document = {"other": 1}
    verdict = judged(api.url("/v1/health"), json_paths=(parse_json_check("status"),))
    assert "JSON status is missing (null), expected a value" in verdict.summary
    api.route("/v1/health", Answer(502, "<html>Bad gateway</html>"))
    verdict = judged(api.url("/v1/health"), json_paths=(parse_json_check("status"),))
    assert [f.code for f in verdict.findings] == ["http_server_error", "content_mismatch"]
    assert "the body is not JSON" in details(verdict)[1] and "<html>Bad gateway" in details(verdict)[1]


def test_a_path_that_cannot_be_evaluated_says_so(api):
    ChangingApi(api)
    verdict = judged(api.url("/v1/health"), json_paths=(parse_json_check("length(status.ok) > 1"),))
    assert "JSON length(status.ok) cannot be read from this answer" in verdict.summary


@pytest.mark.parametrize(
    ("text", "path", "operator", "expected"),
    [
        ("status.ok == true", "status.ok", "==", "true"),
        ("items[?count > `3`] | length(@) >= 1", "items[?count > `3`] | length(@)", ">=", "1"),
        ('name == `"a"`', "name", "==", '"a"'),
        ('tags != ["x", "y"]', "tags", "!=", '["x","y"]'),
        ("status", "status", None, None),
    ],
)
def test_a_json_path_splits_at_its_last_comparison(text, path, operator, expected):
    check = parse_json_check(text)
    assert (check.path, check.operator, check.expected) == (path, operator, expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status.ok == yes", "'yes' is not a JSON value; a text is written in double quotes: \"yes\""),
        ("status..ok == true", "is not a JMESPath expression"),
        ("== true", "a JSON path comes first"),
        ("items > [1]", "> compares numbers or texts, not [1]"),
    ],
)
def test_a_bad_json_path_is_refused_in_words(text, message):
    with pytest.raises(UsageError) as caught:
        parse_json_check(text)
    assert message in str(caught.value)


# --- size ---------------------------------------------------------------------------------------


def test_body_size_limits(api):
    api.route("/page", Answer(200, "x" * 5000))
    url = api.url("/page")
    assert judged(url, max_size=5000, min_size=100).status == "up"
    assert "the body is 5000 bytes, expected at most 4096" in judged(url, max_size=4096).summary
    assert "the body is 5000 bytes, expected at least 8000" in judged(url, min_size=8000).summary


def test_a_size_limit_past_what_is_kept_is_still_measured(api):
    api.route("/big", Answer(200, b"y" * (3 << 20)))  # 3 MiB: ronda keeps 1
    url = api.url("/big")
    assert judged(url, max_size=4 << 20).status == "up"
    assert f"the body is more than {2 << 20} bytes, expected at most {2 << 20}" in judged(url, max_size=2 << 20).summary


@pytest.mark.parametrize(("text", "size"), [("65536", 65536), ("64KiB", 65536), ("1MB", 1_000_000), ("2 MiB", 2 << 20)])
def test_sizes_are_read_as_the_config_reads_them(text, size):
    assert parse_size(text) == size


# --- ronda check --------------------------------------------------------------------------------


def test_ronda_check_takes_every_assertion(api, repo_root):
    ChangingApi(api)
    passing = [
        "--expect-status", "2xx",
        "--expect-header", "Content-Type: application/json",
        "--expect-regex", r'"version":\s*"2',
        "--expect-no-text", "error",
        "--json-path", "status.ok == true",
        "--json-path", "length(items) >= 1",
        "--max-size", "64KiB",
    ]  # fmt: skip
    run = ronda_check(repo_root, api.url("/v1/health"), *passing)
    assert run.returncode == 0, run.stdout + run.stderr
    failing = ronda_check(repo_root, api.url("/v1/health"), "--json-path", "items[0].count < 2", "--json")
    assert failing.returncode == 2
    verdict = json.loads(failing.stdout)
    [finding] = verdict["findings"]
    assert finding["code"] == "content_mismatch"
    assert finding["detail"].endswith("JSON items[0].count is 5, expected < 2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect-status", "6xx"], "--expect-status '6xx': expected a status such as 200, 2xx or 200-299"),
        (["--json-path", "a == yes"], "--json-path 'a == yes': 'yes' is not a JSON value"),
        (["--expect-regex", "(?<=x)"], "--expect-regex '(?<=x)': not a regular expression RE2 takes"),
        (["--max-size", "big"], "--max-size 'big': expected a size such as 65536, 64KiB or 1MB"),
    ],
)
def test_bad_assertions_exit_3_naming_the_option(repo_root, args, message):
    run = ronda_check(repo_root, "http://127.0.0.1:1/", *args)
    assert run.returncode == 3, run.stdout + run.stderr
    assert message in run.stdout
    assert "Traceback" not in run.stderr and "re2.cc" not in run.stderr


def test_http_assertions_for_a_tcp_target_exit_3(repo_root):
    run = ronda_check(repo_root, "tcp://127.0.0.1:1", "--json-path", "a")
    assert run.returncode == 3
    assert "--json-path go with an http:// or https:// target, not tcp://" in run.stdout


# --- the config ---------------------------------------------------------------------------------


def write(tmp_path, monitors: str) -> str:
    path = tmp_path / "ronda.yaml"
    path.write_text("canaries: []\ngateway: none\nmonitors:\n" + textwrap.indent(textwrap.dedent(monitors), "  "))
    return str(path)


def test_a_config_monitor_sends_and_asserts_as_ronda_check_does(api, tmp_path):
    ChangingApi(api)
    path = write(
        tmp_path,
        f"""\
        - name: api
          url: {api.url("/v1/health")}
          request:
            method: POST
            headers: {{X-Client: ronda, X-Api-Key: "${{API_KEY}}"}}
            json_body: {{probe: true}}
            auth:
              bearer: ${{API_TOKEN}}
          expect:
            status: [200, 204]
            headers:
              content-type: {{matches: ^application/json}}
              x-powered-by: {{absent: true}}
            no_text: error
            json_paths:
              - status.ok == true
              - length(items) >= 1
            max_size: 64KiB
        """,
    )
    config = load_config(path, {"API_TOKEN": "tok-Secret-1", "API_KEY": "key-Secret-2"})
    options = check_options(config.monitors[0], {})
    verdict = asyncio.run(run_check(parse_target(config.monitors[0].url), options))
    assert verdict.status == "up", verdict.summary
    [seen] = api.requests_to("/v1/health")
    assert (seen.method, seen.json()) == ("POST", {"probe": True})
    assert seen.headers["authorization"] == "Bearer tok-Secret-1"
    assert seen.headers["x-api-key"] == "key-Secret-2"


def test_the_old_expect_keys_still_work(api, tmp_path):
    api.route("/", Answer(200, "Welcome"))
    path = write(
        tmp_path, f"- name: site\n  url: {api.url('/')}\n  expect: {{status: 200, text: Welcome, max_latency: 5s}}\n"
    )
    monitor = load_config(path, {}).monitors[0]
    options = check_options(monitor, {})
    assert options.expect == Expectations(status=200, text="Welcome", max_latency=5.0)
    assert options.request is None


@pytest.mark.parametrize(
    ("monitor", "line", "message"),
    [
        (
            "expect:\n    json_paths:\n      - status.ok == true\n      - status..ok == true\n",
            9,
            "monitors[0].expect.json_paths[1]: 'status..ok == true': 'status..ok' is not a JMESPath expression"
            " (unexpected '.' at column 7)",
        ),
        ("expect:\n    status: 2xy\n", 7, "monitors[0].expect.status: '2xy': expected a status such as"),
        ("expect:\n    status: [200, 700]\n", 7, "monitors[0].expect.status: 700: statuses run from 100 to 599"),
        (
            "request:\n    auth:\n      bearer: ${API_TOKEN_NOT_SET}\n",
            8,
            "monitors[0].request.auth.bearer: environment variable API_TOKEN_NOT_SET is not set",
        ),
        (
            "request:\n    auth: {basic: {username: a, password: b}, bearer: c}\n",
            7,
            "monitors[0].request.auth: expected one of basic:, bearer: or oauth2:, not basic and bearer",
        ),
        ("request:\n    method: BREW\n", 7, "monitors[0].request.method: 'BREW': expected one of GET"),
        (
            "request:\n    body: x\n    json_body: {a: 1}\n",
            7,
            "monitors[0].request: a request has one body: body or json_body, not both",
        ),
        ("expect:\n    regex: '(?=x)'\n", 7, "monitors[0].expect.regex: '(?=x)': not a regular expression RE2 takes"),
        ("expect:\n    headers: {X-A: {near: 1}}\n", 7, "monitors[0].expect.headers: 'X-A': expected equals: TEXT"),
    ],
    ids=[
        "bad json path",
        "bad status range",
        "status out of range",
        "missing env secret",
        "two kinds of auth",
        "unknown method",
        "two bodies",
        "bad regex",
        "bad header rule",
    ],
)
def test_config_errors_name_the_file_line_and_field(tmp_path, monitor, line, message):
    path = write(tmp_path, "- name: api\n  url: https://api.example/v1/health\n  " + monitor)
    error = config_error(path)
    assert f"{path}:{line}: {message}" in error, error


def test_request_and_http_assertions_on_another_scheme_are_config_errors(tmp_path):
    path = write(tmp_path, "- name: db\n  url: tcp://db.example:5432\n  request: {method: POST}\n")
    assert "monitors[0].request: goes with a http:// or https:// url" in config_error(path)
    path = write(tmp_path, "- name: db\n  url: tcp://db.example:5432\n  expect: {json_paths: [ok]}\n")
    assert "monitors[0].expect: json_paths goes with an http:// or https:// url" in config_error(path)


@given(st.text(max_size=60))
def test_any_text_is_a_json_path_or_a_usage_error_and_a_path_judges_any_document(text):
    try:
        check = parse_json_check(text)
    except UsageError:
        return
    for document in ({"a": [1, {"b": True}], "n": 3}, [], "x", None, 2.5):
        words = check.judge(document)
        assert words is None or words.startswith("JSON ")
