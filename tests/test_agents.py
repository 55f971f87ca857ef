"""Probe agents: tokens the hub hands out and revokes, monitors shared out by region with
rendezvous hashing, verdicts sent back in batches that survive the hub's absence. The hub
and the agents run as real processes (`ronda run`, `ronda agent`), against a target on
loopback."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ronda.agent.hub import HubClient
from ronda.service.agent_hub import owner
from ronda.storage.agents import AgentError
from ronda.storage.database import Database
from ronda.verdict import iso, verdict_from_json
from ronda.web import examples
from tests.receivers import BreakableSite
from tests.support import RondaProcess, die_with_parent, free_port, wait_for

# -- the store's agents ----------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    store = Database(store_url)
    yield store
    store.close()


def test_an_agent_is_who_its_token_says(store):
    secret, agent = store.agents.add("milan-1", "eu-south")
    assert secret.startswith("ronda_agent_") and agent.prefix == secret[:20]
    used = store.agents.use(secret, "198.51.100.7", "0.1.0")
    assert (used.name, used.region, used.vantage, used.address) == (
        "milan-1",
        "eu-south",
        "eu-south/milan-1",
        "198.51.100.7",
    )
    assert store.agents.use(secret[:-1] + "x") is None
    assert store.agents.use("test-token-0123456789abcdef") is None


def test_a_revoked_agent_is_refused_and_its_name_can_be_given_a_new_token(store):
    old, _ = store.agents.add("milan-1", "eu-south")
    with pytest.raises(AgentError, match="already"):
        store.agents.add("milan-1", "eu-south")
    assert store.agents.revoke("milan-1").revoked_at is not None
    assert store.agents.use(old) is None
    new, _ = store.agents.add("milan-1", "eu-west")
    assert store.agents.use(old) is None
    assert store.agents.use(new).vantage == "eu-west/milan-1"
    assert [a.name for a in store.agents.all()] == ["milan-1"]
    assert store.agents.revoke("nobody") is None


@pytest.mark.parametrize(
    ("name", "region", "message"),
    [
        ("milan-1", "local", "the hub's own region"),
        ("milan-1", "EU South", "not a region name"),
        ("milan 1", "eu-south", "not an agent name"),
        ("m" * 33, "eu-south", "not an agent name"),
    ],
)
def test_names_and_regions_are_checked(store, name, region, message):
    with pytest.raises(AgentError, match=message):
        store.agents.add(name, region)


# -- rendezvous hashing ------------------------------------------------------------------------

MONITORS = [f"monitor-{i}" for i in range(2000)]


def shares(agents: list[str]) -> dict[str, str]:
    return {monitor: str(owner(monitor, agents)) for monitor in MONITORS}


def test_an_agent_joining_takes_only_its_share_from_the_others():
    before, after = shares(["a", "b", "c"]), shares(["a", "b", "c", "d"])
    moved = [m for m in MONITORS if before[m] != after[m]]
    assert all(after[m] == "d" for m in moved)
    assert 0.18 < len(moved) / len(MONITORS) < 0.32  # about a quarter
    assert {before[m] for m in moved} == {"a", "b", "c"}  # taken from each


def test_an_agent_leaving_hands_on_only_its_own_monitors():
    before, after = shares(["a", "b", "c"]), shares(["a", "c"])
    moved = {m for m in MONITORS if before[m] != after[m]}
    assert moved == {m for m in MONITORS if before[m] == "b"}
    assert owner("monitor-1", []) is None


def test_a_verdict_reads_back_as_the_json_it_was():
    for example in (examples.VERDICT, examples.CAMERA_VERDICT):
        assert verdict_from_json(example).to_json() == example


def test_a_verdict_without_its_status_is_refused_by_name():
    with pytest.raises(ValueError, match="status"):
        verdict_from_json({"target": "https://shop.test/", "checked_at": "2026-12-05T10:00:00Z"})
    with pytest.raises(ValueError, match="status: expected one of"):
        verdict_from_json({"target": "x", "status": "fine", "checked_at": "2026-12-05T10:00:00Z"})


# -- a hub and its agents, as processes ---------------------------------------------------------


class AgentProcess:
    """`ronda agent` as a user starts it."""

    def __init__(self, hub: RondaProcess, token: str, data: Path, name: str = "") -> None:
        self.data = data
        self.log = data / "agent.log"
        data.mkdir(parents=True, exist_ok=True)
        args = ["--hub", f"http://127.0.0.1:{hub.port}", "--data", str(data)]
        if name:
            args += ["--name", name]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ronda", "agent", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "RONDA_AGENT_TOKEN": token, "COLUMNS": "200"},
                preexec_fn=die_with_parent,
            )

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


EU_ONLY = [f"eu-{i}" for i in range(8)]


def hub_config(path: Path, port: int, target: BreakableSite) -> Path:
    monitors = "".join(
        f"  - name: {name}\n    url: http://127.0.0.1:{target.port}/{name}\n    regions: [eu-south]\n"
        for name in EU_ONLY
    )
    monitors += f"  - name: everywhere\n    url: http://127.0.0.1:{target.port}/everywhere\n"
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n"
        f"storage: sqlite:///{path.parent / 'hub.db'}\n"
        "canaries: []\ngateway: none\n"
        "defaults:\n  interval: 1s\n  timeout: 2s\n"
        "agents:\n  ask_every: 500ms\n  silent_after: 3s\n"
        f"monitors:\n{monitors}"
    )
    return path


@pytest.fixture
def hub(tmp_path: Path, site: BreakableSite) -> Iterator[RondaProcess]:
    hub = RondaProcess(hub_config(tmp_path / "hub.yaml", free_port(), site)).start()
    yield hub
    if hub.proc is not None and hub.proc.poll() is None:
        hub.stop()


def added(hub: RondaProcess, name: str, region: str) -> str:
    answer = hub.send("POST", "/api/v1/agents", {"name": name, "region": region})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def agents_of(hub: RondaProcess) -> dict[str, dict[str, Any]]:
    return {agent["name"]: agent for agent in hub.api("/api/v1/agents")}


def vantages(hub: RondaProcess, monitor: str) -> list[str]:
    return [result["vantage"] for result in hub.api(f"/api/v1/monitors/{monitor}/results?limit=50")]


@pytest.fixture
def agents(hub: RondaProcess, tmp_path: Path) -> Iterator[dict[str, AgentProcess]]:
    started = {
        name: AgentProcess(hub, added(hub, name, region), tmp_path / name, name)
        for name, region in (("milan-1", "eu-south"), ("rome-1", "eu-south"), ("nyc-1", "us-east"))
    }
    yield started
    for agent in started.values():
        agent.stop()


def regions_seen(hub: RondaProcess, monitor: str) -> set[str]:
    return {vantage.split("/")[0] for vantage in vantages(hub, monitor)}


def from_each_region(hub: RondaProcess, monitor: str) -> list[dict[str, Any]] | None:
    seen = hub.api(f"/api/v1/monitors/{monitor}/vantages")
    return seen if {v["region"] for v in seen} == {"local", "eu-south", "us-east"} else None


def assigned(hub: RondaProcess) -> dict[str, int]:
    return {name: agent["monitors"] or 0 for name, agent in agents_of(hub).items() if agent["state"] == "live"}


def shared_out(counts: dict[str, int]) -> dict[str, int] | None:
    """The counts once every agent is live with its share: eu-south's two have the eight eu-
    monitors and `everywhere` between them, us-east's one `everywhere` alone."""
    if len(counts) == 3 and counts["milan-1"] + counts["rome-1"] == 9 and counts["nyc-1"] == 1:
        return counts
    return None


