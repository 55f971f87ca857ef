"""The deployment shapes of deploy/ (docs/deployment.md), checked with the real programs:
systemd's own verifier reads the units, ronda's own parser reads every command line they and
the container recipes give, and nginx, configured by the example file, stands in front of two
hubs on one PostgreSQL while a probe agent reports through it and the leading hub is killed.
The units' MemoryDenyWriteExecute= is tried for real: a hub and an agent run under the same
seccomp rule systemd installs for it."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import platform
import re
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ronda.cli import build_parser
from ronda.config.load import load_config
from ronda.world.pki import LocalPKI
from ronda.world.web import WebServer
from tests.receivers import BreakableSite
from tests.support import TOKEN, RondaProcess, die_with_parent, free_port, wait_for

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"  # scripts/test installs both when missing
NGINX = "/usr/sbin/nginx"
INSTALLED_RONDA = "/opt/ronda/venv/bin/ronda"  # where the units expect ronda
VENV_RONDA = Path(sys.executable).with_name("ronda")  # the test's own, which systemd can check

# -- the systemd units -----------------------------------------------------------------------

UNITS = ("ronda.service", "ronda-agent.service")


def unit_settings(text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit as {Key: [values]} (keys may repeat), sections ignored."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def env_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile's KEY=value lines, as systemd reads them (no shell)."""
    pairs = (line.partition("=") for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, _, value in pairs}


def systemd_words(command: str, env: dict[str, str]) -> list[str]:
    """A command line's words as systemd makes them: ${VAR} is (in) one word, empty when unset;
    a word that is $VAR alone is split at whitespace, and is no word at all when unset."""
    words: list[str] = []
    for word in shlex.split(command):
        if re.fullmatch(r"\$[A-Za-z_]\w*", word):
            words += env.get(word[1:], "").split()
        else:
            words.append(re.sub(r"\$\{([A-Za-z_]\w*)\}", lambda m: env.get(m[1], ""), word))
    return words


def exec_start(unit: str, env: dict[str, str]) -> list[str]:
    [command] = unit_settings((DEPLOY / "systemd" / unit).read_text())["ExecStart"]
    return systemd_words(command, env)


def example_env(unit: str) -> dict[str, str]:
    """The environment the unit gets from its example EnvironmentFile."""
    name = "agent.env.example" if unit == "ronda-agent.service" else "ronda.env.example"
    return env_file(DEPLOY / "systemd" / name)


def verifiable_copy(unit: Path, folder: Path) -> Path:
    """The unit as `systemd-analyze verify` can judge it here: its ExecStart's program must
    exist (the test's own ronda) and its User= too (root)."""
    text = unit.read_text()
    assert INSTALLED_RONDA in text
    text = text.replace(INSTALLED_RONDA, str(VENV_RONDA))
    text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.MULTILINE)
    copy = folder / unit.name
    copy.write_text(text)
    return copy


def verify(unit: Path) -> tuple[int, list[str]]:
    """systemd-analyze verify's status, and what it said about this unit. It exits 0 even for
    an unknown key or a hardening option it cannot parse (it ignores them, saying so), so the
    lines that name the unit are the verdict."""
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=120, cwd=unit.parent
    )
    said = (result.stdout + result.stderr).splitlines()
    return result.returncode, [line for line in said if unit.name in line or "Unknown" in line]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_accepts_each_unit_with_every_hardening_option(unit: str, tmp_path: Path) -> None:
    status, complaints = verify(verifiable_copy(DEPLOY / "systemd" / unit, tmp_path))
    assert (status, complaints) == (0, [])


def test_the_verifier_check_would_catch_a_misspelt_option(tmp_path: Path) -> None:
    """The check above is not blind: a misspelt option and a bad address family are named."""
    unit = tmp_path / "bad" / "ronda.service"
    unit.parent.mkdir()
    text = (DEPLOY / "systemd" / "ronda.service").read_text()
    unit.write_text(text.replace("ProtectHome=", "ProtectHomes=").replace("AF_NETLINK", "AF_NETLNK"))
    _, complaints = verify(verifiable_copy(unit, tmp_path))  # its status: 0 on systemd 252, for all that
    assert any("Unknown key 'ProtectHomes'" in line for line in complaints), complaints
    assert any("AF_NETLNK" in line for line in complaints), complaints


