"""Secrets stay secret: `ronda run` with known secrets in every place a config and its users
put them (the config's token, an API token, the admin's password, a push monitor's token,
passwords in targets and in notification URLs, a TOTP secret), its API, pages and feeds read as an admin
and as nobody, its notices caught by a real webhook, and everything it logged: none of them
holds a secret, except where a secret is meant to be shown (a new API token in the answer
that makes it; a push URL to the signed-in)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pyotp
import pytest

from tests.receivers import WebhookReceiver
from tests.support import die_with_parent, free_port, wait_for

CONFIG_TOKEN = "Cfg-Token-Secret-0123456789"
ADMIN_PASSWORD = "Admin-Pass-Secret-4711"
PUSH_TOKEN = "PushTokenSecret0123456789"
RTSP_PASSWORD = "RtspPassSecret123"
HTTP_PASSWORD = "HttpPassSecret456"
HOOK_PASSWORD = "HookPassSecret789"
DEAD_HOOK_PASSWORD = "DeadHookSecret321"
NOT_FOR_ANYONE = [CONFIG_TOKEN, ADMIN_PASSWORD, RTSP_PASSWORD, HTTP_PASSWORD, HOOK_PASSWORD, DEAD_HOOK_PASSWORD]


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def config(port: int, hook_port: int, closed: int) -> str:
    return f"""\
server:
  listen: 127.0.0.1:{port}
  token: ${{RONDA_TOKEN}}
storage: sqlite:///ronda.db
canaries: []
gateway: none
defaults:
  interval: 500ms
  timeout: 1s
  confirm: 1
notify:
  - json://hook:{HOOK_PASSWORD}@127.0.0.1:{hook_port}/hook
  - name: dead
    url: json://dead:{DEAD_HOOK_PASSWORD}@127.0.0.1:{closed}/hook
monitors:
  - name: camera
    url: rtsp://viewer:{RTSP_PASSWORD}@127.0.0.1:{closed}/stream
    tags: [public]
  - name: intranet
    url: http://staff:{HTTP_PASSWORD}@127.0.0.1:{closed}/
    tags: [public]
  - name: backup
    kind: push
    period: 1d
    token: {PUSH_TOKEN}
    tags: [public]
status_pages:
  - slug: public
    title: Example
    tags: [public]
"""


def scan(where: str, text: str, secrets: list[str]) -> list[str]:
    return [f"{secret} in {where}" for secret in secrets if secret in text]


def test_no_secret_in_logs_api_answers_notices_or_pages(tmp_path, receiver):
    port, closed = free_port(), free_port()
    (tmp_path / "ronda.yaml").write_text(config(port, receiver.port, closed))
    env = {**os.environ, "RONDA_TOKEN": CONFIG_TOKEN, "RONDA_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda", "run", "--config", str(tmp_path / "ronda.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {CONFIG_TOKEN}"}, timeout=30)
    stranger = httpx.Client(base_url=base, timeout=30)
    browser = httpx.Client(base_url=base, timeout=30)
    leaks: list[str] = []
    try:

        def healthy() -> bool:
            try:
                return stranger.get("/healthz").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                return False

        wait_for("ronda run", healthy)
        made = admin.post("/api/v1/tokens", json={"name": "script"})
        assert made.status_code == 201
        api_token = made.json()["token"]
        secrets = [*NOT_FOR_ANYONE, api_token]
        assert admin.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200

        login = browser.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        form = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)}
        assert browser.post("/login", data=form).status_code == 303
        secrets.append(enrol_second_factor(browser))

        # Both targets fail: incidents open, the webhook hears them, the dead channel fails.
        wait_for("two notices", lambda: len(receiver.messages) >= 2, timeout=60)
        wait_for(
            "the dead channel's error",
            lambda: any(n["last_error"] for n in admin.get("/api/v1/notifications").json()),
            timeout=60,
        )

        paths = [p for p, ops in admin.get("/api/openapi.json").json()["paths"].items() if "get" in ops]
        names = [m["name"] for m in admin.get("/api/v1/monitors").json()]
        incidents = [i["id"] for i in admin.get("/api/v1/incidents").json()]
        assert incidents, "the failing targets opened incidents (their timelines are in /api/v1/incidents)"
        for template in paths:
            if template == "/live" or template.startswith("/push/"):
                continue  # a stream that never ends; the push routes take the secret itself
            for path in expand(template, names):
                for who, client in (("admin", admin), ("a signed-in browser", browser), ("a stranger", stranger)):
                    text = client.get(path).text
                    shown_to_signed_in = who != "a stranger" and not path.startswith("/status")
                    allowed = {PUSH_TOKEN} if shown_to_signed_in else set()
                    leaks += scan(f"GET {path} as {who}", text, [s for s in [*secrets, PUSH_TOKEN] if s not in allowed])
        for message in receiver.messages:
            leaks += scan("a notice", str(message), [*secrets, PUSH_TOKEN])
    finally:
        for client in (admin, stranger, browser):
            client.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    leaks += scan("the log", out, [*NOT_FOR_ANYONE, PUSH_TOKEN])
    assert not leaks, "\n".join(leaks)
    heard = str(receiver.messages)
    assert "camera" in heard and "intranet" in heard, "both failing monitors were notified, so both were scanned"


def enrol_second_factor(browser: httpx.Client) -> str:
    """Turn TOTP on for the signed-in user, as on the account page; its secret."""
    csrf = session_csrf(browser.get("/account").text)
    started = browser.post("/account/totp/start", data={"csrf_token": csrf}).text
    found = re.search(r'name="secret" value="([A-Z2-7]+)"', started)
    assert found is not None
    secret = found.group(1)
    form = {"csrf_token": csrf, "secret": secret, "code": pyotp.TOTP(secret).now()}
    assert browser.post("/account/totp/confirm", data=form).status_code == 303
    return secret


def session_csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def expand(template: str, names: list[str]) -> list[str]:
    """A route's paths with its parameters filled in: every monitor for a name."""
    if "{" not in template:
        return [template]
    if template.count("{") > 1:
        return []
    if "{name}" in template or "{monitor}" in template:
        return [re.sub(r"\{[a-z_]+\}", name, template) for name in names]
    if "{slug}" in template:
        return [template.replace("{slug}", "public")]
    return []


def test_without_a_config_token_the_run_hands_its_token_over_in_a_private_file(tmp_path):
    port = free_port()
    (tmp_path / "ronda.yaml").write_text(
        f"server:\n  listen: 127.0.0.1:{port}\nstorage: sqlite:///ronda.db\ncanaries: []\ngateway: none\n"
    )
    env = {**os.environ, "RONDA_ADMIN_PASSWORD": ADMIN_PASSWORD, "COLUMNS": "400"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda", "run", "--config", str(tmp_path / "ronda.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=die_with_parent,
    )  # fmt: skip
    token_file = tmp_path / "ronda-token"
    try:
        wait_for("the token file", token_file.exists)
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600

        def answers() -> bool:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
                return answer.status_code == 200
            except httpx.TransportError:
                return False

        wait_for("the API to take the token", answers)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert token not in out
    assert f"written to {token_file}" in " ".join(out.split())
