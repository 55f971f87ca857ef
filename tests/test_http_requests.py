"""APIs checked the way their clients call them (issue 17): the method, headers and body of the
request, Basic and bearer credentials from the environment, OAuth2 client credentials (the
token asked once, kept until it expires by the injected clock, renewed once on a 401),
redirects followed or judged, GraphQL; against real servers on loopback. Secrets never
show in a verdict."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from ronda.check import run_check
from ronda.httpspec import BasicAuth, BearerAuth, HttpRequest, OAuth2, form_body, graphql_body, json_body, text_body
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, Expectations, parse_target
from tests.api_world import Answer, ApiServer, TokenEndpoint
from tests.support import ronda_check

SECRET = "s3cret-Passw0rd-4711"
CLIENT_SECRET = "client-Secret-0815"


@pytest.fixture
def api():
    servers: list[ApiServer] = []

    def start(tls=None) -> ApiServer:
        servers.append(ApiServer(tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class Clock:
    """The injected clock: a test moves it; nothing sleeps."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # the test CA's certificates are valid from now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def check_with(url: str, request: HttpRequest | None, ctx: ProbeContext | None = None, **options):
    opts = CheckOptions(request=request, timeout=5, **options)
    return asyncio.run(run_check(parse_target(url), opts, ctx))


def codes(verdict) -> list[str]:
    return [f.code for f in verdict.findings]


# --- method, headers, body ---------------------------------------------------------------------


def test_a_post_carries_its_headers_and_json_body(api):
    server = api()
    server.route("/v1/orders", Answer(201, {"id": 7}))
    body, content_type = json_body({"sku": "A-1", "quantity": 2})
    request = HttpRequest("POST", (("X-Client", "ronda"), ("Accept", "application/json")), body, content_type)
    verdict = check_with(server.url("/v1/orders"), request)
    assert verdict.status == "up", verdict.summary
    [seen] = server.requests_to("/v1/orders")
    assert seen.method == "POST"
    assert seen.json() == {"sku": "A-1", "quantity": 2}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-client"] == "ronda"
    assert seen.headers["accept"] == "application/json"  # the user's, not ronda's */*
    assert seen.headers["user-agent"].startswith("ronda/")


@pytest.mark.parametrize(
    ("made", "expected_type", "read"),
    [
        (text_body("ping"), "text/plain; charset=utf-8", lambda seen: seen.body.decode()),
        (form_body([("a", "1"), ("b", "x y")]), "application/x-www-form-urlencoded", lambda seen: seen.form()),
    ],
    ids=["text", "form"],
)
def test_text_and_form_bodies_go_with_their_content_type(api, made, expected_type, read):
    server = api()
    server.route("/echo", Answer(200, "ok"))
    body, content_type = made
    check_with(server.url("/echo"), HttpRequest("PUT", body=body, content_type=content_type))
    [seen] = server.requests_to("/echo")
    assert (seen.method, seen.headers["content-type"]) == ("PUT", expected_type)
    assert read(seen) in ("ping", {"a": "1", "b": "x y"})


def test_a_content_type_header_given_replaces_the_bodys_own(api):
    server = api()
    server.route("/echo", Answer(200, "ok"))
    body, content_type = text_body("<ping/>")
    request = HttpRequest("POST", (("Content-Type", "application/xml"),), body, content_type)
    check_with(server.url("/echo"), request)
    [seen] = server.requests_to("/echo")
    assert seen.headers["content-type"] == "application/xml"


def test_a_head_request_reads_no_body(api):
    server = api()
    server.route("/health", Answer(200, "a body HEAD never sees"))
    verdict = check_with(server.url("/health"), HttpRequest("HEAD"))
    assert verdict.status == "up", verdict.summary
    assert verdict.http["bytes"] == 0
    assert server.requests_to("/health")[0].method == "HEAD"


# --- credentials --------------------------------------------------------------------------------


