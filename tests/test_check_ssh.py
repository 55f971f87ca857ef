"""ssh:// against Debian's real OpenSSH server on loopback (a host key the test makes, a free
port): the banner and the host key read without logging in, a pinned fingerprint, and what
stands on an SSH port that does not speak SSH."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ronda.check import run_check
from ronda.errors import UsageError
from ronda.probes.ssh import pinned_fingerprint
from ronda.target import CheckOptions, parse_target
from tests import support
from tests.support import ronda_check

SSHD = "/usr/sbin/sshd"  # sshd wants its absolute path, to re-execute itself per connection


@dataclass(frozen=True)
class HostKey:
    path: Path
    fingerprint: str  # as `ssh-keygen -lf` prints it


def make_host_key(folder: Path) -> HostKey:
    key = folder / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ronda-test", "-f", str(key)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True, text=True, check=True)
    return HostKey(key, listed.stdout.split()[1])


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[HostKey, HostKey]:
    """Two ed25519 host keys made for these tests: the server's, and one it may be replaced with."""
    return make_host_key(tmp_path_factory.mktemp("ssh")), make_host_key(tmp_path_factory.mktemp("ssh"))


class Sshd:
    """OpenSSH's sshd on 127.0.0.1, in the foreground, logging to stderr."""

    def __init__(self, key: HostKey, folder: Path) -> None:
        self.key = key
        self.folder = folder
        self.port = support.free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"ssh://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def start(self) -> Sshd:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
        config = self.folder / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.key.path}\n"
            "UsePAM no\nPidFile none\nLogLevel VERBOSE\n"
        )
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        for line in self.process.stderr:  # it says when it listens; at its end, it has failed
            if "Server listening" in line:
                return self
        raise AssertionError(f"sshd did not start (exit {self.process.wait()})")

    def stop(self) -> str:
        """Stop the server; everything it logged since it said it listens."""
        if self.process is None or self.process.poll() is not None:
            return ""
        self.process.terminate()
        return self.process.communicate(timeout=10)[1]

    def log(self) -> str:
        return self.stop()

    def restart_with(self, key: HostKey) -> None:
        """The same server, address and port with another host key: a reinstall, or an impostor."""
        self.stop()
        self.key = key
        self.start()


@pytest.fixture
def sshd(host_keys: tuple[HostKey, HostKey], tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(host_keys[0], tmp_path).start()
    yield server
    server.stop()


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


class Resetter(Talker):
    """Says its words, waits for the client's first bytes, and hangs up with a reset (RST), as
    a server does that closes with the client's bytes unread."""

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.words)
        await writer.drain()
        await reader.read(1)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


def test_garbage_then_a_hang_up_is_protocol_error(serve, check):
    talker = serve(Talker(b"\x00\xffgarbage\r\n"))
    verdict = check(f"ssh://127.0.0.1:{talker.port}")
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    quoted = repr("\x00\ufffdgarbage\r\n")
    assert f"127.0.0.1: not an SSH server: it said {quoted} and failed the key exchange (" in verdict.summary


def test_garbage_then_a_reset_is_protocol_error_at_once(serve, check):
    resetter = serve(Resetter(b"\x00\xffgarbage\r\n"))
    verdict = check(f"ssh://127.0.0.1:{resetter.port}", timeout=30)
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "not an SSH server: it said" in verdict.summary
    assert "in time" not in verdict.summary, "a reset ends the exchange: nothing waits for the timeout"


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


# --- ronda run: the host key a monitor first saw, kept -------------------------------------------


def run(url: str, known: dict | None = None):
    return asyncio.run(run_check(parse_target(url), CheckOptions(timeout=5), known=known))


def test_the_first_check_keeps_the_key_and_later_checks_expect_it(sshd, host_keys):
    first = run(sshd.url)
    assert first.kept == {"fingerprint": sshd.fingerprint}, "trusted on first use"
    again = run(sshd.url, known=first.kept)
    assert (again.status, again.kept) == ("up", None), "the same key: nothing new to keep"
    sshd.restart_with(host_keys[1])
    changed = run(sshd.url, known=first.kept)
    assert (changed.status, changed.cause) == ("down", "ssh_host_key_changed")
    assert f"not {host_keys[0].fingerprint}, the one earlier checks saw" in changed.summary
    assert changed.kept is None, "the changed key is not taken for the new normal"
    assert "kept" not in changed.to_json(), "a monitor's memory, not part of the verdict"


def test_a_pinned_key_wins_over_the_kept_one(sshd, host_keys):
    pinned = run(f"{sshd.url}?fingerprint={sshd.fingerprint}", known={"fingerprint": host_keys[1].fingerprint})
    assert (pinned.status, pinned.kept) == ("up", {"fingerprint": sshd.fingerprint})


def test_ronda_run_keeps_each_monitors_host_key_across_a_restart(sshd, host_keys, ca_file, tmp_path):
    config = tmp_path / "ronda.yaml"
    config.write_text(support.config_text(support.free_port(), ca_file, f"  - name: bastion\n    url: {sshd.url}\n"))

    def bastion(process: support.RondaProcess) -> dict:
        [monitor] = process.api("/api/v1/monitors")
        return monitor

    ronda = support.RondaProcess(config).start()
    try:
        support.wait_for("a first check", lambda: (bastion(ronda)["last_check"] or {}).get("status") == "up")
        sshd.restart_with(host_keys[1])
        changed = support.wait_for("the new key found", lambda: _with_cause(bastion(ronda), "ssh_host_key_changed"))
    finally:
        ronda.stop()
    assert changed["last_check"]["ssh"]["fingerprint"] == host_keys[1].fingerprint
    assert f"not {host_keys[0].fingerprint}, the one earlier checks saw" in changed["last_check"]["summary"]

    ronda = support.RondaProcess(config).start()  # the key comes back from the database
    try:
        seen = bastion(ronda)["last_check"]["checked_at"]
        later = support.wait_for("a check after the restart", lambda: _newer(bastion(ronda), seen))
    finally:
        ronda.stop()
    assert later["last_check"]["cause"] == "ssh_host_key_changed", later["last_check"]["summary"]


def _newer(monitor: dict, than: str) -> dict | None:
    return monitor if monitor["last_check"]["checked_at"] > than else None


def _with_cause(monitor: dict, cause: str) -> dict | None:
    return monitor if monitor["cause"] == cause else None
