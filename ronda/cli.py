"""The command line: parse, call, print, exit code. Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from ronda import __version__, defaults, eventloop
from ronda.errors import ConfigError, RondaError, ServiceError, UsageError
from ronda.httpspec import (
    Auth,
    BearerAuth,
    HttpRequest,
    OAuth2,
    basic_from_env,
    check_pattern,
    form_body,
    graphql_body,
    parse_form_field,
    parse_header,
    parse_header_check,
    parse_json_body,
    parse_json_check,
    parse_method,
    parse_size,
    parse_status_ranges,
    parse_token_url,
    request_header,
    secret_from_env,
    text_body,
)
from ronda.plugin import UNKNOWN, exit_code, first_line, unknown_line
from ronda.schemes import spelled_out
from ronda.target import (
    CheckOptions,
    Expectations,
    parse_nameserver,
    parse_resolve,
    parse_subprotocol,
    parse_target,
)
from ronda.verdict import Verdict


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN), as a monitoring plugin must, not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(unknown_line(f"usage: {message}"))
        raise SystemExit(UNKNOWN)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ronda", description="Watch everything an online service depends on.")
    parser.add_argument("--version", action="version", version=f"ronda {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="check one target once (a Nagios/Icinga plugin)")
    check.add_argument(
        "target",
        help=f"a URL: {spelled_out()}",  # statuspage+http(s)://: a vendor's status page
    )
    check.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    check.add_argument("--ca-file", metavar="PATH", help="trust this PEM bundle besides the system store")
    check.add_argument(
        "--resolve",
        metavar="HOST:PORT:ADDR[,ADDR...]",
        action="append",
        default=[],
        help="use these addresses for HOST:PORT (repeatable)",
    )
    check.add_argument("--nameserver", metavar="ADDR[:PORT]", help="resolve through this DNS server")
    check.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=defaults.TIMEOUT,
        help=f"whole-check budget (default {defaults.TIMEOUT:g})",
    )
    check.add_argument(
        "--warn-days",
        metavar="N",
        type=_positive_float,
        default=defaults.CERT_WARN_DAYS,
        help=f"certificate warning threshold (default {defaults.CERT_WARN_DAYS:g},"
        " or a quarter of the lifetime if shorter)",
    )
    check.add_argument(
        "--expect-status", metavar="STATUS", help="the HTTP status the answer must have: 200, 2xx, 200-299, 200,204"
    )
    check.add_argument("--expect-text", metavar="TEXT", help="text the body (ws://: the reply) must contain")
    check.add_argument("--send", metavar="TEXT", help="ws://, wss://: send this text message once connected")
    check.add_argument(
        "--subprotocol", metavar="NAME", help="ws://, wss://: ask for this subprotocol (Sec-WebSocket-Protocol)"
    )
    check.add_argument(
        "--max-latency", metavar="SECONDS", type=_positive_float, help="slower than this is degraded (slow_response)"
    )
    _add_http_arguments(check)
    check.add_argument("--subresources", action="store_true", help="also check every host the page loads assets from")
    check.add_argument(
        "--screenshot",
        metavar="FILE",
        help="browser+https://: write the failing page's screenshot (JPEG) here, when the check takes one",
    )
    check.add_argument(
        "--subresource-hosts",
        metavar="N",
        type=int,
        default=defaults.SUBRESOURCE_HOSTS,
        help=f"check at most N asset hosts (default {defaults.SUBRESOURCE_HOSTS})",
    )
    check.add_argument("--cert", metavar="PATH", help="client certificate (PEM, key included or --key) for mutual TLS")
    check.add_argument("--key", metavar="PATH", help="the client certificate's private key")
    check.add_argument(
        "--deployed-from",
        metavar="PATH",
        help="where renewal writes the certificate: a newer one there than the server serves is cert_not_deployed",
    )
    check.add_argument(
        "--acme-directory",
        metavar="URL",
        help="the CA's ACME directory: its renewal window (ARI, RFC 9773) decides cert_renewal_overdue",
    )

    run = commands.add_parser("run", help="watch the monitors of a config file and serve the API")
    run.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    run.add_argument(
        "--check-config",
        action="store_true",
        help="read and check the config, say what it sets up, and exit (0: usable, 3: not); nothing is started",
    )

    init = commands.add_parser("init", help="write a starter config for your own sites, commented section by section")
    init.add_argument(
        "file", nargs="?", default=DEFAULT_CONFIG, metavar="FILE", help=f"where (default {DEFAULT_CONFIG})"
    )
    init.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="URL",
        help="a site or service to watch, such as https://shop.example.com/ (repeatable); none: commented examples",
    )
    init.add_argument("--force", action="store_true", help="replace FILE if it exists")

    certs = commands.add_parser("certs", help="list every certificate seen, soonest expiry first")
    source = certs.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="read the storage named in this config")
    source.add_argument("--storage", metavar="URL", help="read this database (sqlite:///ronda.db, postgresql://...)")
    output = certs.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array")
    output.add_argument("--csv", action="store_true", help="print CSV, one row per certificate and place")

    _add_user_commands(commands)
    _add_agent_commands(commands)

    from ronda.discover.command import add_arguments as discover_arguments

    discover_arguments(commands.add_parser("discover", help="find ONVIF devices on the local network (WS-Discovery)"))

    demo = commands.add_parser("demo", help="start a local world of breaking services, watched by ronda")
    demo.add_argument("--listen", default="127.0.0.1:8080", metavar="ADDR:PORT", help="where the API listens")
    demo.add_argument("--data", metavar="DIR", help="keep the demo's database here (default: a temporary folder)")
    demo.add_argument(
        "--duration", type=_positive_float, metavar="SECONDS", help="stop after this long (default: run until Ctrl-C)"
    )
    demo.add_argument(
        "--cycle",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how long one round of outages and recoveries takes (default 60)",
    )
    demo.add_argument(
        "--interval",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="how often ronda checks each service (default 2)",
    )
    demo.add_argument("--no-browser", action="store_true", help="do not open the dashboard in the desktop's browser")
    return parser


def _add_http_arguments(check: argparse.ArgumentParser) -> None:
    """http(s)://: what to send and what else the answer must show (docs/http.md); the
    config's `request:` and `expect:` keys of the same names."""
    http = check.add_argument_group("http(s) requests and assertions (docs/http.md)")
    http.add_argument("--method", metavar="METHOD", help="GET (the default), HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
    http.add_argument("--header", metavar="'NAME: VALUE'", action="append", default=[], help="send this header")
    http.add_argument(
        "--header-env", metavar="'NAME: VAR'", action="append", default=[], help="send this header, its value from VAR"
    )
    body = http.add_mutually_exclusive_group()
    body.add_argument("--data", metavar="TEXT", help="send this text as the body (text/plain unless --header says)")
    body.add_argument("--json-body", metavar="JSON", help="send this JSON as the body (application/json)")
    body.add_argument("--form", metavar="NAME=VALUE", action="append", help="send a form field (repeatable)")
    body.add_argument("--graphql", metavar="QUERY", help="POST this GraphQL query; an answer with errors fails")
    http.add_argument("--graphql-variables", metavar="JSON", help="the GraphQL query's variables, a JSON object")
    auth = http.add_mutually_exclusive_group()
    auth.add_argument("--basic-auth-env", metavar="VAR", help="HTTP Basic credentials from VAR, as USER:PASSWORD")
    auth.add_argument("--bearer-env", metavar="VAR", help="a bearer token from VAR")
    auth.add_argument("--oauth2-token-url", metavar="URL", help="OAuth2 client credentials: the token endpoint")
    http.add_argument("--oauth2-client-id", metavar="ID", help="OAuth2: the client's id")
    http.add_argument("--oauth2-secret-env", metavar="VAR", help="OAuth2: the client's secret, from VAR")
    http.add_argument("--oauth2-scope", metavar="SCOPE", help="OAuth2: the scope to ask for")
    http.add_argument("--oauth2-audience", metavar="AUDIENCE", help="OAuth2: the audience to ask for")
    http.add_argument(
        "--oauth2-client-auth", choices=("basic", "post"), help="OAuth2: the secret in HTTP Basic (default) or the form"
    )
    http.add_argument("--no-follow-redirects", action="store_true", help="judge a redirect itself, not where it leads")
    http.add_argument(
        "--http2", action="store_true", help="https://: offer HTTP/2, and speak it where the server chooses it"
    )
    http.add_argument(
        "--expect-header",
        metavar="RULE",
        action="append",
        default=[],
        help="a header the answer must have: Name, !Name (absent), 'Name: value', 'Name ~ regex' (repeatable)",
    )
    http.add_argument("--expect-no-text", metavar="TEXT", help="text the body must not contain")
    http.add_argument("--expect-regex", metavar="REGEX", help="a regular expression (RE2) the body must match")
    http.add_argument("--expect-no-regex", metavar="REGEX", help="a regular expression (RE2) the body must not match")
    http.add_argument(
        "--json-path",
        "--expect-json",
        dest="json_path",
        metavar="EXPR",
        action="append",
        default=[],
        help="a JMESPath and what it must give: 'status.ok == true', 'length(items) >= 1' (repeatable)",
    )
    http.add_argument("--max-size", metavar="SIZE", help="the body may be at most this large: 65536, 64KiB, 1MB")
    http.add_argument("--min-size", metavar="SIZE", help="the body must be at least this large")


DEFAULT_CONFIG = "ronda.yaml"  # ronda.config.starter.DEFAULT_FILE, without importing the config at start
ROLE_NAMES = ("viewer", "editor", "admin")  # ronda.storage.accounts.ROLES, without importing storage at start


def _storage_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="use the storage named in this config")
    source.add_argument("--storage", metavar="URL", help="use this database (sqlite:///ronda.db, postgresql://...)")


