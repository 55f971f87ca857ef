"""ronda as a user installs it: a wheel built from this tree and installed with pip into a
clean virtual environment (no system site-packages, not this checkout on any path) works,
with every file it reads at run time: Jinja templates, static files, translations, the
database's migrations.

The build runs on a copy of what it needs (pyproject.toml, README.md, ronda/), so that
setuptools' build/ and egg-info never land in the working tree. Dependencies come from the
package registry, through pip's cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ronda import __version__
from tests.support import die_with_parent, free_port, wait_for

TOKEN = "packaging-test-token-0123456789"
GREETING = b"hello from a loopback site"
PIP_TIMEOUT = 900  # seconds a cold pip cache may take to fetch every dependency


@dataclass(frozen=True)
class Installed:
    source: Path  # the tree the wheel was built from
    wheel: Path
    venv: Path

    @property
    def ronda(self) -> str:
        return str(self.venv / "bin" / "ronda")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing pointing at this checkout or its venv."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200", **extra}


def _pip(python: str, *args: str, cwd: Path) -> None:
    done = subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo_root / name, source / name)
    shutil.copytree(repo_root / "ronda", source / "ronda", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source), cwd=work)
    [wheel] = (work / "dist").glob("ronda-*.whl")
    venv = work / "venv"
    done = subprocess.run([sys.executable, "-m", "venv", str(venv)], env=_clean_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _pip(str(venv / "bin" / "python"), "install", str(wheel), cwd=work)
    return Installed(source, wheel, venv)


def run(installed: Installed, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ronda ARGS` from the clean venv, as its user types it."""
    return subprocess.run(
        [installed.ronda, *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=60
    )


class _Greeter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(GREETING)))
        self.end_headers()
        self.wfile.write(GREETING)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test's output is ronda's


@pytest.fixture
def site() -> Iterator[str]:
    """A tiny web site on loopback: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Greeter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --- the wheel -----------------------------------------------------------------------------------


def test_the_wheel_holds_every_file_of_the_package(installed):
    """Templates, static files, translations, migrations: whatever lies in ronda/ is in the
    wheel (a new kind of file missing from package-data fails here, not on a user's machine)."""
    packaged = set(zipfile.ZipFile(installed.wheel).namelist())
    on_disk = {
        str(path.relative_to(installed.source)) for path in (installed.source / "ronda").rglob("*") if path.is_file()
    }
    assert sorted(on_disk - packaged) == []
    for wanted in ("ronda/web/templates/*.html", "ronda/web/static/*", "ronda/web/locale/*/LC_MESSAGES/*.mo",
                   "ronda/storage/migrations/versions/*.py"):  # fmt: skip
        assert [name for name in packaged if Path(name).match(wanted)], f"no {wanted} in the wheel"


def test_the_installed_ronda_is_the_wheels_not_this_checkout(installed, tmp_path):
    where = subprocess.run(
        [installed.python, "-c", "import ronda; print(ronda.__file__)"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.splitlines()[0].startswith(str(installed.venv / "lib"))
    assert "include-system-site-packages = false" in (installed.venv / "pyvenv.cfg").read_text()


# --- its commands ---------------------------------------------------------------------------------


def test_ronda_version(installed, tmp_path):
    done = run(installed, "--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"ronda {__version__}"


def test_ronda_check_a_loopback_site(installed, tmp_path, site):
    done = run(installed, "check", site, "--expect-text", GREETING.decode(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("RONDA OK - ")
    verdict = json.loads(run(installed, "check", site, "--json", cwd=tmp_path).stdout)
    assert verdict["status"] == "up" and verdict["http"]["status"] == 200


def test_ronda_check_says_critical_when_nothing_listens(installed, tmp_path):
    done = run(installed, "check", f"tcp://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.startswith("RONDA CRITICAL - tcp_refused")


def test_init_check_config_and_run_from_the_installed_ronda(installed, tmp_path, site):
    """The path README.md gives a new user, end to end: a starter config for their site,
    checked, then run: the dashboard's pages (templates, static files, Italian
    translations) served from the installed package, its database made by the migrations."""
    assert run(installed, "init", "--url", site, cwd=tmp_path).returncode == 0
    port = free_port()
    config = tmp_path / "ronda.yaml"
    text = config.read_text().replace("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{port}")
    text = text.replace("  # token: ${RONDA_TOKEN}", "  token: ${RONDA_TOKEN}")
    config.write_text(text + "canaries: []   # nothing beyond loopback\n")

    checked = subprocess.run(
        [installed.ronda, "run", "--check-config", "--config", "ronda.yaml"],
        cwd=tmp_path, env=_clean_env(RONDA_TOKEN=TOKEN), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "monitors: 1 (1 checked): 127.0.0.1-" in checked.stdout
    assert not (tmp_path / "ronda.db").exists()

    with _running(installed, tmp_path, port) as base:
        assert "<form" in httpx.get(f"{base}/login").text
        css = httpx.get(f"{base}/static/ronda.css")
        assert css.status_code == 200
        assert css.text == (installed.source / "ronda/web/static/ronda.css").read_text()
        assert "Non riesco a collegarmi" in httpx.get(f"{base}/status?lang=it").text
        headers = {"Authorization": f"Bearer {TOKEN}"}
        monitors = wait_for("the site's first check", lambda: _checked(base, headers))
        assert [(m["target"], m["status"]) for m in monitors] == [(site, "up")]


def _checked(base: str, headers: dict[str, str]) -> list[dict[str, object]] | None:
    monitors: list[dict[str, object]] = httpx.get(f"{base}/api/v1/monitors", headers=headers).json()
    return monitors if all(monitor["last_check"] for monitor in monitors) else None


class _running:
    """`ronda run --config ronda.yaml` from the installed venv, until the block ends (SIGTERM)."""

    def __init__(self, installed: Installed, folder: Path, port: int) -> None:
        self.command = [installed.ronda, "run", "--config", "ronda.yaml"]
        self.folder, self.base = folder, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        env = _clean_env(RONDA_TOKEN=TOKEN, RONDA_ADMIN_PASSWORD="a first password for admin")
        self.proc = subprocess.Popen(
            self.command, cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        wait_for("the installed ronda to answer", self._answers, timeout=60)
        return self.base

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"ronda run exited early:\n{self.proc.stdout.read() if self.proc.stdout else ''}")
        try:
            return httpx.get(f"{self.base}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
