"""Two hubs on one PostgreSQL: both serve, one leads (checks, keeps time, sends notices).
Killing the leader with SIGKILL hands the lead to the other, and the notices pending in the
shared outbox go out from there, each once, at a real webhook receiver."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receivers import BreakableSite, WebhookReceiver
from tests.support import RondaProcess, free_port, wait_for


def hub_config(path: Path, port: int, storage: str, site: BreakableSite, receiver: WebhookReceiver) -> Path:
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n  checks: thread\n"
        f"storage: {storage}\n"
        "canaries: []\ngateway: none\n"
        "defaults:\n  interval: 500ms\n  timeout: 2s\n  confirm: 2\n  recover: 2\n"
        f"notify:\n  - {receiver.url}\n"
        "notify_retry:\n  first: 1s\n  max: 2s\n"
        "notify_storm_wait: 100ms\n"
        f"monitors:\n  - name: shop\n    url: http://127.0.0.1:{site.port}/\n"
        "  - name: backup\n    kind: push\n    period: 4s\n    grace: 2s\n    token: backup-job-secret-0123\n"
    )
    return path


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def hubs(
    tmp_path: Path, postgres_url: str, site: BreakableSite, receiver: WebhookReceiver
) -> Iterator[list[RondaProcess]]:
    started = []
    try:
        for name in ("a", "b"):
            config = hub_config(tmp_path / f"{name}.yaml", free_port(), postgres_url, site, receiver)
            started.append(RondaProcess(config).start())
            if name == "a":
                wait_for("hub a to lead", lambda: role(started[0]) == "leader")
        yield started
    finally:
        for hub in started:
            if hub.proc is not None and hub.proc.poll() is None:
                hub.stop()


def role(hub: RondaProcess) -> str:
    return str(hub.get("/healthz", token=None).json()["role"])


def titles(receiver: WebhookReceiver) -> list[str]:
    """The notices about the shop (the push monitor, called by nobody there, has its own)."""
    return [title for message in receiver.messages if "shop" in (title := str(message.get("title", "")))]


def test_both_hubs_serve_and_one_leads(hubs):
    leader, standby = hubs
    assert (role(leader), role(standby)) == ("leader", "standby")
    assert standby.get("/healthz", token=None).status_code == 200
    wait_for("a verdict, read through the standby", lambda: standby.api("/api/v1/monitors/shop/results"))
    assert standby.api("/api/v1/status")["role"] == "standby"


def test_killing_the_leader_hands_over_and_no_notice_is_lost_or_sent_twice(hubs, site, receiver):
    leader, standby = hubs
    site.broken = True
    wait_for("the opening's notice", lambda: any("shop is failing" in t for t in titles(receiver)), timeout=30)
    receiver.fail()  # from here the receiver refuses: the resolution waits in the outbox
    site.broken = False
    wait_for(
        "the resolution to be tried and refused",
        lambda: any(
            n["status"] == "pending" and n["attempts"] >= 1 and "shop" in n["title"]
            for n in standby.api("/api/v1/notifications")
        ),
        timeout=30,
    )
    leader.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.proc.communicate(timeout=10)  # its output read, its pipe closed
    wait_for("the standby to lead", lambda: role(standby) == "leader", timeout=30)
    handover = time.monotonic() - killed
    receiver.heal()
    wait_for("the resolution's notice", lambda: any("resolved" in t for t in titles(receiver)), timeout=30)
    wait_for("an empty outbox", lambda: all(n["status"] == "sent" for n in standby.api("/api/v1/notifications")), 30)
    time.sleep(3)  # a few more of the new leader's looks at the outbox: nothing goes twice
    sent = titles(receiver)
    assert len(sent) == 2, sent
    assert "shop is failing" in sent[0] and "resolved" in sent[1]
    print(f"handover after SIGKILL: {handover:.1f} s")
    assert [i["status"] for i in standby.api("/api/v1/incidents") if i["monitor"] == "shop"] == ["resolved"]


def test_a_job_that_calls_the_standby_is_heard_by_the_leader(hubs):
    leader, standby = hubs
    for _ in range(14):  # every second, for twice its period and grace over and more
        assert standby.send("POST", "/push/backup-job-secret-0123").status_code == 200
        time.sleep(1)
    assert [v["push"]["signal"] for v in leader.api("/api/v1/monitors/backup/results")] == ["success"] * 14
    assert leader.api("/api/v1/incidents") == []