def test_each_region_checks_its_monitors_once_and_a_silent_agent_hands_them_on(hub, agents):
    # eu-south: the 8 eu- monitors and `everywhere`, split between its two agents; us-east:
    # `everywhere` only; and the hub checks `everywhere` itself (regions unset: all).
    counts = wait_for("every agent to have its monitors", lambda: shared_out(assigned(hub)))
    assert counts["milan-1"] > 0 and counts["rome-1"] > 0
    seen = wait_for(
        "verdicts from the three regions", lambda: regions_seen(hub, "everywhere") == {"local", "eu-south", "us-east"}
    )
    assert seen
    seen_from = wait_for("latency from each region", lambda: from_each_region(hub, "everywhere"))
    assert seen_from[0]["vantage"] == "local"  # the hub's own first, then the agents' (eu-south's may be two)
    assert all(v["status"] == "up" and v["median_ms"] is not None for v in seen_from)
    page = hub.get("/monitors/everywhere").text
    assert "From where" in page and "us-east/nyc-1" in page
    for monitor in EU_ONLY:
        assert "local" not in vantages(hub, monitor)
        assert not any(v.startswith("us-east/") for v in vantages(hub, monitor))
    agents["rome-1"].kill()
    wait_for("rome-1 to be silent", lambda: agents_of(hub)["rome-1"]["state"] == "silent", timeout=30)
    assert "rome-1 (eu-south) is silent: a lost vantage point" in hub.get("/").text
    wait_for("milan-1 to check every eu-south monitor", lambda: assigned(hub).get("milan-1") == 9, timeout=30)
    monitor = next(m for m in EU_ONLY if "eu-south/rome-1" in vantages(hub, m))
    wait_for(f"{monitor} checked from milan-1", lambda: vantages(hub, monitor)[0] == "eu-south/milan-1", timeout=30)
    # A lost vantage point, not a failing target.
    assert hub.api(f"/api/v1/monitors/{monitor}")["status"] == "up"
    assert hub.api("/api/v1/incidents") == []