def _add_user_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    user = commands.add_parser("user", help="the dashboard's users: add, list, set a password or a role")
    actions = user.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = actions.add_parser("add", help="add a user (asks for the password twice, or reads it from stdin)")
    add.add_argument("name")
    given = add.add_mutually_exclusive_group()
    given.add_argument(
        "--role",
        choices=ROLE_NAMES,
        default="viewer",
        help="viewer reads (the default); editor also changes monitors and incidents; admin also manages users",
    )
    given.add_argument("--admin", action="store_const", dest="role", const="admin", help="the same as --role admin")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    _storage_options(add)
    _storage_options(actions.add_parser("list", help="list the users"))
    passwd = actions.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    _storage_options(passwd)
    role = actions.add_parser("role", help="give a user another role (their tokens are capped at it at once)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLE_NAMES)
    _storage_options(role)


def _add_agent_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    agent = commands.add_parser("agent", help="run a probe agent: check what a hub assigns, send it the verdicts")
    agent.add_argument("--hub", required=True, metavar="URL", help="the hub's address: https://ronda.example")
    token = agent.add_mutually_exclusive_group()
    token.add_argument("--token", metavar="TOKEN", help="this agent's token (or RONDA_AGENT_TOKEN, or --token-file)")
    token.add_argument("--token-file", metavar="FILE", help="read the token from this file's first line")
    agent.add_argument("--region", metavar="REGION", help="the region it is in (the hub goes by the token's)")
    agent.add_argument("--name", metavar="NAME", help="its name (the hub goes by the token's)")
    agent.add_argument(
        "--data",
        default="ronda-agent",
        metavar="DIR",
        help="where verdicts wait while the hub is away (default ./ronda-agent)",
    )
    agent.add_argument("--max-buffer", default="256MiB", metavar="SIZE", help="at most this much kept there")
    agent.add_argument(
        "--canary",
        action="append",
        default=[],
        metavar="URL",
        help="a target that works whenever this agent's own network does (repeatable)",
    )
    agent.add_argument("--hub-ca", metavar="FILE", help="trust the hub's certificate from this CA file")

    agents = commands.add_parser("agents", help="the hub's probe agents: add (a token), list, revoke")
    actions = agents.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = actions.add_parser("add", help="add an agent: prints its token, once")
    add.add_argument("name")
    add.add_argument("--region", required=True, help="the region it checks from, such as eu-south")
    _storage_options(add)
    _storage_options(actions.add_parser("list", help="list the agents, with when each was last heard from"))
    revoke = actions.add_parser("revoke", help="revoke an agent's token: the hub refuses it from its next call")
    revoke.add_argument("name")
    _storage_options(revoke)


def _check_options(args: argparse.Namespace) -> CheckOptions:
    resolve = dict(parse_resolve(entry) for entry in args.resolve)
    return CheckOptions(
        timeout=args.timeout,
        ca_file=args.ca_file,
        client_cert=args.cert,
        client_key=args.key,
        deployed_from=args.deployed_from,
        acme_directory=args.acme_directory,
        send=args.send,
        subprotocol=parse_subprotocol(args.subprotocol) if args.subprotocol is not None else None,
        resolve=resolve,
        nameserver=parse_nameserver(args.nameserver) if args.nameserver else None,
        warn_days=args.warn_days,
        expect=_expectations(args),
        subresources=args.subresources,
        subresource_hosts=args.subresource_hosts,
        request=_http_request(args, os.environ),
    )


def _expectations(args: argparse.Namespace) -> Expectations:
    status = args.expect_status
    return Expectations(
        status=None if status is None else int(status) if status.isdigit() else parse_status_ranges(status),
        text=args.expect_text,
        max_latency=args.max_latency,
        no_text=args.expect_no_text,
        regex=None if args.expect_regex is None else check_pattern(args.expect_regex, "--expect-regex"),
        no_regex=None if args.expect_no_regex is None else check_pattern(args.expect_no_regex, "--expect-no-regex"),
        headers=tuple(parse_header_check(rule) for rule in args.expect_header),
        json_paths=tuple(parse_json_check(text) for text in args.json_path),
        max_size=None if args.max_size is None else parse_size(args.max_size, "--max-size"),
        min_size=None if args.min_size is None else parse_size(args.min_size, "--min-size"),
    )


def _http_request(args: argparse.Namespace, environ: Mapping[str, str]) -> HttpRequest | None:
    """The request the http(s) options describe; None when none is given (a plain GET)."""
    headers = [parse_header(text) for text in args.header]
    for text in args.header_env:
        name, variable = parse_header(text, "--header-env")
        headers.append(
            request_header(name, secret_from_env(variable, environ, f"--header-env {name}:"), "--header-env")
        )
    body, content_type = _body(args)
    request = HttpRequest(
        method=parse_method(args.method) if args.method else "POST" if args.graphql else "GET",
        headers=tuple(headers),
        body=body,
        content_type=content_type,
        auth=_auth(args, environ),
        follow_redirects=not args.no_follow_redirects,
        graphql=args.graphql is not None,
        http2=args.http2,
    )
    if args.graphql is not None and request.method != "POST":
        raise UsageError("--graphql: a GraphQL query is POSTed; leave --method out, or write POST")
    return None if request == HttpRequest() else request


def _body(args: argparse.Namespace) -> tuple[bytes | None, str | None]:
    if args.graphql_variables is not None and args.graphql is None:
        raise UsageError("--graphql-variables goes with --graphql")
    if args.graphql is not None:
        try:
            variables = json.loads(args.graphql_variables) if args.graphql_variables else None
        except ValueError as exc:
            raise UsageError(f"--graphql-variables: not JSON ({exc})") from None
        if variables is not None and not isinstance(variables, dict):
            raise UsageError("--graphql-variables: expected a JSON object")
        return graphql_body(args.graphql, variables)
    if args.data is not None:
        return text_body(args.data)
    if args.json_body is not None:
        return parse_json_body(args.json_body)
    if args.form:
        return form_body([parse_form_field(text) for text in args.form])
    return None, None


def _auth(args: argparse.Namespace, environ: Mapping[str, str]) -> Auth | None:
    oauth = (args.oauth2_client_id, args.oauth2_secret_env, args.oauth2_scope, args.oauth2_audience)
    if args.oauth2_token_url is None and any(value is not None for value in (*oauth, args.oauth2_client_auth)):
        raise UsageError("the --oauth2-* options go with --oauth2-token-url")
    if args.basic_auth_env:
        return basic_from_env(args.basic_auth_env, environ)
    if args.bearer_env:
        return BearerAuth(secret_from_env(args.bearer_env, environ, "--bearer-env"))
    if args.oauth2_token_url is None:
        return None
    token_url = parse_token_url(args.oauth2_token_url)
    if not args.oauth2_client_id or not args.oauth2_secret_env:
        raise UsageError("--oauth2-token-url needs --oauth2-client-id and --oauth2-secret-env")
    return OAuth2(
        token_url,
        args.oauth2_client_id,
        secret_from_env(args.oauth2_secret_env, environ, "--oauth2-secret-env"),
        args.oauth2_scope,
        args.oauth2_audience,
        args.oauth2_client_auth or "basic",
    )


def _cmd_check(args: argparse.Namespace) -> int:
    from ronda.check import run_check
    from ronda.details import print_detail
    from ronda.probes import misplaced_options
    from ronda.probes.base import ProbeContext

    options = _check_options(args)
    target = parse_target(args.target)
    misplaced = _misplaced_http_options(target.scheme, options) or misplaced_options(target.scheme, options)
    if misplaced:
        raise UsageError(misplaced)
    if args.screenshot and not target.scheme.startswith("browser+"):
        raise UsageError(f"--screenshot goes with a browser+https:// or browser+http:// target, not {target.scheme}://")
    context = ProbeContext()
    # Built now, and kept for the check: a bad CA or client certificate file is bad input
    # (exit 3) whatever the target, and the trust store is loaded once.
    context.tls.verifying(options.tls_client)
    verdict = eventloop.run(run_check(target, options, context))
    _keep_screenshot(verdict, args.screenshot)
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(first_line(verdict, options))
        print_detail(verdict)
    return exit_code(verdict)


def _keep_screenshot(verdict: Verdict, path: str | None) -> None:
    """The screenshot a browser check took, written to `path` (--screenshot), and out of what
    is printed: the verdict says where it went (`file`), or that none was kept, never its bytes."""
    from ronda.probes.screenshot import image_of

    browser = verdict.facts.get("browser") or {}
    shot = browser.get("screenshot")
    if not isinstance(shot, dict):
        return
    image = image_of(shot)
    shot.pop("data", None)
    if path is None or image is None:
        return
    try:
        Path(path).write_bytes(image)
    except OSError as exc:
        shot["error"] = f"could not be written to {path}: {exc.strerror or exc}"
        return
    shot["file"] = str(Path(path).resolve())


def _misplaced_http_options(scheme: str, options: CheckOptions) -> str | None:
    """Words for http(s) options given for a target whose answer is no HTTP answer, or None."""
    from ronda.probes import PROBES

    record = PROBES[scheme]
    given = [] if record.http_answer else [_HTTP_FLAGS[key] for key in options.expect.http_only()]
    if options.request is not None and "request" not in record.options:
        given.insert(0, "the request options (--method, --header, --data, credentials, --http2, ...)")
    if not given:
        return None
    return f"{' and '.join(given)} go with an http:// or https:// target, not {scheme}://"


# Expectations' keys only an HTTP answer meets, as `ronda check` spells them.
_HTTP_FLAGS = {
    "no_text": "--expect-no-text",
    "regex": "--expect-regex",
    "no_regex": "--expect-no-regex",
    "headers": "--expect-header",
    "json_paths": "--json-path",
    "max_size": "--max-size",
    "min_size": "--min-size",
}


def _cmd_run(args: argparse.Namespace) -> int:
    if args.check_config:
        return _check_config(args.config)
    from ronda.config.load import load_config
    from ronda.memory import Trimmer, limit_arenas, made_apart
    from ronda.node.runner import serve

    # Before any thread starts: the arenas of threads made later are the ones limited.
    limit_arenas()
    config = made_apart(load_config, args.config)
    trimmer = Trimmer().start()
    try:
        return serve(config, args.config)
    finally:
        trimmer.stop()


def _check_config(path: str) -> int:
    """The config loaded as `ronda run` loads it (a ConfigError exits 3 the same way), and
    what it sets up; no database is opened, no address bound, no check made."""
    import shlex

    from ronda.config.load import load_config
    from ronda.config.summary import config_summary
    from ronda.invocation import command_name

    for line in config_summary(load_config(path), path):
        print(line)
    print(f"nothing was started; to watch: {command_name()} run --config {shlex.quote(path)}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    import shlex

    from ronda.config.starter import DEFAULT_LISTEN, starter_monitors, write_starter
    from ronda.invocation import command_name

    monitors = starter_monitors(args.url)
    write_starter(Path(args.file), monitors, force=args.force)
    ronda, config = command_name(), shlex.quote(args.file)  # lines that work when pasted
    watched = ", ".join(monitor.name for monitor in monitors)
    print(f"wrote {args.file}: " + (f"monitors {watched}" if monitors else "no monitors yet, commented examples"))
    print("next:")
    print(f"  1. edit {args.file}: your sites under monitors:, whom to tell under notify: (each section says how)")
    print(f"  2. {ronda} run --check-config --config {config}    (checks it, starts nothing)")
    print(f"  3. {ronda} run --config {config}    (watches; the dashboard is http://{DEFAULT_LISTEN}/,")
    print("     and the first start prints the password of the user admin)")
    return 0


def _storage_url(args: argparse.Namespace) -> str:
    """--storage URL, or the storage of --config FILE."""
    if args.config:
        from ronda.config.load import load_config

        return load_config(args.config).storage
    return str(args.storage)


def _cmd_certs(args: argparse.Namespace) -> int:
    from ronda.clock import system_clock
    from ronda.details import inventory_csv, print_inventory
    from ronda.storage.database import Database
    from ronda.web.shapes import certificate_json

    store = Database(_storage_url(args))
    try:
        # The API's JSON, so a script reads the same either way.
        entries = [certificate_json(c) for c in store.certificates.inventory(system_clock())]
    finally:
        store.close()
    if args.json:
        print(json.dumps(entries, indent=2))
    elif args.csv:
        print(inventory_csv(entries), end="")
    else:
        print_inventory(entries)
    return 0


def _read_password(from_stdin: bool) -> str:
    """Typed twice without echo at a terminal; else stdin's first line (for scripts)."""
    import getpass

    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UsageError("the two passwords differ")
    return password


def _cmd_user(args: argparse.Namespace) -> int:
    from ronda.storage.accounts import AccountError, role_of
    from ronda.storage.database import Database
    from ronda.verdict import iso

    store = Database(_storage_url(args))
    try:
        accounts = store.accounts
        if args.action == "list":
            for entry in accounts.users():
                user, last = entry.user, entry.last_login_at
                flags = " ".join(flag for flag, on in (("totp", user.totp),) if on)
                print(f"{user.username}\t{user.role}\t{flags or '-'}\tlast login {iso(last) if last else 'never'}")
        elif args.action == "add":
            accounts.add_user(args.name, _read_password(args.password_stdin), role_of(args.role))
            print(f"added the {args.role} {args.name}")
        elif args.action == "role":
            accounts.set_role(args.name, args.role)
            print(f"{args.name} is now {'an' if args.role[0] in 'aeiou' else 'a'} {args.role}")
        else:
            accounts.set_password(args.name, _read_password(args.password_stdin))
            print(f"new password for {args.name}; their sessions have ended")
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    return 0


def _agent_token(args: argparse.Namespace) -> str:
    """--token, --token-file or RONDA_AGENT_TOKEN (a file or the environment keep it out of
    the process list)."""
    if args.token_file:
        try:
            return Path(args.token_file).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise UsageError(f"--token-file {args.token_file}: cannot read a token ({exc})") from None
    token = args.token or os.environ.get("RONDA_AGENT_TOKEN", "")
    if not token:
        raise UsageError("an agent needs its token: --token, --token-file or RONDA_AGENT_TOKEN")
    return str(token)


def _cmd_agent(args: argparse.Namespace) -> int:
    from pydantic import ByteSize, TypeAdapter, ValidationError

    from ronda.agent.runner import AgentSettings, serve_agent

    if not args.hub.startswith(("http://", "https://")):
        raise UsageError(f"--hub {args.hub}: expected the hub's http:// or https:// address")
    try:
        max_buffer = int(TypeAdapter(ByteSize).validate_python(args.max_buffer))
    except ValidationError:
        raise UsageError(f"--max-buffer {args.max_buffer}: expected a size such as 256MiB") from None
    for url in args.canary:
        parse_target(url)  # a bad canary is bad input now, not a silent agent later
    settings = AgentSettings(
        hub=args.hub,
        token=_agent_token(args),
        data=Path(args.data),
        name=args.name,
        region=args.region,
        canaries=args.canary,
        hub_ca=args.hub_ca,
        max_buffer=max_buffer,
    )
    return serve_agent(settings)


def _cmd_agents(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from ronda.clock import system_clock
    from ronda.config.load import load_config
    from ronda.config.schema import AgentTimes
    from ronda.service.agent_hub import agent_state
    from ronda.storage.agents import AgentError
    from ronda.storage.database import Database
    from ronda.verdict import iso

    store = Database(_storage_url(args))
    try:
        agents = store.agents
        if args.action == "add":
            secret, agent = agents.add(args.name, args.region)
            print(f"added the agent {agent.name} in {agent.region}; its token (shown once):")
            print(secret)
        elif args.action == "revoke":
            if agents.revoke(args.name) is None:
                raise UsageError(f"no agent named {args.name!r}")
            print(f"revoked {args.name}: the hub refuses it from its next call")
        else:
            now = system_clock()
            times = load_config(args.config).agents if args.config else AgentTimes()
            silent_after = timedelta(seconds=times.silent_after)
            for agent in agents.all():
                seen = iso(agent.last_seen_at) if agent.last_seen_at else "never"
                state = agent_state(agent, now, silent_after)
                print(f"{agent.name}\t{agent.region}\t{state}\tlast seen {seen}\t{agent.prefix}…")
    except AgentError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from ronda.discover.command import run

    return run(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ronda.demo.main import run_demo

    return run_demo(
        listen=args.listen,
        data_dir=args.data,
        duration=args.duration,
        cycle=args.cycle,
        interval=args.interval,
        browser=not args.no_browser,
    )


COMMANDS = {
    "check": _cmd_check,
    "run": _cmd_run,
    "init": _cmd_init,
    "certs": _cmd_certs,
    "user": _cmd_user,
    "agent": _cmd_agent,
    "agents": _cmd_agents,
    "discover": _cmd_discover,
    "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"ronda: config error: {exc}", file=sys.stderr)
        return UNKNOWN
    except ServiceError as exc:
        print(f"ronda: {exc}", file=sys.stderr)
        return 1
    except (UsageError, RondaError) as exc:
        print(unknown_line(str(exc)))
        return UNKNOWN
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read the output went away (`ronda run --check-config | head`): the rest is
        # unread, not an error. Python's own advice: point stdout at nothing, so the flush at
        # exit does not fail again, and end as a process that SIGPIPE ended would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
