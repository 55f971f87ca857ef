"""A throwaway PostgreSQL for the tests: Debian's server (scripts/test installs it), one
cluster per test run in a temp dir, on 127.0.0.1 and a free port, and a fresh database for
each test that asks for one. The cluster stops and its dir goes at the end of the run; it
also dies with the run when the run is killed (tests/support.py die_with_parent)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.pool import Pool

from ronda.storage.database import Database
from tests import support

# Fast and careless: a test cluster never outlives a crash, so nothing needs to reach disk.
SPEED = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def server_bin() -> Path:
    """The newest Debian PostgreSQL's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: scripts/test installs Debian's postgresql")
    return Path(found[-1]).parent


def _server_env() -> dict[str, str]:
    """The environment without libfaketime: the suite's second run is under `faketime`, and
    the server must keep real time (its own timeouts, its WAL) whatever the tests pretend."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def _as_owner(uid: int | None, gid: int | None) -> Callable[[], None]:
    """preexec_fn: PostgreSQL refuses to run as root, so as root the server runs as the
    `postgres` user; either way it dies with the test run."""

    def start() -> None:
        if uid is not None and gid is not None:
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
        support.die_with_parent()

    return start


class Cluster:
    """One `postgres` server on 127.0.0.1, its data and socket in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = support.free_port()
        self.uid: int | None = None
        self.gid: int | None = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            self.uid, self.gid = owner.pw_uid, owner.pw_gid
            os.chown(root, owner.pw_uid, owner.pw_gid)
        self.user = pwd.getpwuid(self.uid if self.uid is not None else os.geteuid()).pw_name
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._template: str | None = None

    def _run(self, *args: str) -> subprocess.Popen[bytes]:
        with open(self.root / "server.log", "ab") as log:  # the child keeps its own copy open
            return subprocess.Popen(
                args,
                cwd=self.root,
                env=_server_env(),
                stdout=log,
                stderr=log,
                preexec_fn=_as_owner(self.uid, self.gid),
            )

    def start(self) -> Cluster:
        bin_dir = server_bin()
        data = self.root / "data"
        initdb = self._run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-E", "UTF8", "--no-sync")
        if initdb.wait(timeout=120) != 0:
            raise RuntimeError(f"initdb failed: {(self.root / 'server.log').read_text()}")
        self.proc = self._run(
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            *SPEED,
        )
        support.wait_for("PostgreSQL to accept connections", self._ready, timeout=60)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"postgres exited early:\n{(self.root / 'server.log').read_text()}")
        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def url(self, database: str) -> str:
        """The database's URL as ronda's config spells it (`postgresql://`), which libpq reads too."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, template: str = "template0") -> str:
        """A fresh database's name, a copy of `template`: tests share the server, never a database."""
        name = f"test_{next(self._names)}"
        # FILE_COPY: the copy is not written to the WAL, quicker for a throwaway database.
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY"), name, template)
        return name

    def migrated_template(self) -> str:
        """A database at the newest schema, made once per run by ronda's own migrations from
        empty, to copy for each test: copying is much quicker than migrating again."""
        if self._template is None:
            name = self.new_database()
            Database(self.url(name)).close()
            self._template = name
        return self._template

    def drop_database(self, name: str) -> None:
        """Drop a test's database, cutting the connections its stores left open."""
        self._admin(sql.SQL("DROP DATABASE {} WITH (FORCE)"), name)

    def _admin(self, statement: sql.SQL, *names: str) -> None:
        """A statement on database names, outside a transaction (as CREATE and DROP DATABASE need)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(statement.format(*map(sql.Identifier, names)))

    def stop(self) -> None:
        """A fast shutdown (SIGINT): open sessions are cut, nothing waits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


PREFIX = "ronda-pg-"
STALE_AFTER = 3600.0  # seconds a dead run's cluster folder is left alone


def _remove_stale() -> None:
    """Remove the clusters of killed test runs: a run killed outright takes its server with
    it (die_with_parent) but cannot remove its folder. A folder whose server still runs is
    another run's, and stays; so does one touched within STALE_AFTER: a run beside this one
    may be in initdb, whose bootstrap backends come and go leaving a postmaster.pid of a
    process already gone (its folder taken from under it failed 162 of its tests)."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
            touched = max(path.stat().st_mtime for path in (root, root / "data", root / "server.log") if path.exists())
        except (OSError, ValueError, IndexError):
            continue  # no server started yet: perhaps a run's initdb at work
        if not Path(f"/proc/{pid}").exists() and time.time() - touched > STALE_AFTER:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    _remove_stale()
    # Not pytest's tmp_path: that dir is root's and mode 0700 all the way down, where the
    # `postgres` user could not reach its data.
    cluster = Cluster(Path(tempfile.mkdtemp(prefix=PREFIX)))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


_OPENED: list[psycopg.Connection[Any]] = []


@event.listens_for(Pool, "connect")
def _remember(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, psycopg.Connection):
        _OPENED.append(dbapi_connection)


def _database(cluster: Cluster, template: str) -> Iterator[str]:
    name = cluster.new_database(template)
    yield cluster.url(name)
    # Many tests let a Database go without close(). SQLite's connections go quietly; psycopg's
    # warn when collected open, which the suite's "error" filter would turn into a failure of
    # whichever later test the collector happens to run in. So the connections this test's
    # stores opened are closed here.
    while _OPENED:
        _OPENED.pop().close()
    cluster.drop_database(name)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh PostgreSQL database for this test at the newest schema, as a `storage:` URL."""
    yield from _database(postgres_cluster, postgres_cluster.migrated_template())


@pytest.fixture
def empty_postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test: for the tests of migrations."""
    yield from _database(postgres_cluster, "template0")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store for this test, once on SQLite and once on PostgreSQL: the tests that use
    it run against both stores ronda supports. (On PostgreSQL a copy of a migrated database.)"""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ronda.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each of SQLite and PostgreSQL, for the tests of migrations."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ronda.db'}"
    return str(request.getfixturevalue("empty_postgres_url"))
