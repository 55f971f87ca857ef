"""The dashboard's monitor form as a person meets it, against a real `ronda run`: each
mistake said in ronda's words next to its field, with what was typed kept; a monitor of
the dashboard or the API edited (its new target checked, what the form does not show
kept); the config file's monitors pointed back to the file; the form's CSRF token required."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.world.web import WebServer
from tests.support import RondaProcess, config_text, free_port, wait_for

PASSWORD = "correct horse battery staple"
PYDANTIC_WORDS = ("Value error", "Input should be", "String should", "valid integer")
VALID = {
    "url": "https://shop.example/",
    "interval": "1m",
    "expect_status": "200",
    "expect_text": "Welcome",
    "tags": "web, shop",
}


def start_ronda(folder: Path, ca_file: str, storage: str = "sqlite:///ronda.db") -> RondaProcess:
    """`ronda run` with one monitor in its config file (home) and an admin who logs in."""
    config = folder / "ronda.yaml"
    home = f"  - name: home\n    url: http://127.0.0.1:{free_port()}/\n"
    config.write_text(config_text(free_port(), ca_file, home, storage=storage))
    return RondaProcess(config).start(env={"RONDA_ADMIN_PASSWORD": PASSWORD})


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory, ca_file: str) -> Iterator[RondaProcess]:
    process = start_ronda(tmp_path_factory.mktemp("forms"), ca_file)
    yield process
    code, output = process.stop()
    assert code == 0 and "Traceback" not in output, output


class Person:
    """Someone at the dashboard in a browser: logged in through the form, sending the
    forms of its pages with the session's CSRF token."""

    def __init__(self, ronda: RondaProcess) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{ronda.port}", headers={"Accept": "text/html"})
        login = self.client.get("/login")
        answer = self.client.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(login.text)}
        )
        assert answer.status_code == 303, answer.text
        self.csrf = csrf_of(self.client.get("/account").text)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def send(self, path: str, fields: dict[str, str], with_token: bool = True) -> httpx.Response:
        """The form at `path` sent with `fields`, as its page's button sends it."""
        return self.client.post(path, data=fields | ({"csrf_token": self.csrf} if with_token else {}))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found[1]


@pytest.fixture
def person(ronda: RondaProcess) -> Iterator[Person]:
    someone = Person(ronda)
    yield someone
    someone.client.close()


# -- reading a page ---------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())


