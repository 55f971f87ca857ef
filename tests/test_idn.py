"""International host names, in either form: a URL, a `--resolve` entry and a config's
`resolve:` may each write `bücher.test` or `xn--bcher-kva.test`, and they meet each other
and the certificate's SAN (always punycode) as browsers would have them meet. Findings show
names readably."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ronda.config.load import load_config
from ronda.errors import UsageError
from ronda.node.runner import job_for
from ronda.target import parse_resolve, parse_target

UNICODE, PUNYCODE = "bücher.test", "xn--bcher-kva.test"
ADDRESS = "127.0.0.6"


@pytest.fixture
def bookshop(web, pki):
    """A server whose certificate names the shop as certificates do: in punycode."""
    return web(ADDRESS, tls=pki.server_context(PUNYCODE))


@pytest.mark.parametrize("url_host", [UNICODE, PUNYCODE, "Bücher.TEST"])
@pytest.mark.parametrize("resolve_host", [UNICODE, PUNYCODE])
def test_a_url_and_a_resolve_entry_meet_in_either_form(bookshop, check, url_host, resolve_host):
    verdict = check(
        f"https://{url_host}:{bookshop.port}/",
        resolve=dict([parse_resolve(f"{resolve_host}:{bookshop.port}:{ADDRESS}")]),
    )
    assert verdict.status == "up", verdict.summary
    assert verdict.certificates[0].sans == (PUNYCODE,)


def test_curl_agrees_that_the_unicode_url_matches_the_punycode_certificate(bookshop, ca_file):
    run = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "--noproxy",
            "*",
            "--max-time",
            "20",
            "--cacert",
            ca_file,
            "--resolve",
            f"{PUNYCODE}:{bookshop.port}:{ADDRESS}",
            f"https://{UNICODE}:{bookshop.port}/",
        ],
        capture_output=True,
        timeout=30,
        env={key: value for key, value in os.environ.items() if "proxy" not in key.lower()},
    )
    assert run.returncode == 0, run.stderr


def test_a_certificate_for_another_name_shows_both_forms_of_each(web, pki, check):
    server = web(ADDRESS, tls=pki.server_context(PUNYCODE))
    verdict = check(f"https://bucher.test:{server.port}/", resolve={("bucher.test", server.port): (ADDRESS,)})
    assert verdict.cause == "cert_hostname_mismatch"
    assert f"the certificate is for {UNICODE} ({PUNYCODE}), not bucher.test" in verdict.summary


def test_findings_name_an_international_host_readably(web, pki, check):
    server = web(ADDRESS, tls=pki.server_context("other.test"))
    verdict = check(f"https://{PUNYCODE}:{server.port}/", resolve={(PUNYCODE, server.port): (ADDRESS,)})
    assert verdict.cause == "cert_hostname_mismatch"
    assert verdict.summary.startswith(f"{UNICODE} at {ADDRESS}: the certificate is for other.test, not {UNICODE}")
    assert verdict.findings[0].host == PUNYCODE  # the field is the name as DNS and TLS use it


def test_the_command_line_takes_a_unicode_url_and_resolve_entry(bookshop, ca_file, repo_root):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ronda",
            "check",
            f"https://{UNICODE}:{bookshop.port}/",
            "--json",
            "--resolve",
            f"{UNICODE}:{bookshop.port}:{ADDRESS}",
            "--ca-file",
            ca_file,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo_root,
    )
    verdict = json.loads(run.stdout)
    assert (run.returncode, verdict["status"]) == (0, "up"), verdict["summary"]


def test_a_config_resolve_entry_in_punycode_serves_a_unicode_url(bookshop, ca_file, check, tmp_path: Path):
    path = tmp_path / "ronda.yaml"
    path.write_text(
        "monitors:\n"
        "  - name: books\n"
        f"    url: https://{UNICODE}:{bookshop.port}/\n"
        f"    ca_file: {ca_file}\n"
        f"    resolve: {{'{PUNYCODE}:{bookshop.port}': ['{ADDRESS}']}}\n",
        encoding="utf-8",
    )
    config = load_config(str(path))
    job = job_for(config.monitors[0], config)
    assert job.options.resolve == {(PUNYCODE, bookshop.port): (ADDRESS,)}
    verdict = check(config.monitors[0].url, resolve=job.options.resolve)
    assert verdict.status == "up", verdict.summary


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("https://bü cher.test/", "not a valid international domain name"),
        ("https://xn--bcher-kva.test\u200d.de/", "not a valid international domain name"),
    ],
    ids=["a space inside a unicode name", "a zero-width joiner"],
)
def test_a_name_idna_refuses_is_a_usage_error_naming_it(text, words):
    with pytest.raises(UsageError, match=words) as refused:
        parse_target(text)
    assert repr(text) in str(refused.value)


def test_a_resolve_entry_idna_refuses_names_the_entry():
    with pytest.raises(UsageError, match=re.escape("--resolve 'bü cher.test:443:127.0.0.1': 'bü cher.test' is not")):
        parse_resolve("bü cher.test:443:127.0.0.1")