def parsed(words: list[str]) -> Any:
    """ronda's own parser on `ronda ARGS` (it exits 3 on a usage error: a failure here)."""
    try:
        return build_parser().parse_args(words)
    except SystemExit as exc:
        raise AssertionError(f"ronda refuses {shlex.join(words)} (exit {exc.code})") from None


def test_the_hub_unit_runs_ronda_run_on_the_config_and_reloads_with_sighup() -> None:
    words = exec_start("ronda.service", example_env("ronda.service"))
    assert words[0] == INSTALLED_RONDA
    args = parsed(words[1:])
    assert (args.command, args.config) == ("run", "/etc/ronda/ronda.yaml")
    settings = unit_settings((DEPLOY / "systemd" / "ronda.service").read_text())
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["StateDirectory"] == ["ronda"]


def test_the_agent_unit_takes_the_hub_and_region_from_its_environment_file() -> None:
    env = example_env("ronda-agent.service")
    args = parsed(exec_start("ronda-agent.service", env)[1:])
    assert (args.command, args.hub, args.region) == ("agent", env["RONDA_HUB"], env["RONDA_REGION"])
    assert (args.token_file, args.data) == ("/etc/ronda/agent-token", "/var/lib/ronda-agent")
    assert args.hub_ca == "/etc/ronda/hub-ca.pem"  # from RONDA_AGENT_OPTIONS, split into words
    # Without the file's extra options the command line is still whole.
    bare = parsed(exec_start("ronda-agent.service", {"RONDA_HUB": "https://hub.test"})[1:])
    assert (bare.hub, bare.hub_ca, bare.canary) == ("https://hub.test", None, [])


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_is_a_simple_service_restarted_on_failure_with_only_cap_net_raw(unit: str) -> None:
    settings = unit_settings((DEPLOY / "systemd" / unit).read_text())
    expected = {
        "Type": ["simple"],
        "User": ["ronda"],
        "Restart": ["on-failure"],
        "AmbientCapabilities": ["CAP_NET_RAW"],
        "CapabilityBoundingSet": ["CAP_NET_RAW"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "MemoryDenyWriteExecute": ["yes"],
    }
    assert {key: settings.get(key) for key in expected} == expected


# -- MemoryDenyWriteExecute: a hub and an agent under systemd's seccomp rule -------------------

# The rule systemd (v252, seccomp-util.c) installs for MemoryDenyWriteExecute=yes: mmap with
# PROT_WRITE and PROT_EXEC together, mprotect and pkey_mprotect with PROT_EXEC, and shmat with
# SHM_EXEC fail with EPERM. Per architecture: its AUDIT_ARCH and those calls' numbers.
ARCHITECTURES = {
    "x86_64": (0xC000003E, {"mmap": 9, "mprotect": 10, "pkey_mprotect": 329, "shmat": 30}),
    "aarch64": (0xC00000B7, {"mmap": 222, "mprotect": 226, "pkey_mprotect": 288, "shmat": 196}),
}
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _refuse_when(flags: int) -> list[bytes]:
    """Load the call's third argument; EPERM when it has all of `flags`, else allow."""
    load, alu_and, jeq, ret = 0x20, 0x54, 0x15, 0x06
    return [_bpf(load, 32), _bpf(alu_and, flags), _bpf(jeq, flags, 0, 1), _bpf(ret, 0x50001), _bpf(ret, 0x7FFF0000)]


def mdwe_filter() -> bytes:
    """The seccomp program, as classic BPF (struct sock_filter's)."""
    machine = platform.machine()
    assert machine in ARCHITECTURES, f"no MemoryDenyWriteExecute rule written for {machine}"
    audit_arch, calls = ARCHITECTURES[machine]
    load, jeq, ret, allow = 0x20, 0x15, 0x06, 0x7FFF0000
    # 0-2: another architecture's calls are not ours; 3: the call's number; 4-7: to its check.
    head = [_bpf(load, 4), _bpf(jeq, audit_arch, 1, 0), _bpf(ret, allow), _bpf(load, 0)]
    checks = [(calls["mmap"], PROT_WRITE | PROT_EXEC), (calls["mprotect"], PROT_EXEC)]
    checks += [(calls["pkey_mprotect"], PROT_EXEC), (calls["shmat"], SHM_EXEC)]
    program = list(head)
    for index, (number, _flags) in enumerate(checks):
        # Past the other jumps and the final allow, to this call's five instructions.
        program.append(_bpf(jeq, number, len(checks) - index + 5 * index, 0))
    program.append(_bpf(ret, allow))
    for _number, flags in checks:
        program += _refuse_when(flags)
    return b"".join(program)


class _Fprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class UnderMdwe:
    """preexec_fn: the child dies with the test run, and runs under the rule (which its own
    children inherit, ronda's probe worker too). Everything is built before the fork, and
    kept here until it."""

    def __init__(self) -> None:
        self.program = ctypes.create_string_buffer(mdwe_filter())
        self.fprog = _Fprog(len(self.program.raw) // 8, ctypes.addressof(self.program))
        self.libc = ctypes.CDLL(None, use_errno=True)

    def __call__(self) -> None:
        die_with_parent()
        prctl = self.libc.prctl
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or prctl(
            PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.fprog), 0, 0
        ):
            raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")


def test_the_seccomp_rule_refuses_writable_executable_memory() -> None:
    """The rule the next test runs ronda under does refuse what systemd's refuses."""
    probe = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"
    refused = subprocess.run([sys.executable, "-c", probe], preexec_fn=UnderMdwe(), capture_output=True, text=True)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr
    allowed = subprocess.run([sys.executable, "-c", "import ctypes"], preexec_fn=UnderMdwe(), capture_output=True)
    assert allowed.returncode == 0, allowed.stderr


class ConfinedHub(RondaProcess):
    """`ronda run` under the MemoryDenyWriteExecute rule, with the first admin's password set
    (so argon2 hashes at start, as on a first start under systemd)."""

    def start(
        self, timeout: float = 20.0, env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None
    ) -> ConfinedHub:
        first_start = {"RONDA_ADMIN_PASSWORD": "first-start-secret", **(env or {})}
        super().start(timeout, first_start, preexec or UnderMdwe())
        return self


def confined_hub_config(path: Path, site_port: int, ca_file: str) -> Path:
    """A hub with its checks in a probe worker (the default), checking over TLS and ICMP itself,
    and one monitor for an agent in eu-south."""
    shop = f'    url: https://shop.test:{site_port}/\n    resolve: {{"shop.test:{site_port}": ["127.0.0.1"]}}\n'
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{free_port()}\n  token: ${{RONDA_TOKEN}}\n"
        f"storage: sqlite:///{path.parent / 'hub.db'}\ncanaries: []\ngateway: none\n"
        f"defaults:\n  interval: 1s\n  timeout: 2s\n  ca_file: {ca_file}\n"
        "agents:\n  ask_every: 500ms\n  silent_after: 3s\n"
        f"monitors:\n  - name: shop\n{shop}  - name: ping\n    url: icmp://127.0.0.1\n"
        f"  - name: eu-shop\n{shop}    regions: [eu-south]\n"
    )
    return path


