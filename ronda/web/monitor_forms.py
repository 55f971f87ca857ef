"""The dashboard's monitor form: add a monitor, edit one added here or through the API,
delete it. A mistake is said in ronda's own words (the config file's, config/wording.py)
next to the field it concerns, with what the person typed kept in every field.

The form shows the common keys of a monitor. Editing changes only those: the keys set
through the API that the form does not show (a timeout, a resolve map, depends_on) stay
as they are. The config file's monitors are changed in the file, and say so."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.concurrency import run_in_threadpool

from ronda.config.load import field_name
from ronda.config.schema import Monitor, parse_monitor
from ronda.config.wording import RONDA_WORDED, name_in_use, plain_message
from ronda.service.monitors import (
    InvalidMonitor,
    MonitorError,
    MonitorExists,
    MonitorManager,
    ReadOnlyMonitor,
    UnknownMonitorName,
)
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages

FormFields = dict[str, str]  # what a person typed, by the input's name
FormErrors = dict[str, str]  # what is wrong, by the input's name (or the definition's key)


@dataclass(frozen=True)
class FormField:
    key: str  # the input's name and id
    label: str  # its name in the list of mistakes above the form
    long_label: str  # its label on the form


FIELDS = {
    field.key: field
    for field in (
        FormField("name", "Name", "Name"),
        FormField("url", "Target URL", "Target URL"),
        FormField("interval", "Interval", "Interval (optional)"),
        FormField("expect_status", "Expected HTTP status", "Expected HTTP status (optional)"),
        FormField("expect_text", "Expected text", "Expected text in the page (optional)"),
        FormField("tags", "Tags", "Tags, separated by commas (optional)"),
    )
}
SHOWN_KEYS = frozenset({"name", "url", "interval", "expect", "tags", "kind"})  # of a definition, on the form
SHOWN_EXPECT = ("status", "text")

# What to write in a field whose check is pydantic's own (a pattern, a type, a range): its
# words are about strings and integers, these about monitors. The other fields' checks are
# ronda's (a duration, a URL) and already say what they take.
WHAT_TO_WRITE = {
    "name": "a name is letters, digits, '.', '_' and '-', starting with a letter or a digit, 64 at most",
    "expect_status": "a number such as 200 (an HTTP status, 100 to 599)",
}


# -- the form and a monitor's definition ----------------------------------------------------


def spec_from_form(form: FormFields, kept: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A monitor's definition from the form: its fields over `kept` (the stored definition,
    whose keys the form does not show stay as they are). An empty field unsets its key."""
    spec = copy.deepcopy(dict(kept or {}))
    for key in ("name", "url", "interval"):
        _put(spec, key, form.get(key, "").strip())
    expect = dict(spec.get("expect") or {})
    for key in SHOWN_EXPECT:
        _put(expect, key, form.get(f"expect_{key}", "").strip())
    _put(spec, "expect", expect)
    _put(spec, "tags", [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()])
    return spec


def _put(spec: dict[str, Any], key: str, value: Any) -> None:
    if value:
        spec[key] = value
    else:
        spec.pop(key, None)  # left empty: the default, as if never written


def monitor_from_form(form: FormFields, kept: Mapping[str, Any] | None = None) -> Monitor:
    """A monitor from the form, checked by the same model as the config file's monitors
    (ValidationError names the field)."""
    return parse_monitor(spec_from_form(form, kept))


def form_of_spec(spec: Mapping[str, Any]) -> FormFields:
    """A stored definition as the form shows it: durations as people write them."""
    expect = spec.get("expect") or {}
    interval = spec.get("interval")
    return {
        "name": str(spec.get("name", "")),
        "url": str(spec.get("url", "")),
        "interval": written_duration(interval) if isinstance(interval, int | float) else str(interval or ""),
        "expect_status": str(expect.get("status") or ""),
        "expect_text": str(expect.get("text") or ""),
        "tags": ", ".join(map(str, spec.get("tags") or [])),
    }


