"""ssh:// against Debian's real OpenSSH server on loopback (a host key the test makes, a free
port): the banner and the host key read without logging in, a pinned fingerprint, and what
stands on an SSH port that does not speak SSH."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ronda.errors import UsageError
from ronda.probes.ssh import pinned_fingerprint
from ronda.target import parse_target
from tests import support

SSHD = "/usr/sbin/sshd"  # sshd wants its absolute path, to re-execute itself per connection


@dataclass
class Sshd:
    port: int
    fingerprint: str  # as `ssh-keygen -lf` prints it
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"ssh://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server logged (it stops to tell)."""
        self.process.terminate()
        return self.process.communicate(timeout=10)[1]


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An ed25519 host key made for these tests, and its fingerprint as OpenSSH prints it."""
    key = tmp_path_factory.mktemp("ssh") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ronda-test", "-f", str(key)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True, check=True)
    return key, listed.stdout.split()[1]


@pytest.fixture
def sshd(host_key: tuple[Path, str], tmp_path: Path) -> Iterator[Sshd]:
    """OpenSSH's sshd on 127.0.0.1, in the foreground, logging to stderr."""
    key, fingerprint = host_key
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
    port = support.free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {key}\nUsePAM no\nPidFile none\nLogLevel VERBOSE\n"
    )
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:  # it says when it listens; at its end, it has failed
        if "Server listening" in line:
            break
    else:
        raise AssertionError(f"sshd did not start (exit {process.wait()})")
    server = Sshd(port, fingerprint, process)
    yield server
    if process.poll() is None:
        process.terminate()
        process.communicate(timeout=10)


def ronda_check(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo_root), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ronda", "check", *args],
        capture_output=True,
        text=True,
        cwd=repo_root,
        env=env,
        timeout=30,
    )


# --- a real server ---------------------------------------------------------------------------------


def test_the_banner_and_host_key_are_read_without_logging_in(sshd, check):
    verdict = check(sshd.url)
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    ssh = verdict.facts["ssh"]
    assert ssh["banner"].startswith("SSH-2.0-OpenSSH_")
    assert (ssh["address"], ssh["key_type"], ssh["fingerprint"]) == ("127.0.0.1", "ssh-ed25519", sshd.fingerprint)
    assert verdict.summary.startswith(f"{sshd.url} is up: {ssh['banner']}, ssh-ed25519 {sshd.fingerprint}, in ")
    log = sshd.log()
    assert "[preauth]" in log, "the server saw the client leave before authentication"
    for login in ("Accepted", "Failed", "Invalid user", "authenticating user", "Postponed"):
        assert login not in log, f"the server's log shows a login attempt: {log}"


def test_the_pinned_fingerprint_is_up(sshd, check):
    verdict = check(f"{sshd.url}?fingerprint={sshd.fingerprint}")
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary


def test_another_host_key_than_the_pinned_one_is_ssh_host_key_changed(sshd, check):
    other = "SHA256:" + "A" * 43
    verdict = check(f"{sshd.url}?fingerprint={other}")
    assert (verdict.status, verdict.cause) == ("down", "ssh_host_key_changed")
    assert f"the host key is ssh-ed25519 {sshd.fingerprint}, not the expected {other}" in verdict.summary
    assert "someone may be in the middle" in verdict.summary
    assert verdict.facts["ssh"]["fingerprint"] == sshd.fingerprint, "what the server showed is kept"


def test_every_address_behind_the_name_is_checked(sshd, check):
    # sshd listens on 127.0.0.1 only: the name's second address refuses.
    verdict = check(f"ssh://ssh.test:{sshd.port}", resolve={("ssh.test", sshd.port): ("127.0.0.1", "127.0.0.2")})
    assert (verdict.status, verdict.cause) == ("degraded", "tcp_refused"), verdict.summary
    assert [f.address for f in verdict.findings] == ["127.0.0.2"]
    assert verdict.facts["ssh"]["address"] == "127.0.0.1"


# --- what is not an SSH server ------------------------------------------------------------------


def test_a_server_that_speaks_another_protocol_is_protocol_error(web, check):
    smtp = web()
    smtp.banner = b"220 mail.test ESMTP\r\n"  # speaks first, as an SSH server would, but not SSH
    verdict = check(f"ssh://127.0.0.1:{smtp.port}", timeout=1.5)
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "not an SSH server: it said '220 mail.test ESMTP\\r\\n'" in verdict.summary
    assert "ssh" not in verdict.facts