def test_monitors_no_agent_checks_are_named_on_every_page(hub, tmp_path):
    banner = "eu-0, eu-1, eu-2 and 5 more are checked from nowhere now: no live agent in eu-south."
    assert banner in hub.get("/").text
    agent = AgentProcess(hub, added(hub, "milan-1", "eu-south"), tmp_path / "milan-1")
    try:
        wait_for("the banner to go", lambda: "checked from nowhere" not in hub.get("/incidents").text)
    finally:
        agent.stop()


def test_a_revoked_agent_is_refused_from_its_next_call(hub, agents):
    wait_for("nyc-1 to be heard", lambda: agents_of(hub)["nyc-1"]["state"] == "live")
    assert hub.send("DELETE", "/api/v1/agents/nyc-1").json()["state"] == "revoked"
    wait_for("the refusal in its log", lambda: "refuses this agent's token" in agents["nyc-1"].output())
    answer = hub.send("GET", "/api/v1/agents/nyc-1")
    assert answer.status_code in (404, 405)
    assert agents_of(hub)["nyc-1"]["state"] == "revoked"
    page = hub.get("/agents").text
    assert "nyc-1" in page and "revoked" in page and "milan-1" in page


def test_a_person_token_is_no_agent_token(hub):
    for token in ("test-token-0123456789abcdef", "ronda_agent_made-up"):
        assert hub.get("/api/v1/agent/assignment", token=token).status_code == 401


def checked_at(hub: RondaProcess, monitor: str, vantage: str) -> list[datetime]:
    results = hub.api(f"/api/v1/monitors/{monitor}/results?limit=500")
    times = [datetime.fromisoformat(r["checked_at"].replace("Z", "+00:00")) for r in results if r["vantage"] == vantage]
    return sorted(times)


def test_verdicts_made_while_the_hub_is_away_arrive_when_it_is_back(hub, tmp_path):
    agent = AgentProcess(hub, added(hub, "milan-1", "eu-south"), tmp_path / "milan-1")
    try:
        wait_for("milan-1's first verdicts", lambda: checked_at(hub, "eu-0", "eu-south/milan-1"))
        hub.stop()
        wait_for("a batch kept on disk", lambda: list((tmp_path / "milan-1" / "buffer").glob("*.json.gz")))
        wait_for("two batches kept", lambda: len(list((tmp_path / "milan-1" / "buffer").glob("*.json.gz"))) >= 2)
        gone = datetime.now().astimezone()
        hub.start()
        wait_for("the buffer to empty", lambda: not list((tmp_path / "milan-1" / "buffer").glob("*.json.gz")), 30)
        wait_for("a verdict made since", lambda: checked_at(hub, "eu-0", "eu-south/milan-1")[-1] > gone, 30)
        times = checked_at(hub, "eu-0", "eu-south/milan-1")
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
        assert max(gaps) <= 3, f"a hole of {max(gaps)}s in the verdicts of an agent that checked every second"
        assert "the hub answers again" in agent.output()
    finally:
        agent.stop()


