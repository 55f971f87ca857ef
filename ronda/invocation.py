"""How a person calls this very ronda from a shell: the words printed before a command
("next: ronda run --config ronda.yaml") must work when pasted, wherever ronda was installed."""

from __future__ import annotations

import os
import shutil
import sys


def command_name(argv0: str | None = None, search_path: str | None = None) -> str:
    """`ronda` where that name, looked up on PATH, is this program; else the path this one
    was started by, made absolute (a `.venv/bin/ronda` printed in one folder must work from
    another terminal), or `python -m ronda` as it was started."""
    started_by = sys.argv[0] if argv0 is None else argv0
    if not started_by or started_by.endswith("__main__.py"):
        return f"{sys.executable} -m ronda"
    found = shutil.which("ronda", path=search_path)
    if found is not None and os.path.realpath(found) == os.path.realpath(started_by):
        return "ronda"
    return os.path.abspath(started_by)
