"""Handing a secret ronda made to the person who started it, without putting it in a log.

`ronda run` makes two secrets of its own: the API token when the config has none (one per
run), and the first admin's password when there is no user and RONDA_ADMIN_PASSWORD is
unset. Logs travel (journald, `docker logs`, a log shipper) and are read by more people than
should hold these, so neither is ever logged:

- on a terminal (stderr is a TTY), the secret is written to it directly, past the log
  handlers, where the person starting ronda reads it;
- otherwise it goes to a file only ronda's user can read (mode 0600) in `folder` (the config
  file's folder), and the log names the file.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from ronda.errors import ServiceError

log = logging.getLogger("ronda")


def hand_over(what: str, secret: str, file_name: str, folder: Path, terminal: TextIO | None = None) -> Path | None:
    """Show `secret` (`what` it is, in words) to whoever started ronda; the file written, if
    any. `terminal`: where a person reads (stderr by default, when it is a TTY)."""
    terminal = terminal if terminal is not None else sys.stderr
    if terminal.isatty():
        terminal.write(f"{what}: {secret}\n")
        terminal.flush()
        log.warning("%s: shown on the terminal, not logged", what)
        return None
    path = folder / file_name
    try:
        write_private(path, f"{secret}\n")
    except OSError as exc:
        raise ServiceError(
            f"{what}: cannot write it to {path} ({exc.strerror}), and no terminal reads it; "
            "give it in the config or the environment instead (RONDA_ADMIN_PASSWORD, server.token)"
        ) from None
    log.warning("%s: written to %s (readable by this user only), not logged", what, path)
    return path


def write_private(path: Path, text: str) -> None:
    """`text` in a new file only the owner reads: an old one is removed first, and the new one
    is created with mode 0600 (O_EXCL, so a link planted at the path is not followed)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