def test_basic_credentials_are_sent_and_never_shown_even_when_echoed(api):
    server = api()
    # A careless API that echoes the request's Authorization header in its error page.
    server.route("/private", lambda seen: Answer(403, f"denied for {seen.headers.get('authorization')}"))
    verdict = check_with(
        server.url("/private"),
        HttpRequest(auth=BasicAuth("app", SECRET)),
        expect=Expectations(text="welcome"),
    )
    [seen] = server.requests_to("/private")
    assert base64.b64decode(seen.headers["authorization"].removeprefix("Basic ")).decode() == f"app:{SECRET}"
    assert verdict.cause == "http_client_error"
    shown = json.dumps(verdict.to_json())
    encoded = base64.b64encode(f"app:{SECRET}".encode()).decode()
    assert SECRET not in shown and encoded not in shown
    assert "denied for Basic ***" in shown  # the body quoted, the secret hidden


def test_a_bearer_token_is_sent_as_authorization(api):
    server = api()
    server.route("/me", lambda seen: Answer(200 if seen.headers.get("authorization") == f"Bearer {SECRET}" else 401))
    verdict = check_with(server.url("/me"), HttpRequest(auth=BearerAuth(SECRET)))
    assert verdict.status == "up", verdict.summary


def test_credentials_stay_with_their_host_across_a_redirect(api):
    first, second = api(), api()
    first.route("/start", Answer(302, "", {"Location": second.url("/landed")}))
    second.route("/landed", Answer(200, "here"))
    verdict = check_with(first.url("/start"), HttpRequest(headers=(("X-Trace", "1"),), auth=BearerAuth(SECRET)))
    assert verdict.status == "up", verdict.summary
    assert first.requests_to("/start")[0].headers["authorization"] == f"Bearer {SECRET}"
    [landed] = second.requests_to("/landed")
    assert "authorization" not in landed.headers  # another port: another origin
    assert landed.headers["x-trace"] == "1"


def test_a_post_redirected_by_303_becomes_a_get_and_307_keeps_it(api):
    server = api()
    server.route("/see-other", Answer(303, "", {"Location": "/result"}))
    server.route("/temporary", Answer(307, "", {"Location": "/result"}))
    server.route("/result", Answer(200, "ok"))
    body, content_type = json_body({"n": 1})
    for path in ("/see-other", "/temporary"):
        check_with(server.url(path), HttpRequest("POST", body=body, content_type=content_type))
    after_303, after_307 = server.requests_to("/result")
    assert (after_303.method, after_303.body) == ("GET", b"")
    assert (after_307.method, after_307.json()) == ("POST", {"n": 1})


def test_without_following_redirects_the_redirect_itself_is_judged(api):
    server = api()
    server.route("/old", Answer(301, "", {"Location": "/new"}))
    server.route("/new", Answer(200, "moved here"))
    url = server.url("/old")
    followed = check_with(url, HttpRequest(), expect=Expectations(status=200))
    assert followed.status == "up" and followed.http["status"] == 200
    judged = check_with(url, HttpRequest(follow_redirects=False), expect=Expectations(status=301))
    assert judged.status == "up" and judged.http["status"] == 301
    refused = check_with(url, HttpRequest(follow_redirects=False), expect=Expectations(status=200))
    assert refused.cause == "content_mismatch"
    assert "answered 301 Moved Permanently, expected 200" in refused.summary


# --- OAuth2 client credentials ------------------------------------------------------------------


def oauth_for(tokens: TokenEndpoint, secret: str = CLIENT_SECRET, **extra) -> HttpRequest:
    return HttpRequest(auth=OAuth2(tokens.url, "ronda", secret, scope="health:read", **extra))


