"""The database: an engine for a URL, tuned per backend, migrated to the newest schema."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import ColumnElement, Engine, bindparam, create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import InstrumentedAttribute

from ronda.errors import ServiceError

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # postgresql:// means psycopg 3, the driver ronda ships with (SQLAlchemy's default
    # for that scheme would be psycopg2, which is not installed).
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def among(column: InstrumentedAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values` for a list of any length: the values are written into the SQL when
    it runs rather than bound one parameter each. PostgreSQL takes at most 65,535 parameters
    in a statement and SQLite 32,766 (or 250,000, as built): 100,000 monitors pass both."""
    return column.in_(bindparam(None, list(values), type_=column.type, expanding=True, literal_execute=True))


def shown(url: str) -> str:
    """A storage URL fit for messages: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (the API) never block the writer (the scheduler). synchronous=NORMAL in
    # WAL mode loses nothing when the process dies, even by kill -9; only a power cut can
    # take the newest transactions.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# The key of the lock under which a PostgreSQL store is migrated (not the leader's).
MIGRATION_LOCK = 0x726F6E64616D6967  # "rondamig"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there). A database that
    cannot be reached is a ServiceError naming it, password masked."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # Hubs that share the store and start together migrate one after the other:
                # the lock is the transaction's, released at its end.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServiceError(f"storage {shown(str(engine.url))}: cannot be used ({reason})") from None
