"""`ronda demo` as a newcomer sees it: every staged outage caught, named and resolved."""

from __future__ import annotations

import re
import subprocess
import sys

from ronda.storage.database import Database
from tests.support import free_port


def test_the_demo_catches_explains_and_resolves_every_outage(tmp_path):
    # A fast cycle so the test sees every outage and recovery in seconds.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ronda",
            "demo",
            "--cycle",
            "12",
            "--interval",
            "0.3",
            "--duration",
            "12.5",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    opened = dict(re.findall(r"INCIDENT #\d+ (\S+) (\S+):", out))
    assert opened == {
        "podcasts": "cert_expired",
        "shop": "subresource_failed",
        "api": "http_server_error",
        "chat": "tcp_refused",
        "status": "dns_nxdomain",
        "www": "cert_expired",
        "camera": "stream_missing",  # the RTSP camera lost its video track
        "backup": "heartbeat_missed",  # the nightly job hung
    }, out
    assert re.search(r"CHANGED\s+#\d+ api now http_client_error", out), out
    # The demo's users report the api's failure from four US states: the surge joins its incident.
    assert re.search(r"REPORTS\s+#\d+ api: users report problems with api: \d+ reports in 4 s", out), out
    assert set(re.findall(r"RESOLVED #\d+ (\S+) after", out)) == set(opened), out
    mail_warning = (
        r"WARNING\s+cert_expiring: mail.demo.test at 127.0.0.8: expires in 5.0 days.*"
        r"served at mail: mail.demo.test:8443"
    )
    assert re.search(mail_warning, out), out
    assert "Authorization: Bearer" in out and "/api/v1/incidents" in out
    # The banner opens on the dashboard, with a login that works.
    login = re.search(r"Dashboard: (http://\S+/)\s+\(log in as demo, password (\S+)\)", out)
    assert login, out
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    try:
        assert store.accounts.authenticate("demo", login.group(2)) is not None
    finally:
        store.close()
    assert re.search(r"INCIDENT #\d+ shop subresource_failed: images.shop.demo.test:8443: cert_expired", out), out
    assert re.search(r"INCIDENT #\d+ www cert_expired: .* \(1 of 2 addresses work\)", out), out
    rollback = r"ROTATED\s+cert_rotated: the certificate for podcasts.demo.test went back to an older certificate"
    assert re.search(rollback, out), out
    # Each resolved incident is followed by its timeline.
    assert re.search(r"confirmed\s+confirmed after \d+ consecutive failed checks", out), out
    assert re.search(r"resolved\s+resolved after \d+ s", out), out
    assert (tmp_path / "ronda.db").exists(), "the demo keeps its history where --data says"
    # The default canaries, with loopback as the gateway: both answer, ronda stays online.
    assert re.search(r"proven by its canaries: dns://ronda-canary.invalid\?server=127.0.0.1:\d+, icmp://127.0.0.1", out)
    assert re.search(r"own network: online \(dns://\S+ answers; icmp://127.0.0.1 answers\)", out), out
