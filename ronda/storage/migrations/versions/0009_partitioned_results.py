"""PostgreSQL: verdicts in one partition per UTC day, so old ones go by dropping a table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

The table is rebuilt partitioned by `checked_at` (its primary key becomes (id, checked_at),
as PostgreSQL asks of a partitioned table's keys), with a table for each day that has
verdicts and a default partition for the rest; the verdicts are copied over and the ids
go on from the same sequence. SQLite is left as it is. ronda/storage/partitions.py keeps
the days afterwards.
"""

from __future__ import annotations

from alembic import op

from ronda.storage import partitions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE results RENAME TO results_unpartitioned")
    op.execute("ALTER INDEX ix_results_monitor_time RENAME TO ix_results_unpartitioned_monitor_time")
    op.execute("ALTER TABLE results_unpartitioned RENAME CONSTRAINT results_pkey TO results_unpartitioned_pkey")
    op.execute(
        "CREATE TABLE results ("
        "id BIGINT NOT NULL DEFAULT nextval('results_id_seq'), "
        "monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE, "
        "checked_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, "
        "status VARCHAR(16) NOT NULL, "
        "cause VARCHAR(64), "
        "latency_ms FLOAT, "
        "verdict JSON NOT NULL, "
        "vantage VARCHAR(64) NOT NULL DEFAULT 'local', "
        "PRIMARY KEY (id, checked_at)"
        ") PARTITION BY RANGE (checked_at)"
    )
    op.execute("CREATE INDEX ix_results_monitor_time ON results (monitor_id, checked_at, status, latency_ms)")
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF results DEFAULT")
    bind = op.get_bind()
    days = [row[0] for row in bind.exec_driver_sql("SELECT DISTINCT checked_at::date FROM results_unpartitioned")]
    for day in sorted(days):
        op.execute(
            f"CREATE TABLE {partitions.PREFIX}{day:%Y%m%d} PARTITION OF results "
            f"FOR VALUES FROM ('{day:%Y-%m-%d}') TO ('{day:%Y-%m-%d}'::date + 1)"
        )
    op.execute(
        "INSERT INTO results (id, monitor_id, checked_at, status, cause, latency_ms, verdict, vantage) "
        "SELECT id, monitor_id, checked_at, status, cause, latency_ms, verdict, vantage FROM results_unpartitioned"
    )
    op.execute("ALTER SEQUENCE results_id_seq OWNED BY results.id")
    op.execute("DROP TABLE results_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE results RENAME TO results_partitioned")
    op.execute("ALTER INDEX ix_results_monitor_time RENAME TO ix_results_partitioned_monitor_time")
    op.execute("CREATE TABLE results (LIKE results_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE results ADD PRIMARY KEY (id)")
    op.execute("ALTER TABLE results ADD FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE")
    op.execute("CREATE INDEX ix_results_monitor_time ON results (monitor_id, checked_at, status, latency_ms)")
    op.execute("INSERT INTO results SELECT * FROM results_partitioned")
    op.execute("ALTER SEQUENCE results_id_seq OWNED BY results.id")
    op.execute("DROP TABLE results_partitioned")