def test_a_web_server_says_nothing_to_an_ssh_client_and_is_protocol_error(web, check):
    server = web()  # waits for an HTTP request that never comes
    verdict = check(f"ssh://127.0.0.1:{server.port}", timeout=1.5)
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "the server said nothing and did not complete the key exchange in time" in verdict.summary


class Talker:
    """A server of some other protocol: it says its words to every client and hangs up."""

    def __init__(self, words: bytes) -> None:
        self.words = words
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._talk, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.words)
        await writer.drain()
        writer.close()


def test_garbage_then_a_hang_up_is_protocol_error(serve, check):
    talker = serve(Talker(b"\x00\xffgarbage\r\n"))
    verdict = check(f"ssh://127.0.0.1:{talker.port}")
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    quoted = repr("\x00\ufffdgarbage\r\n")
    assert f"127.0.0.1: not an SSH server: it said {quoted} and failed the key exchange (" in verdict.summary


def test_an_ssh_1_server_is_protocol_error(serve, check):
    talker = serve(Talker(b"SSH-1.5-OldServer\r\n"))
    verdict = check(f"ssh://127.0.0.1:{talker.port}")
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "127.0.0.1: the SSH server (SSH-1.5-OldServer) failed the key exchange (" in verdict.summary


def test_an_ssh_greeting_then_broken_packets_is_protocol_error(serve, check):
    talker = serve(Talker(b"SSH-2.0-Pretender\r\n\x00\x00\x00\x08\x06\x00\x00\x00\x00\x00\x00\x00"))
    verdict = check(f"ssh://127.0.0.1:{talker.port}")
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "127.0.0.1: the SSH server (SSH-2.0-Pretender) failed the key exchange (" in verdict.summary


def test_a_closed_port_is_tcp_refused(free_port, check):
    verdict = check(f"ssh://127.0.0.1:{free_port}")
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")


# --- the URL ----------------------------------------------------------------------------------------


def test_the_default_port_is_22():
    assert parse_target("ssh://bastion.test").port == 22


def test_a_fingerprint_reads_as_openssh_prints_it():
    key = "SHA256:" + "ab+/" * 10 + "xyz"
    # A query string reads `+` as a space; a percent-encoded `+` and base64 padding are fine too.
    for written in (key, key.replace("+", "%2B"), key + "="):
        assert pinned_fingerprint(parse_target(f"ssh://h.test?fingerprint={written}")) == key
    with pytest.raises(UsageError, match="expected SHA256: and 43 base64 characters"):
        pinned_fingerprint(parse_target("ssh://h.test?fingerprint=MD5:12:34"))


# --- ronda check ---------------------------------------------------------------------------------


def test_ronda_check_prints_the_plugin_line_and_the_servers_key(sshd, repo_root):
    run = ronda_check(repo_root, sshd.url)
    assert run.returncode == 0, run.stdout + run.stderr
    first, *detail = run.stdout.splitlines()
    assert first.startswith(f"RONDA OK - {sshd.url} is up: SSH-2.0-OpenSSH_")
    assert f", ssh-ed25519 {sshd.fingerprint}, in " in first
    assert " | time=" in first and "addresses_failing=0;0;0;0;1" in first
    assert any(line.startswith("ssh: 127.0.0.1 is SSH-2.0-OpenSSH_") for line in detail), detail
    assert f"host key ssh-ed25519 {sshd.fingerprint}" in run.stdout


def test_ronda_check_json_has_the_ssh_object(sshd, repo_root):
    run = ronda_check(repo_root, sshd.url, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    verdict = json.loads(run.stdout)
    assert (verdict["status"], verdict["cause"]) == ("up", None)
    assert set(verdict["ssh"]) == {"address", "banner", "key_type", "fingerprint"}
    assert verdict["ssh"]["fingerprint"] == sshd.fingerprint


def test_ronda_check_with_another_pinned_key_is_critical(sshd, repo_root):
    run = ronda_check(repo_root, f"{sshd.url}?fingerprint=SHA256:{'B' * 43}")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout.startswith("RONDA CRITICAL - ssh_host_key_changed: 127.0.0.1: the host key is ssh-ed25519")


def test_ronda_check_with_a_malformed_fingerprint_is_unknown(repo_root):
    run = ronda_check(repo_root, "ssh://127.0.0.1?fingerprint=deadbeef")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "fingerprint='deadbeef': expected SHA256:" in run.stdout
