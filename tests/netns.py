"""Network namespaces the tests make themselves, for what the machine's own loopback cannot
show without changing the machine: pings that go unanswered (`icmp_echo_ignore_all`), or
answered only in part (an `EchoResponder` in the kernel's place), and ICMP sockets refused to
an unprivileged process (`ping_group_range`). These settings belong to the namespace; its only
interface is its own `lo`, so nothing sent there can leave it.

An unprivileged process here is one without CAP_NET_RAW (no raw sockets) whose only group is
nobody's (which ping_group_range admits or not): exactly what the kernel checks before it
lets a process ping. It keeps uid 0, because the project's interpreter may live where nobody
cannot read it (a Python under /root, mode 700, as on the CI machine).

`Namespace` and `veth_pair` make two such hosts joined by a wire of their own, for what needs a
network between two machines (WS-Discovery's multicast, tests/test_discover.py)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

NOBODY = 65534
WIDE_OPEN = "0 2147483647"  # every group may open ICMP echo sockets
CLOSED = "1 0"  # no group may (the kernel's default)
REPO = Path(__file__).resolve().parent.parent
IP = shutil.which("ip") or "/usr/sbin/ip"

# Runs first inside the namespace, as root: lo up, the settings written, then (optionally)
# CAP_NET_RAW dropped from the bounding set (so the exec'd command has it in no set) and the
# groups reduced to nobody's, and the real command exec'd in place of this one.
_BOOT = """
import ctypes, json, os, subprocess, sys
subprocess.run([sys.argv[1], "link", "set", "lo", "up"], check=True)
for key, value in json.loads(sys.argv[2]).items():
    with open("/proc/sys/" + key.replace(".", "/"), "w") as setting:
        setting.write(value)
group = int(sys.argv[3])
if group >= 0:
    PR_CAPBSET_DROP, CAP_NET_RAW = 24, 13
    if ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_NET_RAW")
    os.setgroups([])
    os.setgid(group)
os.execv(sys.executable, [sys.executable, *sys.argv[4:]])
"""


@functools.cache
def _why_not() -> str | None:
    """Why this machine cannot run the namespace tests, or None when it can."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if unshare is None or not os.path.exists(ip):
        return "needs unshare (util-linux) and ip (iproute2) to make a network namespace"
    made = subprocess.run([unshare, "--net", ip, "link", "set", "lo", "up"], capture_output=True, text=True)
    if made.returncode != 0:
        return f"the kernel does not let this user make a network namespace: {made.stderr.strip()}"
    return None


def run_in_netns(
    args: Sequence[str], *, sysctls: dict[str, str] | None = None, unprivileged: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a fresh network namespace whose lo is up, after writing `sysctls`
    (`net.ipv4.icmp_echo_ignore_all` and so on); `unprivileged`: without CAP_NET_RAW, in
    nobody's group only."""
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    command = [
        shutil.which("unshare") or "unshare",
        "--net",
        sys.executable,
        "-c",
        _BOOT,
        shutil.which("ip") or "/usr/sbin/ip",
        json.dumps(sysctls or {}),
        str(NOBODY if unprivileged else -1),
        *args,
    ]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def ronda_check_in_netns(
    url: str, *options: str, sysctls: dict[str, str] | None = None, unprivileged: bool = False
) -> tuple[int, dict | str]:
    """`ronda check URL --json` in a namespace: its exit code and the verdict (or its output,
    when there is no verdict)."""
    done = run_in_netns(["-m", "ronda", "check", url, "--json", *options], sysctls=sysctls, unprivileged=unprivileged)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, done.stdout + done.stderr


class EchoResponder:
    """Answers IPv4 echo requests in the kernel's place (run it where
    `net.ipv4.icmp_echo_ignore_all` is 1, as root), only those `answer(destination, sequence)`
    accepts: a host that loses every other ping, or answers at one of its addresses only.
    Each reply comes from the address that was pinged."""

    def __init__(self, answer: Callable[[str, int], bool]) -> None:
        self.answer = answer
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self._senders: dict[str, socket.socket] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            packet, (source, _) = self._listener.recvfrom(65535)
            header = (packet[0] & 0x0F) * 4
            destination, icmp = socket.inet_ntoa(packet[16:20]), packet[header:]
            if icmp[0] == 8 and self.answer(destination, int.from_bytes(icmp[6:8], "big")):
                self._sender(destination).sendto(_echo_reply(icmp), (source, 0))

    def _sender(self, address: str) -> socket.socket:
        if address not in self._senders:
            sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sender.bind((address, 0))
            self._senders[address] = sender
        return self._senders[address]


def _echo_reply(request: bytes) -> bytes:
    """The request turned into its reply: type 0, the same identifier, sequence and data."""
    body = bytes([0, 0, 0, 0]) + request[4:]
    return body[:2] + _checksum(body).to_bytes(2, "big") + body[4:]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Namespace:
    """A network namespace that lives as long as this object: a process that waits on its
    stdin holds it open, and commands run in it through nsenter (the same files, another
    network). Two of them joined by `veth_pair` are two hosts on a wire of their own."""

    def __init__(self) -> None:
        reason = _why_not()
        if reason is not None:
            pytest.skip(reason)
        unshare = shutil.which("unshare") or "unshare"
        wait = "import sys; sys.stdin.read()"  # ends when we close its stdin, or when we die
        self._holder = subprocess.Popen([unshare, "--net", sys.executable, "-c", wait], stdin=subprocess.PIPE)
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.pid}/ns/net") == ours:  # unshare has not made it yet
            if time.monotonic() > deadline:
                raise AssertionError("unshare made no network namespace")
            time.sleep(0.01)
        self.run([IP, "link", "set", "lo", "up"])

    @property
    def pid(self) -> int:
        return self._holder.pid

    def command(self, args: Sequence[str]) -> list[str]:
        return [shutil.which("nsenter") or "nsenter", f"--net=/proc/{self.pid}/ns/net", *args]

    def run(
        self, args: Sequence[str], timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`args` in the namespace, to the end (with `env` added to the environment); a
        failure to run is the caller's to judge."""
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return subprocess.run(self.command(args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)

    def popen(self, args: Sequence[str], log: Path | None = None) -> subprocess.Popen[str]:
        """`args` started in the namespace, its output (stdout and stderr) on a pipe, or in
        the file `log` (for a process that talks long enough to fill a pipe nobody reads)."""
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
        command = self.command(args)
        if log is None:
            return subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env
            )
        with log.open("w") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)

    def close(self) -> None:
        assert self._holder.stdin is not None
        self._holder.stdin.close()
        self._holder.wait(10)


def veth_pair(
    a: Namespace,
    b: Namespace,
    a_address: str,
    b_address: str,
    prefix: int = 24,
    names: tuple[str, str] = ("veth-a", "veth-b"),
) -> None:
    """A virtual wire between `a` (interface veth-a) and `b` (veth-b), with these addresses;
    `names` names the two ends otherwise (a namespace with several wires)."""
    a_end, b_end = names
    for args in (
        [IP, "link", "add", a_end, "type", "veth", "peer", "name", b_end, "netns", str(b.pid)],
        [IP, "addr", "add", f"{a_address}/{prefix}", "dev", a_end],
        [IP, "link", "set", a_end, "up"],
    ):
        must(a.run(args))
    must(b.run([IP, "addr", "add", f"{b_address}/{prefix}", "dev", b_end]))
    must(b.run([IP, "link", "set", b_end, "up"]))


def must(done: subprocess.CompletedProcess[str]) -> None:
    """A command run in a namespace that has to work."""
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(done.args)} failed: {done.stderr.strip()}")