def kept_keys(spec: Mapping[str, Any]) -> list[str]:
    """The keys of a definition the form does not show (set through the API), as the config
    file writes them: editing leaves them as they are."""
    expect = spec.get("expect") or {}
    hidden = [key for key in spec if key not in SHOWN_KEYS]
    return sorted(hidden + [f"expect.{key}" for key in expect if key not in SHOWN_EXPECT])


def written_duration(seconds: float) -> str:
    """A stored duration (seconds) as a person writes it, in the largest unit that says it
    whole: 60.0 is 1m, 0.2 is 200ms. What the form shows, it takes back unchanged."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    milliseconds = round(seconds * 1000, 6)
    return f"{int(milliseconds)}ms" if milliseconds.is_integer() else f"{seconds}s"


# -- mistakes, in ronda's words ---------------------------------------------------------------


def field_of(loc: tuple[int | str, ...]) -> str:
    """The form's input that a mistake's location names; else the definition's key as the
    config file writes it (expect.max_latency, resolve), for a key the form does not show."""
    head = str(loc[0]) if loc else ""
    if head in FIELDS:
        return head
    if head == "expect" and len(loc) > 1 and f"expect_{loc[1]}" in FIELDS:
        return f"expect_{loc[1]}"
    return field_name(loc) if loc else ""


def said(field: str, error: ErrorDetails) -> str:
    """One of pydantic's errors in ronda's words: its own where ronda wrote the check, what
    to write in the field where the check is pydantic's."""
    if error["type"] in RONDA_WORDED:
        return plain_message(error)
    return WHAT_TO_WRITE.get(field) or f"ronda cannot use {error['input']!r} here"


def form_errors(exc: ValidationError | MonitorError) -> FormErrors:
    """What is wrong, by field: several mistakes in one field are said together."""
    found: dict[str, list[str]] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            field = field_of(tuple(error["loc"]))
            found.setdefault(field, []).append(said(field, error))
    elif isinstance(exc, InvalidMonitor):
        for problem in exc.problems:
            found.setdefault(field_of((problem.field,)), []).append(problem.message)
    else:
        found[""] = [str(exc)]  # about the monitor as a whole
    return {field: "; ".join(messages) for field, messages in found.items()}


def renamed(name: str, form: FormFields) -> FormErrors:
    """A monitor keeps its name (its history is under it): a rename is refused in words."""
    typed = form.get("name", name).strip()
    if typed == name:
        return {}
    return {"name": f"a monitor keeps its name: add a monitor named {typed!r} and delete {name!r}"}


def read_only_words(name: str, manager: MonitorManager) -> str:
    return f"{name} is defined in the config file {manager.path}: change it there, then reload ronda."


def push_words(name: str) -> str:
    return f"{name} is a push monitor: this form edits monitors ronda checks at a URL; use PUT /api/v1/monitors/{name}."


# -- the routes -------------------------------------------------------------------------------