def test_the_oauth2_token_is_asked_once_and_kept_until_it_expires(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET, expires_in=3600)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    clock = Clock()
    ctx = ProbeContext(clock=clock)
    request = oauth_for(tokens)
    for _ in range(3):
        verdict = check_with(server.url("/v1/health"), request, ctx)
        assert verdict.status == "up", verdict.summary
        clock.advance(600)
    assert len(tokens.calls) == 1
    assert [seen.headers["authorization"] for seen in server.requests_to("/v1/health")] == ["Bearer token-1"] * 3
    [call] = tokens.calls
    assert call.form() == {"grant_type": "client_credentials", "scope": "health:read"}
    clock.advance(3600)  # past its expiry (1h): the next check asks again
    assert check_with(server.url("/v1/health"), request, ctx).status == "up"
    assert len(tokens.calls) == 2
    assert server.requests_to("/v1/health")[-1].headers["authorization"] == "Bearer token-2"


def test_a_token_refused_by_the_api_is_renewed_once(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    ctx = ProbeContext(clock=Clock())
    request = oauth_for(tokens)
    assert check_with(server.url("/v1/health"), request, ctx).status == "up"
    tokens.revoke()  # revoked before its time: the API answers 401
    verdict = check_with(server.url("/v1/health"), request, ctx)
    assert verdict.status == "up", verdict.summary
    assert len(tokens.calls) == 2
    assert [s.headers["authorization"] for s in server.requests_to("/v1/health")][-2:] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_an_api_that_refuses_every_token_is_down_after_one_renewal(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    server.route("/v1/health", Answer(401, {"error": "invalid_token"}))
    verdict = check_with(server.url("/v1/health"), oauth_for(tokens), ProbeContext(clock=Clock()))
    assert verdict.cause == "http_client_error"
    assert "answered 401" in verdict.summary
    assert len(tokens.calls) == 2  # the first token, and one renewal: no more


def test_refused_client_credentials_are_auth_failed_and_the_api_is_not_called(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    wrong = "wrong-Secret-9999"
    verdict = check_with(server.url("/v1/health"), oauth_for(tokens, secret=wrong), ProbeContext(clock=Clock()))
    assert (verdict.status, verdict.cause) == ("down", "auth_failed")
    assert f"OAuth2 token endpoint {tokens.url}: refused the client credentials: 401" in verdict.summary
    assert "invalid_client (unknown client)" in verdict.summary
    assert server.requests_to("/v1/health") == []
    assert wrong not in json.dumps(verdict.to_json())


def test_the_secret_can_go_in_the_form(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    verdict = check_with(server.url("/v1/health"), oauth_for(tokens, client_auth="post"), ProbeContext(clock=Clock()))
    assert verdict.status == "up", verdict.summary
    [call] = tokens.calls
    assert "authorization" not in call.headers
    assert call.form()["client_secret"] == CLIENT_SECRET


def test_a_token_endpoint_that_is_gone_names_itself(api, free_port):
    server = api()
    server.route("/v1/health", Answer(200, {"ok": True}))
    request = HttpRequest(auth=OAuth2(f"http://127.0.0.1:{free_port}/token", "ronda", CLIENT_SECRET))
    verdict = check_with(server.url("/v1/health"), request, ProbeContext(clock=Clock()))
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")
    assert verdict.summary.startswith(f"OAuth2 token endpoint http://127.0.0.1:{free_port}/token: ")
    assert server.requests_to("/v1/health") == []


def test_a_token_endpoint_that_fails_is_its_status(api):
    server = api()
    server.route("/token", Answer(503, "down for maintenance"))
    server.route("/v1/health", Answer(200, {"ok": True}))
    request = HttpRequest(auth=OAuth2(server.url("/token"), "ronda", CLIENT_SECRET))
    verdict = check_with(server.url("/v1/health"), request, ProbeContext(clock=Clock()))
    assert verdict.cause == "http_server_error"
    assert "OAuth2 token endpoint" in verdict.summary and "503" in verdict.summary


def test_a_token_answer_without_a_token_is_a_protocol_error(api):
    server = api()
    server.route("/token", Answer(200, {"token_type": "Bearer"}))
    request = HttpRequest(auth=OAuth2(server.url("/token"), "ronda", CLIENT_SECRET))
    verdict = check_with(server.url("/v1/health"), request, ProbeContext(clock=Clock()))
    assert verdict.cause == "protocol_error"
    assert "without an access_token" in verdict.summary


def test_the_token_and_the_client_secret_never_show(api):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    # The API answers 500 quoting the token it was sent.
    server.route("/v1/health", lambda seen: Answer(500, f"cannot use {seen.headers.get('authorization')}"))
    verdict = check_with(
        server.url("/v1/health"), oauth_for(tokens), ProbeContext(clock=Clock()), expect=Expectations(text="welcome")
    )
    shown = json.dumps(verdict.to_json())
    assert "token-1" not in shown and "token-2" not in shown and CLIENT_SECRET not in shown
    assert "Bearer ***" in shown


# --- GraphQL ------------------------------------------------------------------------------------


def graphql_api(server: ApiServer, answer) -> None:
    server.route("/graphql", lambda seen: Answer(200, answer(seen.json())))


def test_a_graphql_query_is_posted_and_its_data_judged(api):
    server = api()
    graphql_api(server, lambda asked: {"data": {"health": {"ok": True, "asked": asked["query"]}}})
    body, content_type = graphql_body("{ health { ok } }", {"region": "eu"})
    request = HttpRequest("POST", body=body, content_type=content_type, graphql=True)
    from ronda.httpspec import parse_json_check

    verdict = check_with(
        server.url("/graphql"), request, expect=Expectations(json_paths=(parse_json_check("data.health.ok == true"),))
    )
    assert verdict.status == "up", verdict.summary
    [seen] = server.requests_to("/graphql")
    assert seen.json() == {"query": "{ health { ok } }", "variables": {"region": "eu"}}


def test_a_graphql_answer_with_errors_fails_though_it_is_200(api):
    server = api()
    graphql_api(server, lambda asked: {"data": None, "errors": [{"message": "database unavailable"}, {"message": "x"}]})
    body, content_type = graphql_body("{ health { ok } }")
    verdict = check_with(
        server.url("/graphql"), HttpRequest("POST", body=body, content_type=content_type, graphql=True)
    )
    assert (verdict.status, verdict.cause) == ("down", "content_mismatch")
    assert "the GraphQL answer has errors: 'database unavailable' (and 1 more)" in verdict.summary


# --- ronda check --------------------------------------------------------------------------------


def test_ronda_check_sends_what_its_options_say(api, repo_root):
    server = api()
    server.route("/v1/orders", lambda seen: Answer(200 if seen.headers.get("authorization") else 401, {"ok": True}))
    run = ronda_check(
        repo_root,
        server.url("/v1/orders"),
        "--method", "PATCH",
        "--header", "X-Client: ronda",
        "--header-env", "X-Api-Key: API_KEY",
        "--json-body", '{"dry_run": true}',
        "--bearer-env", "API_TOKEN",
        "--json",
        env={"API_TOKEN": SECRET, "API_KEY": "key-Abcdef-123"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    [seen] = server.requests_to("/v1/orders")
    assert (seen.method, seen.json()) == ("PATCH", {"dry_run": True})
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    assert seen.headers["x-client"] == "ronda" and seen.headers["x-api-key"] == "key-Abcdef-123"
    assert SECRET not in run.stdout and "key-Abcdef-123" not in run.stdout


def test_ronda_check_basic_auth_from_the_environment_is_absent_from_the_verdict_json(api, repo_root):
    server = api()
    server.route("/private", lambda seen: Answer(500, f"broken for {seen.headers.get('authorization')}"))
    run = ronda_check(
        repo_root,
        server.url("/private"),
        "--basic-auth-env",
        "API_CREDENTIALS",
        "--expect-text",
        "ok",
        "--json",
        env={"API_CREDENTIALS": f"app:{SECRET}"},
    )
    assert run.returncode == 2, run.stdout + run.stderr
    encoded = base64.b64encode(f"app:{SECRET}".encode()).decode()
    assert SECRET not in run.stdout and encoded not in run.stdout
    assert json.loads(run.stdout)["cause"] == "http_server_error"
    assert base64.b64decode(server.requests_to("/private")[0].headers["authorization"][6:]) == f"app:{SECRET}".encode()


def test_ronda_check_oauth2_from_the_command_line(api, repo_root):
    server = api()
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    run = ronda_check(
        repo_root,
        server.url("/v1/health"),
        "--oauth2-token-url", tokens.url,
        "--oauth2-client-id", "ronda",
        "--oauth2-secret-env", "CLIENT_SECRET",
        "--oauth2-scope", "health:read",
        "--json-path", "ok == true",
        env={"CLIENT_SECRET": CLIENT_SECRET},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("RONDA OK")
    assert len(tokens.calls) == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--bearer-env", "NOT_SET_ANYWHERE"], {}, "--bearer-env NOT_SET_ANYWHERE: the environment variable"),
        (["--basic-auth-env", "CREDS"], {"CREDS": "no-colon"}, "--basic-auth-env CREDS: the variable must hold"),
        (["--oauth2-client-id", "x"], {}, "the --oauth2-* options go with --oauth2-token-url"),
        (["--oauth2-token-url", "ftp://x/"], {}, "a token endpoint is an https:// (or http://) URL"),
        (["--method", "BREW"], {}, "--method 'BREW': expected one of GET, HEAD"),
        (["--header", "X-Key"], {}, "--header 'X-Key': expected 'Name: value'"),
        (["--header", "Host: other"], {}, "ronda writes this header itself"),
        (["--json-body", "{oops"], {}, "--json-body: not JSON"),
        (["--graphql", "{ a }", "--method", "GET"], {}, "a GraphQL query is POSTed"),
        (["--data", "x", "--json-body", "{}"], {}, "not allowed with argument"),
    ],
    ids=[
        "unset variable",
        "basic without a colon",
        "oauth2 without its url",
        "oauth2 url not http",
        "unknown method",
        "header without value",
        "reserved header",
        "json body not json",
        "graphql by get",
        "two bodies",
    ],
)
def test_bad_request_options_exit_3_naming_the_option(repo_root, args, env, message):
    run = ronda_check(repo_root, "http://127.0.0.1:1/", *args, env=env)
    assert run.returncode == 3, run.stdout + run.stderr
    assert message in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_request_options_for_another_scheme_exit_3(repo_root):
    run = ronda_check(repo_root, "tcp://127.0.0.1:1", "--method", "POST")
    assert run.returncode == 3
    assert "go with an http:// or https:// target, not tcp://" in run.stdout


def test_over_https_the_token_endpoints_certificate_is_verified(api, pki, ca_file):
    server = api(tls=pki.server_context("api.test"))
    tokens = TokenEndpoint(server, "ronda", CLIENT_SECRET)
    tokens.protect("/v1/health", Answer(200, {"ok": True}))
    pins = {("api.test", server.port): ("127.0.0.1",)}
    url = server.url("/v1/health", host="api.test")
    request = HttpRequest(auth=OAuth2(server.url("/token", host="api.test"), "ronda", CLIENT_SECRET))
    verdict = check_with(url, request, ProbeContext(clock=Clock()), ca_file=ca_file, resolve=pins)
    assert verdict.status == "up", verdict.summary
    untrusted = api(tls=pki.self_signed_context("auth.test"))
    untrusted.route("/token", Answer(200, {"access_token": "never-used", "token_type": "Bearer"}))
    pins[("auth.test", untrusted.port)] = ("127.0.0.1",)
    request = HttpRequest(auth=OAuth2(untrusted.url("/token", host="auth.test"), "ronda", CLIENT_SECRET))
    verdict = check_with(url, request, ProbeContext(clock=Clock()), ca_file=ca_file, resolve=pins)
    assert (verdict.status, verdict.cause) == ("down", "cert_untrusted")
    assert verdict.summary.startswith(f"OAuth2 token endpoint https://auth.test:{untrusted.port}/token: ")
    assert len(server.requests_to("/v1/health")) == 1  # the API is not called without a token