class _ById(HTMLParser):
    """Each element of a page that has an id: its attributes (unescaped) and its text."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, Element] = {}
        self.open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if "id" in attributes:
            self.found[attributes["id"]] = Element(tag, attributes)
        if tag not in self.VOID:
            self.open.append((tag, attributes.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, element_id in self.open:
            if element_id:
                self.found[element_id].text.append(data)


def by_id(page: str) -> dict[str, Element]:
    parser = _ById()
    parser.feed(page)
    return parser.found


def assert_said_at(page: str, field_id: str, words: str) -> None:
    """`words` right under the field `field_id`, tied to it for screen readers, and in the
    list above the form with a link to the field."""
    found = by_id(page)
    assert words in found[f"{field_id}-error"].words
    field_input = found[field_id]
    assert (field_input.attrs["aria-invalid"], field_input.attrs["aria-describedby"]) == ("true", f"{field_id}-error")
    assert re.search(rf'<input id="{field_id}"[^>]*>\s*<p class="error" id="{field_id}-error">', page), "next to it"
    assert f'<a href="#{field_id}">' in page[page.index('id="form-errors"') :]
    assert words in found["form-errors"].words


def assert_no_pydantic_words(page: str) -> None:
    assert [words for words in PYDANTIC_WORDS if words in page] == []


def assert_kept_as_typed(page: str, typed: dict[str, str]) -> None:
    found = by_id(page)
    assert {key: found[key].attrs["value"] for key in typed} == typed


# -- adding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "field_id", "words"),
    [
        (
            {"interval": "every minute"},
            "interval",
            "expected a duration such as 500ms, 30s, 5m or 1h, got 'every minute'",
        ),
        ({"interval": "0s"}, "interval", "a duration must be positive, got '0s'"),
        (
            {"url": "ftp://files.example/"},
            "url",
            "'ftp://files.example/': unsupported scheme ftp://; use one of "
            "browser+http://, browser+https://, dns://, grpc://, grpcs://, http://, https://",
        ),
        ({"url": "tcp://db.example"}, "url", "tcp:// targets need a port, as in tcp://db.example:PORT"),
        ({"url": ""}, "url", "required but missing"),
        ({"name": "bad name!"}, "name", "a name is letters, digits, '.', '_' and '-', starting with a letter"),
        ({"expect_status": "ok"}, "expect_status", "a number such as 200 (an HTTP status, 100 to 599)"),
        ({"expect_status": "99"}, "expect_status", "a number such as 200 (an HTTP status, 100 to 599)"),
        ({"name": "home"}, "name", "'home' is used by another monitor"),
    ],
    ids=[
        "interval not a duration",
        "interval zero",
        "url of a scheme ronda does not check",
        "tcp url without a port",
        "url left empty",
        "name with a space",
        "status not a number",
        "status out of range",
        "name of the config file's monitor",
    ],
)
def test_a_mistake_is_said_in_ronda_words_next_to_its_field(ronda, person, typed, field_id, words):
    fields = {"name": f"mistake-{field_id}"} | VALID | typed
    answer = person.send("/new-monitor", fields)
    assert answer.status_code == 422
    assert_said_at(answer.text, field_id, words)
    assert "The monitor was not added:" in answer.text
    assert_no_pydantic_words(answer.text)
    assert_kept_as_typed(answer.text, fields)
    if fields["name"] != "home":
        assert ronda.get(f"/api/v1/monitors/{fields['name']}").status_code == 404, "nothing was added"


def test_each_of_several_mistakes_is_said_at_its_own_field(person):
    fields = {"name": "two-mistakes"} | VALID | {"interval": "soon", "expect_status": "fine"}
    answer = person.send("/new-monitor", fields)
    assert answer.status_code == 422
    assert_said_at(answer.text, "interval", "got 'soon'")
    assert_said_at(answer.text, "expect_status", "a number such as 200")
    assert by_id(answer.text).keys().isdisjoint({"url-error", "name-error", "tags-error"})
    assert_no_pydantic_words(answer.text)


def test_a_monitor_added_through_the_form_is_stored_as_typed(ronda, person):
    answer = person.send("/new-monitor", {"name": "added"} | VALID)
    assert (answer.status_code, answer.headers["location"]) == (303, "/monitors/added")
    stored = ronda.api("/api/v1/monitors/added")
    assert stored["spec"] == {
        "name": "added",
        "url": "https://shop.example/",
        "interval": 60.0,
        "expect": {"status": 200, "text": "Welcome"},
        "tags": ["web", "shop"],
    }
    page = person.get("/monitors/added").text
    assert '<a class="button secondary" href="/monitors/added/edit">Edit this monitor</a>' in page


# -- editing ----------------------------------------------------------------------------------


def add_through_the_api(ronda: RondaProcess, spec: dict[str, Any]) -> None:
    added = ronda.send("POST", "/api/v1/monitors", spec)
    assert added.status_code == 201, added.text


def test_an_edited_monitor_is_checked_at_its_new_target_and_keeps_what_the_form_does_not_show(
    tmp_path, ca_file, store_url, web: Callable[..., WebServer]
):
    """On each store ronda supports."""
    first, second = web(), web()
    ronda = start_ronda(tmp_path, ca_file, storage=store_url)
    try:
        spec = {"name": "site", "url": first.url(), "interval": "1m", "timeout": "5s", "tags": ["web"]}
        add_through_the_api(ronda, spec | {"expect": {"text": "Welcome", "max_latency": "2s"}})
        person = Person(ronda)
        form = person.get("/monitors/site/edit")
        assert form.status_code == 200
        shown = {"name": "site", "url": first.url(), "interval": "1m", "expect_text": "Welcome", "tags": "web"}
        assert_kept_as_typed(form.text, shown | {"expect_status": ""})
        assert "<code>expect.max_latency</code>, <code>timeout</code>." in form.text, "what editing leaves as it is"

        changed = shown | {
            "url": second.url("/health"),
            "interval": "200ms",
            "expect_status": "200",
            "tags": "web, shop",
        }
        answer = person.send("/monitors/site/edit", changed)
        assert (answer.status_code, answer.headers["location"]) == (303, "/monitors/site")
        assert ronda.api("/api/v1/monitors/site")["spec"] == {
            "name": "site",
            "url": second.url("/health"),
            "interval": 0.2,
            "timeout": 5.0,
            "expect": {"status": 200, "text": "Welcome", "max_latency": 2.0},
            "tags": ["web", "shop"],
        }
        assert second.url("/health") in person.get("/monitors/site").text
        assert_kept_as_typed(person.get("/monitors/site/edit").text, changed)
        wait_for("checked at its new target", lambda: second.requests)
        person.client.close()
    finally:
        ronda.stop()


def test_a_mistake_in_an_edit_is_said_next_to_its_field_and_changes_nothing(ronda, person):
    add_through_the_api(ronda, {"name": "steady", "url": "https://steady.example/", "interval": "5m"})
    typed = {"name": "steady", "url": "https://steady.example/", "interval": "5 minutes"}
    answer = person.send("/monitors/steady/edit", typed)
    assert answer.status_code == 422
    assert "The monitor was not changed:" in answer.text
    assert_said_at(answer.text, "interval", "expected a duration such as 500ms, 30s, 5m or 1h, got '5 minutes'")
    assert_kept_as_typed(answer.text, typed)
    assert_no_pydantic_words(answer.text)
    assert ronda.api("/api/v1/monitors/steady")["spec"]["interval"] == 300.0


def test_a_monitor_keeps_its_name_when_edited(ronda, person):
    add_through_the_api(ronda, {"name": "named", "url": "https://named.example/"})
    answer = person.send("/monitors/named/edit", {"name": "renamed", "url": "https://other.example/"})
    assert answer.status_code == 422
    assert_said_at(answer.text, "name", "a monitor keeps its name: add a monitor named 'renamed' and delete 'named'")
    assert ronda.api("/api/v1/monitors/named")["target"] == "https://named.example/"
    assert ronda.get("/api/v1/monitors/renamed").status_code == 404
    name_field = by_id(person.get("/monitors/named/edit").text)["name"]
    assert (name_field.attrs["value"], "readonly" in name_field.attrs) == ("named", True), "shown, not for changing"


def test_a_monitor_of_the_config_file_is_changed_in_the_file(ronda, person):
    words = f"home is defined in the config file {ronda.config}: change it there, then reload ronda."
    page = person.get("/monitors/home/edit")
    assert page.status_code == 409
    assert words in by_id(page.text)["main"].words
    answer = person.send("/monitors/home/edit", {"name": "home", "url": "https://elsewhere.example/"})
    assert answer.status_code == 409 and words in answer.text
    assert ronda.api("/api/v1/monitors/home")["target"] != "https://elsewhere.example/"
    assert "Edit this monitor" not in person.get("/monitors/home").text


def test_editing_needs_the_forms_csrf_token(ronda, person):
    add_through_the_api(ronda, {"name": "guarded", "url": "https://guarded.example/"})
    forged = person.send("/monitors/guarded/edit", {"name": "guarded", "url": "https://forged.example/"}, False)
    assert forged.status_code == 403
    assert "reload the page" in forged.text
    assert ronda.api("/api/v1/monitors/guarded")["target"] == "https://guarded.example/"
    sent = person.send("/monitors/guarded/edit", {"name": "guarded", "url": "https://guarded.example/v2"})
    assert sent.status_code == 303
    assert ronda.api("/api/v1/monitors/guarded")["target"] == "https://guarded.example/v2"


def test_there_is_no_form_for_a_monitor_that_does_not_exist(person):
    for answer in (person.get("/monitors/nope/edit"), person.send("/monitors/nope/edit", {"name": "nope"})):
        assert answer.status_code == 404
        assert "No monitor named &#39;nope&#39;." in answer.text
        assert '<a href="/">Back to the monitors</a>' in answer.text
