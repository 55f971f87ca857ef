"""From nothing to a config of one's own: `ronda init` writes a commented starter file that
ronda's own loader takes, and `ronda run --check-config` reads a config as `ronda run` does
and says what it sets up, or what is wrong and where, starting nothing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ronda.cli import build_parser, main
from ronda.config.load import load_config
from ronda.invocation import command_name

UNKNOWN = 3
TOKEN = "a-token-of-sixteen-chars-or-more"

# A commented line of the starter that is a line of config once its `# ` goes: a key and its
# value (`# token: ${RONDA_TOKEN}`, `#     cron: "0 2 * * *"`) or an item of a list
# (`#   - ntfy://...`). Prose never starts with a lower-case key and a colon.
EXAMPLE_LINE = re.compile(r"^(\s*)# (\s*(?:(?:- )?[a-z_]+:(?: |$)|- [a-z+]+://))")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`ronda ARGV` as a user types it: its exit status, what it printed and its errors."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def uncommented(text: str) -> str:
    """The starter with every commented example taken in, as a person would uncomment it."""
    return "".join(EXAMPLE_LINE.sub(r"\1\2", line, count=1) for line in text.splitlines(keepends=True))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of the user's own, the working directory of the commands."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- ronda init --------------------------------------------------------------------------------


def test_init_writes_ronda_yaml_that_loads_and_says_what_to_do_next(capsys, folder):
    code, out, _ = run(capsys, "init")
    assert code == 0
    config = load_config(str(folder / "ronda.yaml"), {})
    assert config.monitors == [], "no sites given: the examples are comments"
    assert "# monitors:" in (folder / "ronda.yaml").read_text()
    assert "wrote ronda.yaml" in out
    assert "run --check-config --config ronda.yaml" in out
    assert "run --config ronda.yaml" in out


def test_init_with_urls_watches_those_sites_named_after_their_hosts(capsys, folder):
    code, out, _ = run(
        capsys, "init", "mine.yaml", "--url", "https://shop.example.com/", "--url", "blog.example.com",
        "--url", "tcp://db.example.com:5432", "--url", "https://shop.example.com:8443/admin",
    )  # fmt: skip
    assert code == 0
    config = load_config(str(folder / "mine.yaml"), {})
    assert [(m.name, m.url) for m in config.monitors] == [
        ("shop.example.com", "https://shop.example.com/"),
        ("blog.example.com", "https://blog.example.com/"),  # typed without a scheme: https
        ("db.example.com-5432", "tcp://db.example.com:5432"),
        ("shop.example.com-8443", "https://shop.example.com:8443/admin"),
    ]
    assert "wrote mine.yaml: monitors shop.example.com, blog.example.com" in out


def test_two_urls_of_one_host_get_names_of_their_own(capsys, folder):
    assert run(capsys, "init", "--url", "https://a.example/one", "--url", "https://a.example/two")[0] == 0
    names = [m.name for m in load_config(str(folder / "ronda.yaml"), {}).monitors]
    assert names == ["a.example", "a.example-2"]


@pytest.mark.parametrize("urls", [[], ["https://shop.example.com/", "tcp://db.example.com:5432"]])
def test_every_commented_example_loads_once_uncommented(capsys, folder, ca_file, urls):
    """The comments are the map of what can be said: each is a real key with a real value."""
    run(capsys, "init", *[arg for url in urls for arg in ("--url", url)])
    shutil.copy(ca_file, folder / "my-ca.pem")
    text = uncommented((folder / "ronda.yaml").read_text())
    (folder / "all.yaml").write_text(text)
    config = load_config(str(folder / "all.yaml"), {"RONDA_TOKEN": TOKEN, "SMTP_PASSWORD": "secret"})
    assert config.server.token == TOKEN and config.server.public_url and config.server.trusted_proxies
    assert config.defaults.ca_file == str(folder / "my-ca.pem")
    assert [channel.name for channel in config.notify] == ["notify[0]", "me"]
    assert {monitor.kind for monitor in config.monitors} == {"check", "push"}
    assert [page.slug for page in config.status_pages] == ["public"]
    assert [window.name for window in config.maintenance] == ["nightly backup"]
    assert len(config.monitors) == len(urls or ["shop"]) + 3  # and mail, database, nightly-backup


def test_the_starter_is_the_owners_alone(capsys, folder):
    """Notification URLs written into it carry passwords."""
    run(capsys, "init")
    assert stat.S_IMODE((folder / "ronda.yaml").stat().st_mode) == 0o600


def test_init_never_overwrites_a_config_unless_forced(capsys, folder):
    (folder / "ronda.yaml").write_text("monitors: []  # mine\n")
    code, out, _ = run(capsys, "init", "--url", "https://shop.example.com/")
    assert code == UNKNOWN
    assert "ronda.yaml exists already" in out and "--force" in out
    assert (folder / "ronda.yaml").read_text() == "monitors: []  # mine\n"

    assert run(capsys, "init", "--force", "--url", "https://shop.example.com/")[0] == 0
    assert [m.name for m in load_config(str(folder / "ronda.yaml"), {}).monitors] == ["shop.example.com"]


def test_a_url_ronda_cannot_watch_writes_nothing(capsys, folder):
    code, out, _ = run(capsys, "init", "--url", "ftp://files.example.com/")
    assert code == UNKNOWN
    assert "unsupported scheme ftp://" in out
    assert not (folder / "ronda.yaml").exists()


def test_the_next_steps_name_ronda_as_the_shell_finds_it(tmp_path, monkeypatch):
    """Pasted into a shell, the printed commands must run this ronda."""
    program = tmp_path / "venv" / "bin" / "ronda"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    on_path = tmp_path / "local-bin"
    on_path.mkdir()
    (on_path / "ronda").symlink_to(program)
    assert command_name(str(program), search_path=str(on_path)) == "ronda"
    assert command_name(str(program), search_path=str(tmp_path / "empty")) == str(program)
    monkeypatch.chdir(tmp_path)  # started as venv/bin/ronda: printed whole, for any folder
    assert command_name("venv/bin/ronda", search_path="") == str(program)


# --- ronda run --check-config -------------------------------------------------------------------


def test_check_config_sums_up_a_config_and_starts_nothing(capsys, folder):
    run(capsys, "init", "--url", "https://shop.example.com/", "--url", "tcp://db.example.com:5432")
    code, out, _ = run(capsys, "run", "--config", "ronda.yaml", "--check-config")
    assert code == 0
    assert "ronda.yaml: no problems found" in out
    assert "monitors: 2 (2 checked): shop.example.com, db.example.com-5432" in out
    assert "notify: no channel" in out
    assert "status pages: none set: /status shows every monitor" in out
    assert f"storage: sqlite:///{folder / 'ronda.db'}" in out
    assert "run --config ronda.yaml" in out
    assert not (folder / "ronda.db").exists(), "no database made or opened"
    assert sorted(path.name for path in folder.iterdir()) == ["ronda.yaml"]


def test_check_config_names_channels_pages_and_storage_without_their_secrets(capsys, folder, monkeypatch):
    monkeypatch.setenv("RONDA_DB_PASSWORD", "db-secret-123")
    (folder / "ronda.yaml").write_text(
        "storage: postgresql://ronda:${RONDA_DB_PASSWORD}@db.example.com/ronda\n"
        "notify:\n"
        "  - name: ops\n"
        "    url: mailtos://ops:mail-secret-456@smtp.example.com?to=ops@example.com\n"
        "  - json://127.0.0.1:9000/hook\n"
        "monitors:\n"
        "  - {name: shop, url: 'https://shop.example.com/', tags: [public]}\n"
        "  - {name: backup, kind: push, period: 1d}\n"
        "status_pages:\n"
        "  - {slug: public, title: Our services, tags: [public]}\n"
        "  - slug: customers\n    title: Customers\n"
        "    subscribe:\n      email: 'mailtos://u:mail-secret-789@smtp.example.com?from=status@example.com'\n"
        "      webhooks: true\n"
        "    announce: [{url: 'json://127.0.0.1:9000/town', approve: true}]\n"
    )
    code, out, _ = run(capsys, "run", "--check-config", "--config", "ronda.yaml")
    assert code == 0
    assert "monitors: 2 (1 checked, 1 push): shop, backup" in out
    assert "notify: 2 channels: ops (mailtos://smtp.example.com), notify[1] (json://127.0.0.1)" in out
    assert "status pages: /status/public (Our services), /status/customers (Customers; subscribers by e-mail" in out
    assert "and webhook; 1 public channel(s), 1 approved by hand)" in out
    assert "mail-secret-789" not in out
    assert "storage: postgresql://ronda:***@db.example.com/ronda" in out
    assert "db-secret-123" not in out and "mail-secret-456" not in out


def test_check_config_names_the_file_line_and_field_of_each_problem(capsys, folder):
    (folder / "ronda.yaml").write_text(
        "defaults:\n  interval: soon\nmonitors:\n  - name: shop\n    url: https://shop.example.com/\n    tiemout: 5s\n"
    )
    code, out, err = run(capsys, "run", "--check-config", "--config", "ronda.yaml")
    assert code == UNKNOWN
    assert out == ""
    assert "ronda.yaml:2: defaults.interval: expected a duration such as 500ms, 30s, 5m or 1h" in err
    assert "ronda.yaml:6: monitors[0].tiemout: unknown key (check its spelling)" in err
    assert not (folder / "ronda.db").exists()


def test_check_config_says_which_environment_variable_is_missing(capsys, folder, monkeypatch):
    monkeypatch.delenv("RONDA_TOKEN", raising=False)
    run(capsys, "init")
    text = (folder / "ronda.yaml").read_text()
    assert "  # token: ${RONDA_TOKEN}\n" in text
    (folder / "ronda.yaml").write_text(text.replace("  # token: ${RONDA_TOKEN}\n", "  token: ${RONDA_TOKEN}\n"))
    code, _, err = run(capsys, "run", "--check-config", "--config", "ronda.yaml")
    assert code == UNKNOWN
    assert re.search(r"ronda\.yaml:\d+: server\.token: environment variable RONDA_TOKEN is not set", err)


def test_check_config_of_a_missing_file_says_so(capsys, folder):
    code, _, err = run(capsys, "run", "--check-config", "--config", "nowhere.yaml")
    assert code == UNKNOWN
    assert "nowhere.yaml: cannot read the file" in err


# --- what README.md tells a new user to type ------------------------------------------------------

# `ronda ...` at the start of a line or after a venv's bin/, up to a comment or the subshell's end.
README_COMMAND = re.compile(r"(?:^|bin/)ronda ([^#)]*)")


def readme_section(repo_root: Path, title: str) -> str:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("title", ["Watch your own services", "Install and run for real"])
def test_the_readmes_commands_for_a_new_user_are_ronda_s_own(repo_root, title):
    """Each `ronda` line of these sections, read by ronda's own parser: an option renamed
    in the code and not in the README fails here."""
    commands = [
        shlex.split(match.group(1))
        for block in readme_section(repo_root, title).split("```sh\n")[1:]
        for line in block.split("```", 1)[0].splitlines()
        if (match := README_COMMAND.search(line))
    ]
    assert len(commands) >= 3
    for args in commands:
        if args == ["--version"]:
            continue  # argparse prints it and exits
        assert build_parser().parse_args(args).command in ("init", "run"), args


def test_check_config_read_by_a_reader_that_stops_early_ends_quietly(folder):
    """`ronda run --check-config | head -1`: the reader goes before ronda has written all."""
    (folder / "ronda.yaml").write_text("monitors:\n  - {name: shop, url: 'https://shop.example.com/'}\n")
    reader, writer = os.pipe()
    os.close(reader)  # gone before ronda writes a byte: its first write meets a closed pipe
    done = subprocess.run(
        [sys.executable, "-m", "ronda", "run", "--check-config", "--config", "ronda.yaml"],
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
        timeout=60,
    )
    os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 128 + 13  # as a process SIGPIPE ended
