"""The certificate inventory: each certificate once with every place it is served, rotations
announced once, warnings announced once per certificate however many monitors share it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from ronda.storage.database import Database
from ronda.storage.db import MIGRATIONS, make_engine
from ronda.verdict import CertificateInfo, Finding, Verdict, iso

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def certificate(fingerprint: str, host: str, address: str, days_left: float, problems: tuple[str, ...] = ()):
    return CertificateInfo(
        host=host,
        address=address,
        port=443,
        subject=f"CN={host}",
        issuer="CN=Test CA",
        serial=fingerprint[:4],
        sans=(host,),
        not_before=T0 - timedelta(days=90 - days_left),
        not_after=T0 + timedelta(days=days_left),
        days_left=days_left,
        fingerprint_sha256=fingerprint,
        problems=problems,
    )


def verdict(at: datetime, *certs: CertificateInfo, warnings: tuple[Finding, ...] = ()) -> Verdict:
    return Verdict(
        "https://x.test/",
        "up",
        None,
        "ok",
        at,
        5.0,
        tuple(c.address for c in certs),
        warnings=warnings,
        certificates=certs,
    )


def expiring(cert: CertificateInfo) -> Finding:
    return Finding("cert_expiring", f"{cert.host} at {cert.address}: expires in 5.0 days", cert.host, cert.address, 443)


def test_one_certificate_shared_by_three_monitors_is_stored_once_and_warned_once(store_url):
    store = Database(store_url)
    names = ["shop", "api", "images"]
    store.monitors.sync({name: f"https://{name}.test/" for name in names})
    notices = []
    for minute in range(3):
        for name in names:
            cert = certificate("aa" * 32, f"{name}.test", "127.0.0.2", 5.0, ("cert_expiring",))
            notices += store.monitors.record(
                name, verdict(T0 + timedelta(minutes=minute), cert, warnings=(expiring(cert),)), 2
            )
    [entry] = store.certificates.inventory(T0)
    assert {p.monitor for p in entry.places} == set(names)
    warnings = [n for n in notices if n.code == "cert_expiring"]
    assert len(warnings) == 1, "one notice for the certificate, not one per monitor or per check"
    # The first monitor to see it triggers the notice; later places join the inventory.
    assert warnings[0].places == ("shop: shop.test:443 at 127.0.0.2",)


def test_a_monitor_s_certificates_are_those_served_to_it_each_with_all_its_places(store_url):
    """What a monitor's page lists: read for that monitor, not filtered from everyone's."""
    store = Database(store_url)
    store.monitors.sync({name: f"https://{name}.test/" for name in ("shop", "api", "mail")})
    wildcard = certificate("aa" * 32, "shop.test", "127.0.0.2", 40.0)
    own = certificate("bb" * 32, "shop.test", "127.0.0.3", 20.0)
    store.monitors.record("shop", verdict(T0, wildcard, own), 2)
    store.monitors.record("api", verdict(T0, certificate("aa" * 32, "api.test", "127.0.0.4", 40.0)), 2)
    store.monitors.record("mail", verdict(T0, certificate("cc" * 32, "mail.test", "127.0.0.5", 60.0)), 2)
    shop = store.certificates.inventory(T0, monitor="shop")
    assert [c.fingerprint_sha256 for c in shop] == ["bb" * 32, "aa" * 32], "soonest expiry first"
    assert {p.monitor for p in shop[1].places} == {"shop", "api"}, "the shared one with every place"
    assert [c.fingerprint_sha256 for c in store.certificates.inventory(T0, monitor="api")] == ["aa" * 32]
    assert store.certificates.inventory(T0, monitor="nobody") == []
    assert len(store.certificates.inventory(T0)) == 3


def test_a_rotation_is_announced_once_even_when_a_cdn_alternates_old_and_new(store_url):
    store = Database(store_url)
    store.monitors.sync({"shop": "https://shop.test/"})
    old = certificate("01" * 32, "shop.test", "127.0.0.2", 3.0)
    new = certificate("02" * 32, "shop.test", "127.0.0.2", 89.0)
    notices = []
    for minute, cert in enumerate([old, old, new, old, new, old, new]):
        notices += store.monitors.record("shop", verdict(T0 + timedelta(minutes=minute), cert), 2)
    [rotation] = [n for n in notices if n.code == "cert_rotated"]
    assert rotation.fingerprint == new.fingerprint_sha256
    assert rotation.old_not_after == old.not_after
    assert "the old one expires 2026-11-28T12:00:00Z, the new one 2027-02-22T12:00:00Z" in rotation.detail
    assert [c.fingerprint_sha256 for c in store.certificates.inventory(T0)] == [
        old.fingerprint_sha256,
        new.fingerprint_sha256,
    ]


def test_the_inventory_lists_soonest_expiry_first_with_days_left(store_url):
    store = Database(store_url)
    store.monitors.sync({"a": "https://a.test/", "b": "https://b.test/"})
    store.monitors.record("a", verdict(T0, certificate("0a" * 32, "a.test", "127.0.0.2", 60.0)), 2)
    store.monitors.record("b", verdict(T0, certificate("0b" * 32, "b.test", "127.0.0.3", 10.0)), 2)
    entries = store.certificates.inventory(T0 + timedelta(days=1))
    assert [(e.latest.host, e.days_left) for e in entries] == [("b.test", 9.0), ("a.test", 59.0)]
    assert entries[0].latest.monitor == "b" and entries[0].places[0].address == "127.0.0.3"


def test_upgrading_from_the_first_schema_keeps_every_certificate_and_place(empty_store_url):
    url = empty_store_url
    engine = make_engine(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            sa.text(
                "INSERT INTO monitors (id, name, target, source, active, status, failures) VALUES "
                "(1, 'shop', 'https://shop.test/', 'config', TRUE, 'up', 0), "
                "(2, 'api', 'https://api.test/', 'config', TRUE, 'up', 0)"
            )
        )
        for monitor_id, address in ((1, "127.0.0.2"), (2, "127.0.0.3")):
            connection.execute(
                sa.text(
                    "INSERT INTO certificates (monitor_id, host, address, port, fingerprint_sha256, subject, issuer, "
                    "not_before, not_after, first_seen, last_seen, details) VALUES (:m, 'shop.test', :a, 443, :f, "
                    "'CN=shop.test', 'CN=CA', '2026-11-01 00:00:00', '2027-01-30 00:00:00', '2026-11-02 00:00:00', "
                    "'2026-11-20 00:00:00', '{}')"
                ),
                {"m": monitor_id, "a": address, "f": "ff" * 32},
            )
    engine.dispose()
    store = Database(url)
    [entry] = store.certificates.inventory(T0)
    assert entry.fingerprint_sha256 == "ff" * 32
    assert sorted(p.monitor for p in entry.places) == ["api", "shop"]
    assert iso(entry.first_seen) == "2026-11-02T00:00:00Z"


def test_ronda_certs_prints_the_inventory_as_a_table_json_and_csv(store_url):
    url = store_url
    store = Database(url)
    store.monitors.sync({"shop": "https://shop.test/", "api": "https://api.test/"})
    store.monitors.record("shop", verdict(T0, certificate("0a" * 32, "shop.test", "127.0.0.2", 60.0)), 2)
    store.monitors.record(
        "api", verdict(T0, certificate("0b" * 32, "api.test", "127.0.0.3", -2.0, ("cert_expired",))), 2
    )
    store.close()

    def certs(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "ronda", "certs", "--storage", url, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    table = certs()
    assert table.index("CN=api.test") < table.index("CN=shop.test"), "soonest expiry first"
    assert "cert_expired" in table and "api: api.test:443 (127.0.0.3)" in table
    entries = json.loads(certs("--json"))
    assert [e["subject"] for e in entries] == ["CN=api.test", "CN=shop.test"]
    rows = list(csv.DictReader(io.StringIO(certs("--csv"))))
    assert [(r["monitor"], r["address"], r["problems"]) for r in rows] == [
        ("api", "127.0.0.3", "cert_expired"),
        ("shop", "127.0.0.2", ""),
    ]