def monitor_forms_router(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    pages = Pages(ctx)
    editor_page = Depends(auth.page_as("editor"))
    editor_form = Depends(auth.form_as("editor"))

    def manager(doing: str) -> MonitorManager:
        if ctx.monitors is None:
            raise HTTPException(503, detail=f"monitors cannot be {doing} here")
        return ctx.monitors

    def form_page(
        request: Request, user: Principal, form: FormFields, errors: FormErrors, status_code: int = 200, **more: Any
    ) -> HTMLResponse:
        context = {"section": "monitors", "fields": FIELDS, "form": form, "errors": errors, "editing": None} | more
        return pages.render(request, "monitor_form.html", user, status_code=status_code, **context)

    def refusal_page(request: Request, user: Principal, name: str, words: str) -> HTMLResponse:
        """A monitor this form does not edit: where to change it instead."""
        return form_page(request, user, {}, {}, status_code=409, editing=name, refused=words)

    def editable_spec(name: str, monitors: MonitorManager) -> dict[str, Any] | str:
        """The stored definition of the API's monitor `name`, or why the form does not edit
        it (404 when there is no such monitor)."""
        source = monitors.source(name)
        if source is None:
            raise HTTPException(404, detail=f"no monitor named {name!r}")
        if source == "config":
            return read_only_words(name, monitors)
        spec = ctx.db.monitors.get(name).spec or {}
        return push_words(name) if spec.get("kind") == "push" else spec

    async def typed(request: Request) -> FormFields:
        return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}

    @router.get("/new-monitor", response_class=HTMLResponse, summary="The form that adds a monitor (editor)")
    def new_monitor_page(request: Request, user: Principal = editor_page) -> HTMLResponse:
        return form_page(request, user, {}, {})

    @router.post(
        "/new-monitor",
        response_class=HTMLResponse,
        summary="Add a monitor from the dashboard's form (editor, CSRF token); kept in the database",
    )
    async def add_monitor_form(request: Request, user: Principal = editor_form) -> Response:
        fields = await typed(request)
        monitors = manager("added")
        try:
            monitor = monitor_from_form(fields)
            await monitors.add_now(monitor)
        except MonitorExists:
            errors = {"name": name_in_use(monitor.name)}
        except (ValidationError, MonitorError) as exc:
            errors = form_errors(exc)
        else:
            return RedirectResponse(f"/monitors/{quote(monitor.name)}", status_code=303)
        return await run_in_threadpool(form_page, request, user, fields, errors, 422)

    @router.get(
        "/monitors/{name}/edit",
        response_class=HTMLResponse,
        summary="The form that edits a monitor added through the dashboard or the API (editor)",
    )
    def edit_monitor_page(request: Request, name: str, user: Principal = editor_page) -> HTMLResponse:
        spec = editable_spec(name, manager("changed"))
        if isinstance(spec, str):
            return refusal_page(request, user, name, spec)
        return form_page(request, user, form_of_spec(spec), {}, editing=name, kept=kept_keys(spec))

    @router.post(
        "/monitors/{name}/edit",
        response_class=HTMLResponse,
        summary="Change a monitor added through the dashboard or the API (editor, CSRF token); its history stays",
    )
    async def edit_monitor_form(request: Request, name: str, user: Principal = editor_form) -> Response:
        fields = await typed(request)
        monitors = manager("changed")
        spec = await run_in_threadpool(editable_spec, name, monitors)
        if isinstance(spec, str):
            return await run_in_threadpool(refusal_page, request, user, name, spec)
        errors = renamed(name, fields)
        if not errors:
            try:
                await monitors.replace_now(name, monitor_from_form(fields | {"name": name}, spec))
            except UnknownMonitorName:  # deleted meanwhile
                raise HTTPException(404, detail=f"no monitor named {name!r}") from None
            except ReadOnlyMonitor:  # the config file took it over meanwhile (a reload)
                return await run_in_threadpool(refusal_page, request, user, name, read_only_words(name, monitors))
            except (ValidationError, MonitorError) as exc:
                errors = form_errors(exc)
            else:
                return RedirectResponse(f"/monitors/{quote(name)}", status_code=303)
        context = {"editing": name, "kept": kept_keys(spec)}
        return await run_in_threadpool(lambda: form_page(request, user, fields, errors, 422, **context))

    @router.post(
        "/monitors/{name}/delete",
        response_class=RedirectResponse,
        status_code=303,
        summary="Delete a monitor added through the dashboard or the API (editor, CSRF token)",
    )
    async def delete_monitor_form(name: str, _user: Principal = editor_form) -> RedirectResponse:
        monitors = manager("deleted")
        try:
            await monitors.delete_now(name)
        except UnknownMonitorName:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None
        except MonitorError as exc:
            raise HTTPException(409, detail=str(exc)) from None
        return RedirectResponse("/", status_code=303)

    return router