def latest_vantages(hub: RondaProcess, monitor: str) -> dict[str, str]:
    return {r["vantage"]: r["status"] for r in hub.api(f"/api/v1/monitors/{monitor}/results?limit=20")}


def seccomp_mode(pid: int) -> int:
    """/proc/PID/status's Seccomp: 2 is a filter in force."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^Seccomp:\s+(\d+)", status, re.MULTILINE)
    assert found, status
    return int(found[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (ronda's probe worker, for a hub)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The fields after the command's closing parenthesis: state, then the parent.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def up_from(hub: RondaProcess, monitor: str, vantage: str) -> Callable[[], bool]:
    return lambda: latest_vantages(hub, monitor).get(vantage) == "up"


def test_a_hub_and_an_agent_work_under_memory_deny_write_execute(
    tmp_path: Path, web: Callable[..., WebServer], pki: LocalPKI, ca_file: str
) -> None:
    site = web(tls=pki.server_context("shop.test"))
    hub = ConfinedHub(confined_hub_config(tmp_path / "hub.yaml", site.port, ca_file)).start()
    agent = None
    try:
        token = hub.send("POST", "/api/v1/agents", {"name": "milan-1", "region": "eu-south"}).json()["token"]
        (tmp_path / "agent-token").write_text(f"{token}\n")
        hub_url, data = f"http://127.0.0.1:{hub.port}", tmp_path / "agent"
        command = ["--hub", hub_url, "--token-file", str(tmp_path / "agent-token"), "--data", str(data)]
        agent = started_agent([sys.executable, "-m", "ronda", "agent", *command], tmp_path / "agent.log", UnderMdwe())
        for monitor, vantage in (("shop", "local"), ("ping", "local"), ("eu-shop", "eu-south/milan-1")):
            wait_for(f"{monitor} up from {vantage}", up_from(hub, monitor, vantage), 30)
        assert hub.proc is not None
        hub_pid = hub.proc.pid
        worker = wait_for("the probe worker", lambda: children(hub_pid))
        assert [seccomp_mode(pid) for pid in (hub_pid, *worker, agent.pid)] == [2] * (2 + len(worker))
        assert "PermissionError" not in (tmp_path / "agent.log").read_text()
    finally:
        stop_all(agent, hub)


# -- the container recipes -------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """A Containerfile's instructions, in order, each with its arguments on one line."""

    instructions: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> Recipe:
        lines: list[str] = []
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue  # inside a continuation too, as the builders read it
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            lines.append(pending + line)
            pending = ""
        assert not pending, f"{path} ends inside a continued line"
        return cls([(word.upper(), rest.strip()) for word, _, rest in (line.partition(" ") for line in lines)])

    def all(self, instruction: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"no {instruction}"
        return found[-1]

    def exec_form(self, instruction: str) -> list[str]:
        """ENTRYPOINT or CMD, which must be JSON arrays: in shell form /bin/sh would be PID 1
        and SIGTERM and SIGHUP would never reach ronda."""
        words = json.loads(self.last(instruction))
        assert isinstance(words, list) and all(isinstance(word, str) for word in words)
        return words

    def command(self) -> list[str]:
        """What the container runs: ENTRYPOINT, then CMD."""
        return self.exec_form("ENTRYPOINT") + self.exec_form("CMD")


HUB_RECIPE, AGENT_RECIPE = DEPLOY / "Containerfile", DEPLOY / "Containerfile.agent"


@pytest.mark.parametrize("path", [HUB_RECIPE, AGENT_RECIPE], ids=["hub", "agent"])
def test_each_image_installs_ronda_from_the_repository_and_runs_as_a_user_of_its_own(path: Path) -> None:
    recipe = Recipe.read(path)
    assert recipe.instructions[0][0] == "FROM" and "python:3.11-slim" in recipe.instructions[0][1]
    assert any("pip install /src" in run for run in recipe.all("RUN"))
    sources = [word for copy in recipe.all("COPY") for word in copy.split()[:-1] if not word.startswith("--")]
    assert {"pyproject.toml", "ronda"} <= set(sources)
    assert all((REPO / source).exists() for source in sources)
    user = recipe.last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert any(f"--uid {user}" in run for run in recipe.all("RUN")), "the USER is made by a RUN"
    assert recipe.command()[0] == "ronda"


def test_the_hub_image_runs_ronda_run_on_its_config_in_the_volume() -> None:
    recipe = Recipe.read(HUB_RECIPE)
    args = parsed(recipe.command()[1:])
    assert (args.command, args.config) == ("run", "/etc/ronda/ronda.yaml")
    [copy] = [c for c in recipe.all("COPY") if c.endswith(args.config)]
    config = load_config(str(REPO / copy.split()[-2]), {"RONDA_TOKEN": TOKEN})
    assert config.server.listen == f"0.0.0.0:{recipe.last('EXPOSE')}"
    [volume] = json.loads(recipe.last("VOLUME"))
    assert config.storage.startswith(f"sqlite:///{volume}/"), "the database lies in the volume"


def test_the_agent_image_runs_ronda_agent_with_its_buffer_in_the_volume() -> None:
    recipe = Recipe.read(AGENT_RECIPE)
    args = parsed(recipe.command()[1:])
    [volume] = json.loads(recipe.last("VOLUME"))
    assert (args.command, args.data) == ("agent", volume)
    assert args.hub.startswith("https://")
    assert not recipe.all("EXPOSE")  # an agent serves nothing


def healthcheck_command(recipe: Recipe) -> list[str]:
    options, _, command = recipe.last("HEALTHCHECK").partition("CMD ")
    assert "--timeout=" in options
    words = json.loads(command)
    assert isinstance(words, list)
    return [str(word) for word in words]


def test_the_hub_image_healthcheck_asks_healthz_on_the_exposed_port_and_fails_when_ronda_is_down(
    tmp_path: Path,
) -> None:
    """The HEALTHCHECK itself, run against a real hub (moved to a free port on loopback)."""
    recipe = Recipe.read(HUB_RECIPE)
    command = healthcheck_command(recipe)
    [url] = re.findall(r"http://[^'\"]+/healthz", " ".join(command))
    assert urlsplit(url).port == int(recipe.last("EXPOSE"))
    port = free_port()
    config = tmp_path / "ronda.yaml"
    config.write_text(
        (REPO / "deploy/container/ronda.yaml")
        .read_text()
        .replace("0.0.0.0:8080", f"127.0.0.1:{port}")
        .replace("sqlite:////var/lib/ronda/", f"sqlite:///{tmp_path}/")
        + "canaries: []\ngateway: none\n"
    )
    probe = [sys.executable if word == "python" else word.replace(":8080/", f":{port}/") for word in command]
    hub = RondaProcess(config).start()
    try:
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    finally:
        hub.stop()
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0


# -- nginx in front of two hubs, an agent behind it, the leader killed -------------------------


def nginx_top(folder: Path, site: Path) -> Path:
    """The few lines around the site file that a machine's /etc/nginx/nginx.conf has: every
    path nginx writes in `folder`. As root, the workers stay root: pytest's folders are 0700."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"  {kind}_temp_path {folder / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    top = folder / "nginx.conf"
    top.write_text(
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n  access_log {folder / 'access.log'};\n{temp}"
        f"  include {site};\n}}\n"
    )
    return top


@dataclass(frozen=True)
class Proxy:
    folder: Path
    https_port: int
    http_port: int
    ca_file: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.tls(), trust_env=False, timeout=30, **options)

    def get(self, path: str, token: str | None = TOKEN) -> httpx.Response:
        with self.client() as client:
            return client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})

    def api(self, path: str) -> Any:
        answer = self.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()


def rendered_site(proxy: Proxy, hub_ports: list[int], cert: Path, key: Path) -> Path:
    """deploy/nginx/ronda.conf, with this machine's hubs, ports and certificate in place of the
    example's; each replaced text must be there exactly once."""
    text = (DEPLOY / "nginx" / "ronda.conf").read_text()
    replacements = {
        "server 10.0.0.11:8080": f"server 127.0.0.1:{hub_ports[0]}",
        "server 10.0.0.12:8080": f"server 127.0.0.1:{hub_ports[1]}",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{proxy.https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",  # loopback's IPv4 is enough, and always there
        "listen 80;": f"listen 127.0.0.1:{proxy.http_port};",
        "listen [::]:80;": "",
        "/etc/ssl/ronda/fullchain.pem": str(cert),
        "/etc/ssl/ronda/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} in deploy/nginx/ronda.conf"
        text = text.replace(old, new)
    site = proxy.folder / "ronda.conf"
    site.write_text(text)
    return site


def nginx_command(top: Path, *more: str) -> list[str]:
    return [NGINX, "-p", str(top.parent), "-e", str(top.parent / "error.log"), "-c", str(top), *more]


def accepting(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def nginx_running(top: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(nginx_command(top, "-g", "daemon off;"), preexec_fn=die_with_parent)
    try:
        wait_for("nginx to listen", lambda: proc.poll() is None and accepting(port))
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)  # its graceful stop
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proxy_hub_config(path: Path, port: int, storage: str, proxy: Proxy, site: BreakableSite) -> Path:
    """A hub as docs/deployment.md's two-hub shape has it, at test speed: the proxy trusted,
    PostgreSQL's keep-alives in the storage URL, one monitor checked from eu-south only."""
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n  checks: thread\n"
        f"  public_url: {proxy.url}\n  trusted_proxies: [127.0.0.1]\n"
        f"storage: {storage}?keepalives_idle=10&keepalives_interval=5&keepalives_count=3\n"
        "canaries: []\ngateway: none\n"
        "defaults:\n  interval: 1s\n  timeout: 2s\n"
        "agents:\n  ask_every: 500ms\n  silent_after: 3s\n"
        f"monitors:\n  - name: shop\n    url: http://127.0.0.1:{site.port}/\n    regions: [eu-south]\n"
    )
    return path


def role(hub: RondaProcess) -> str:
    return str(hub.get("/healthz", token=None).json()["role"])


@pytest.fixture
def proxy(tmp_path: Path, pki: LocalPKI) -> Proxy:
    """Where nginx will be: its ports, its folder, a certificate for ronda.test and 127.0.0.1."""
    leaf = pki.leaf("ronda.test", "127.0.0.1")
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "fullchain.pem").write_bytes(leaf.chain_pem)
    (folder / "privkey.pem").write_bytes(leaf.key_pem)
    ca_file = Path(pki.write_ca(str(folder / "ca.pem")))
    return Proxy(folder, free_port(), free_port(), ca_file)


@pytest.fixture
def hubs(tmp_path: Path, postgres_url: str, proxy: Proxy, site: BreakableSite) -> Iterator[list[RondaProcess]]:
    """Two hubs on one PostgreSQL; the first leads."""
    started: list[RondaProcess] = []
    try:
        for name in ("a", "b"):
            config = proxy_hub_config(tmp_path / f"{name}.yaml", free_port(), postgres_url, proxy, site)
            started.append(RondaProcess(config).start())
            wait_for("hub a to lead", lambda: role(started[0]) == "leader")
        yield started
    finally:
        stop_all(*started)


@pytest.fixture
def nginx(proxy: Proxy, hubs: list[RondaProcess]) -> Iterator[subprocess.Popen[bytes]]:
    folder = proxy.folder
    site = rendered_site(proxy, [hub.port for hub in hubs], folder / "fullchain.pem", folder / "privkey.pem")
    top = nginx_top(folder, site)
    checked = subprocess.run(nginx_command(top, "-t"), capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    with nginx_running(top, proxy.https_port) as proc:
        yield proc


def started_agent(
    command: list[str], log: Path, preexec: Callable[[], None] = die_with_parent
) -> subprocess.Popen[str]:
    with log.open("w") as out:  # the child keeps its own copy open
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            preexec_fn=preexec,
        )


def stop_all(*processes: subprocess.Popen[str] | RondaProcess | None) -> None:
    """Stop what still runs: SIGTERM, then SIGKILL after 20 s."""
    for item in processes:
        proc = item.proc if isinstance(item, RondaProcess) else item
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def agent_command(proxy: Proxy, token_file: Path, data: Path) -> list[str]:
    """The agent unit's own command line, with this test's hub, token file and buffer."""
    env = {"RONDA_HUB": proxy.url, "RONDA_REGION": "eu-south", "RONDA_AGENT_OPTIONS": f"--hub-ca {proxy.ca_file}"}
    words = exec_start("ronda-agent.service", env)
    replaced = {"/etc/ronda/agent-token": str(token_file), "/var/lib/ronda-agent": str(data)}
    return [sys.executable, "-m", "ronda", *(replaced.get(word, word) for word in words[1:])]


def added_agent(proxy: Proxy, name: str, region: str) -> str:
    with proxy.client() as client:
        answer = client.post(
            "/api/v1/agents", json={"name": name, "region": region}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def checked_at(proxy: Proxy, vantage: str) -> list[datetime]:
    results = proxy.api("/api/v1/monitors/shop/results?limit=500")
    return sorted(datetime.fromisoformat(r["checked_at"]) for r in results if r["vantage"] == vantage)


def address_seen_through_the_proxy(proxy: Proxy) -> str:
    """An agent that calls from 127.0.0.7: the address the hubs record for it is the one
    nginx names in X-Forwarded-For (the connection itself comes from nginx, 127.0.0.1)."""
    token = added_agent(proxy, "nyc-1", "us-east")  # us-east: it takes none of eu-south's monitors
    with proxy.client(transport=httpx.HTTPTransport(local_address="127.0.0.7", verify=proxy.tls())) as client:
        answer = client.get("/api/v1/agent/assignment", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    agents = {agent["name"]: agent for agent in proxy.api("/api/v1/agents")}
    return str(agents["nyc-1"]["address"])


def live_event(proxy: Proxy) -> str:
    """The first event of the dashboard's /live stream, read through nginx as it comes."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with proxy.client() as client, client.stream("GET", "/live", headers=headers, timeout=20) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("event:"):
                return line.removeprefix("event:").strip()
    raise AssertionError("/live ended without an event")


def largest_gap(times: list[datetime]) -> float:
    return max((later - earlier).total_seconds() for earlier, later in itertools.pairwise(times))


def test_nginx_skips_a_killed_hub_and_the_agent_reports_on_through_the_other(
    tmp_path: Path, proxy: Proxy, hubs: list[RondaProcess], nginx: subprocess.Popen[bytes]
) -> None:
    leader, standby = hubs
    with httpx.Client(trust_env=False) as plain:  # port 80 sends everyone to https
        assert plain.get(f"http://127.0.0.1:{proxy.http_port}/status").status_code == 301
    token_file = tmp_path / "agent-token"
    token_file.write_text(added_agent(proxy, "milan-1", "eu-south") + "\n")
    agent = started_agent(agent_command(proxy, token_file, tmp_path / "agent"), tmp_path / "agent.log")
    try:
        wait_for("the agent's verdicts, read through nginx", lambda: checked_at(proxy, "eu-south/milan-1"), 30)
        assert address_seen_through_the_proxy(proxy) == "127.0.0.7"
        assert live_event(proxy) == "change"
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGKILL)
        killed = datetime.now(UTC)
        leader.proc.communicate(timeout=10)  # its output read, its pipe closed
        later = killed + timedelta(seconds=5)
        wait_for("verdicts made after the kill", lambda: checked_at(proxy, "eu-south/milan-1")[-1] > later, 30)
        wait_for("the other hub to lead", lambda: proxy.get("/healthz", token=None).json()["role"] == "leader", 30)
        times = checked_at(proxy, "eu-south/milan-1")
        assert times[0] < killed < times[-1]
        assert largest_gap(times) <= 3, f"a hole of {largest_gap(times)} s in the verdicts of a 1 s monitor"
        assert role(standby) == "leader"
    finally:
        stop_all(agent)
    assert "Traceback" not in (tmp_path / "agent.log").read_text()


# -- docs/deployment.md's examples -----------------------------------------------------------

DOCS = REPO / "docs" / "deployment.md"


def fenced(language: str) -> list[str]:
    """The text of each ```LANGUAGE block of docs/deployment.md."""
    return re.findall(rf"^```{language}\n(.*?)^```", DOCS.read_text(), re.MULTILINE | re.DOTALL)


def test_every_config_in_the_deployment_docs_is_one_ronda_loads(tmp_path: Path) -> None:
    env = {"RONDA_TOKEN": TOKEN, "RONDA_DB_PASSWORD": "secret"}
    blocks = fenced("yaml")
    assert len(blocks) >= 3  # one per shape
    for number, block in enumerate(blocks):
        (tmp_path / f"{number}.yaml").write_text(block)
        load_config(str(tmp_path / f"{number}.yaml"), env)  # a ConfigError names file, line and field


def ronda_command_lines(block: str) -> list[list[str]]:
    """The ronda commands of a shell block (continued lines joined), without sudo -u USER."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["sudo", "-u"]:
            words = words[3:]
        if words and Path(words[0]).name == "ronda":
            commands.append(words[1:])
    return commands


def test_every_ronda_command_in_the_deployment_docs_is_one_ronda_takes() -> None:
    commands = [words for block in fenced("sh") for words in ronda_command_lines(block)]
    assert {words[0] for words in commands} >= {"agents", "agent"}
    for words in commands:
        parsed(words)