def test_two_agents_checking_a_monitor_in_the_same_second_are_both_kept(hub):
    """A batch's id is made from its verdicts' monitors and seconds, so two regions checking
    one monitor in the same second send the same id: neither may pass for the other's resend
    (it did, and a cut-off agent's verdicts stopped arriving while the other's did)."""
    made = {
        **examples.VERDICT,
        "target": f"http://127.0.0.1:{hub.port}/everywhere",
        "checked_at": iso(datetime.now(UTC)),
    }
    batch = {"batch": "one-id", "verdicts": [{"monitor": "everywhere", "verdict": made}], "online": True}

    async def send(token: str) -> dict[str, Any]:
        client = HubClient(f"http://127.0.0.1:{hub.port}", token)
        try:
            return await client.send(batch)
        finally:
            await client.close()

    milan, nyc = added(hub, "milan-1", "eu-south"), added(hub, "nyc-1", "us-east")
    assert asyncio.run(send(milan)) == {"taken": 1, "dropped": []}
    assert asyncio.run(send(nyc)) == {"taken": 1, "dropped": []}
    assert asyncio.run(send(milan)) == {"taken": 1, "again": True}  # a resend is still taken once
    from_agents = [vantage for vantage in vantages(hub, "everywhere") if vantage != "local"]
    assert sorted(from_agents) == ["eu-south/milan-1", "us-east/nyc-1"]


# -- the command line and the dashboard -------------------------------------------------------


def ronda(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ronda", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_agents_are_added_listed_and_revoked_from_the_command_line(tmp_path):
    storage = f"sqlite:///{tmp_path / 'hub.db'}"
    added = ronda("agents", "add", "milan-1", "--region", "eu-south", "--storage", storage)
    assert added.returncode == 0, added.stderr
    token = added.stdout.splitlines()[-1]
    assert token.startswith("ronda_agent_")
    listed = ronda("agents", "list", "--storage", storage).stdout
    assert listed.split("\t")[:3] == ["milan-1", "eu-south", "silent"] and token[:20] in listed
    again = ronda("agents", "add", "milan-1", "--region", "eu-south", "--storage", storage)
    assert again.returncode == 3 and "there is an agent called 'milan-1' already" in again.stdout
    assert ronda("agents", "revoke", "milan-1", "--storage", storage).returncode == 0
    assert "\trevoked\t" in ronda("agents", "list", "--storage", storage).stdout
    unknown = ronda("agents", "revoke", "rome-1", "--storage", storage)
    assert unknown.returncode == 3 and "no agent named 'rome-1'" in unknown.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--hub", "ronda.example", "--token", "t"], {}, "--hub ronda.example: expected the hub's http"),
        (["--hub", "https://ronda.example"], {"RONDA_AGENT_TOKEN": ""}, "an agent needs its token"),
        (["--hub", "https://ronda.example", "--token-file", "/nonexistent"], {}, "--token-file /nonexistent"),
        (["--hub", "https://ronda.example", "--token", "t", "--max-buffer", "lots"], {}, "--max-buffer lots"),
        (["--hub", "https://ronda.example", "--token", "t", "--canary", "gopher://x"], {}, "gopher"),
    ],
)
def test_an_agent_started_wrong_says_what_is_wrong(args, env, message):
    done = ronda("agent", *args, env=env)
    assert done.returncode == 3
    assert message in done.stdout


def test_an_admin_adds_an_agent_on_the_dashboard_and_sees_its_token_once(tmp_path):
    from ronda.web.app import create_app
    from ronda.web.context import WebContext
    from tests.test_accounts import PASSWORD, Browser, csrf_of, log_in

    store = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    store.accounts.add_user("alice", PASSWORD, "admin")
    browser = Browser(create_app(WebContext(store, "config-token-0123456789")))
    try:
        log_in(browser)
        page = browser.get("/agents")
        answer = browser.post("/agents", data={"name": "milan-1", "region": "eu-south", "csrf_token": csrf_of(page)})
        assert answer.status_code == 201
        token = re.search(r'<code class="token">(ronda_agent_[^<]+)</code>', answer.text)
        assert token and store.agents.use(token.group(1)).vantage == "eu-south/milan-1"
        listed = browser.get("/agents").text
        assert "milan-1" in listed and token.group(1) not in listed  # shown once
        wrong = browser.post("/agents", data={"name": "x", "region": "local", "csrf_token": csrf_of(page)})
        assert wrong.status_code == 400 and "the hub&#39;s own region" in wrong.text
        revoked = browser.post("/agents/milan-1/revoke", data={"csrf_token": csrf_of(page)})
        assert revoked.status_code == 303 and store.agents.use(token.group(1)) is None
    finally:
        browser.close()
        store.close()
