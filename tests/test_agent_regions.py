"""Where an outage is, seen from probe agents in regions of their own: network namespaces
the test makes, nothing leaving the machine.

The "world" namespace holds the hub (`ronda run`), the target (10.9.9.9) and a canary the
agents use to tell their own network works (10.9.9.1). Each region is a namespace of its own
with one agent, joined to the world by a wire (eu-south: 10.1.1.0/24, us-east: 10.1.2.0/24),
routing 10.9.9.0/24 through it; the hub is on the wire itself. A region's route to the
target is cut with a blackhole route for 10.9.9.9 alone (the canary still answers: the
target is what fails from there); an agent's uplink is cut by removing the whole route
(its canary fails too: its own network, not the target).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.netns import IP, Namespace, must, veth_pair
from tests.support import TOKEN, wait_for

TARGET, CANARY = "10.9.9.9", "10.9.9.1"
PORT = 8080  # the hub's, on every address of the world
SERVED = 8081  # the target's and the canary's
REGIONS = {"eu-south": ("milan-1", "10.1.1"), "us-east": ("virginia-1", "10.1.2")}
_GET = (
    "import httpx, sys; r = httpx.get(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]}); print(r.text)"
)


@dataclass
class World:
    world: Namespace
    regions: dict[str, Namespace]
    processes: list[subprocess.Popen[str]]
    folder: Path

    def api(self, path: str) -> Any:
        """The hub's API, asked from inside the world (the test's own namespace cannot reach it)."""
        done = self.world.run([sys.executable, "-c", _GET, f"http://127.0.0.1:{PORT}{path}", TOKEN], timeout=30)
        return json.loads(done.stdout)

    def page(self, path: str) -> str:
        return self.world.run([sys.executable, "-c", _GET, f"http://127.0.0.1:{PORT}{path}", TOKEN], timeout=30).stdout

    def route(self, region: str, *args: str) -> None:
        must(self.regions[region].run([IP, "route", *args]))

    def cut_target(self, region: str) -> None:
        self.route(region, "add", "blackhole", f"{TARGET}/32")

    def mend_target(self, region: str) -> None:
        self.route(region, "del", "blackhole", f"{TARGET}/32")

    def cut_uplink(self, region: str) -> None:
        self.route(region, "del", "10.9.9.0/24")

    def mend_uplink(self, region: str) -> None:
        subnet = REGIONS[region][1]
        self.route(region, "add", "10.9.9.0/24", "via", f"{subnet}.1")

    def wait(self, what: str, condition: Callable[[], Any], timeout: float = 60) -> Any:
        """wait_for, and when it times out, what the hub and the agents logged last."""
        try:
            return wait_for(what, condition, timeout)
        except AssertionError as exc:
            tails = [f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(self.folder.glob("*.log"))]
            seen = f"--- vantages\n{self.api('/api/v1/monitors/shop/vantages')}\n--- agents\n{self.agent_states()}"
            raise AssertionError(f"{exc}\n{seen}\n" + "\n".join(tails)) from None

    def open_incidents(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/incidents?open=true"))

    def agent_states(self) -> dict[str, str]:
        return {agent["name"]: agent["state"] for agent in self.api("/api/v1/agents")}


def hub_config(folder: Path) -> Path:
    path = folder / "hub.yaml"
    path.write_text(
        f"server:\n  listen: 0.0.0.0:{PORT}\n  token: {TOKEN}\n  checks: thread\n"
        f"storage: sqlite:///{folder / 'hub.db'}\n"
        "canaries: []\ngateway: none\n"
        "defaults:\n  interval: 1s\n  timeout: 1s\n  confirm: 2\n  recover: 2\n"
        "agents:\n  ask_every: 500ms\n  silent_after: 3s\n"
        "monitors:\n"
        f"  - name: shop\n    url: http://{TARGET}:{SERVED}/\n    regions: [eu-south, us-east]\n"
    )
    return path


def agent_token(config: Path, name: str, region: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ronda", "agents", "add", name, "--region", region, "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = Namespace()
    regions: dict[str, Namespace] = {}
    processes: list[subprocess.Popen[str]] = []
    try:
        for address in (TARGET, CANARY):
            must(world.run([IP, "addr", "add", f"{address}/32", "dev", "lo"]))
        config = hub_config(tmp_path)
        for index, (region, (_, subnet)) in enumerate(REGIONS.items()):
            regions[region] = Namespace()
            veth_pair(world, regions[region], f"{subnet}.1", f"{subnet}.2", names=(f"to-{index}", "uplink"))
            must(regions[region].run([IP, "route", "add", "10.9.9.0/24", "via", f"{subnet}.1"]))
        # The target and the canary: plain HTTP servers, 200 for "/".
        for address in (TARGET, CANARY):
            served = [sys.executable, "-m", "http.server", "--bind", address, str(SERVED)]
            processes.append(world.popen(served, tmp_path / f"{address}.log"))
        processes.append(
            world.popen([sys.executable, "-m", "ronda", "run", "--config", str(config)], tmp_path / "hub.log")
        )
        for region, (name, subnet) in REGIONS.items():
            token = agent_token(config, name, region)
            data = tmp_path / name
            args = ["--hub", f"http://{subnet}.1:{PORT}", "--token", token, "--data", str(data)]
            args += ["--canary", f"tcp://{CANARY}:{SERVED}"]
            processes.append(
                regions[region].popen([sys.executable, "-m", "ronda", "agent", *args], tmp_path / f"{name}.log")
            )
        made = World(world, regions, processes, tmp_path)
        made.wait("both agents live", lambda: set(made.agent_states().values()) == {"live"}, timeout=60)
        made.wait("shop up from both regions", lambda: shop_seen_up(made), timeout=60)
        yield made
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        for namespace in [*regions.values(), world]:
            namespace.close()


def shop_seen_up(world: World) -> bool:
    seen = {v["region"]: v["status"] for v in world.api("/api/v1/monitors/shop/vantages")}
    return seen == {"eu-south": "up", "us-east": "up"}


def open_with(world: World, scope: str) -> dict[str, Any] | None:
    opened = [i for i in world.open_incidents() if i["scope"] == scope]
    return opened[0] if opened else None


def test_a_cut_region_is_a_regional_incident_and_every_region_cut_is_global(world):
    world.cut_target("eu-south")
    incident = world.wait("a regional incident", lambda: open_with(world, "regional"), timeout=60)
    assert (incident["regions"], incident["working_regions"]) == (["eu-south"], ["us-east"])
    assert "failing from eu-south, working from us-east" in world.page("/status")
    world.cut_target("us-east")
    incident = world.wait("the incident to become global", lambda: open_with(world, "global"), timeout=60)
    assert (incident["regions"], incident["working_regions"]) == (["eu-south", "us-east"], [])
    for region in REGIONS:
        world.mend_target(region)
    world.wait("the outage to resolve", lambda: world.open_incidents() == [], timeout=60)


def test_an_agent_cut_off_from_everything_but_its_hub_opens_no_incident_and_says_so(world):
    world.cut_uplink("eu-south")
    world.wait("milan-1 to say it is cut off", lambda: world.agent_states()["milan-1"] == "cut-off", timeout=60)
    kept = world.wait(
        "milan-1's failures while cut off",
        lambda: [v for v in world.api("/api/v1/monitors/shop/vantages") if v["offline"] and v["status"] == "down"],
        timeout=60,
    )
    assert kept[0]["vantage"] == "eu-south/milan-1"
    assert "cut off: its own network fails" in world.page("/agents")
    assert "milan-1 (eu-south) is cut off" in world.page("/")
    world.wait("several more rounds of checks", lambda: checks_from(world, "eu-south/milan-1") >= kept[0]["checks"] + 5)
    assert world.open_incidents() == []
    assert world.api("/api/v1/incidents") == []
    world.mend_uplink("eu-south")
    world.wait("milan-1 live again", lambda: world.agent_states()["milan-1"] == "live", timeout=60)
    assert world.api("/api/v1/incidents") == []


def checks_from(world: World, vantage: str) -> int:
    return next((v["checks"] for v in world.api("/api/v1/monitors/shop/vantages") if v["vantage"] == vantage), 0)
