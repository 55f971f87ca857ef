"""First start: with no user at all, `ronda run` creates `admin`, so the dashboard can be
opened at once. Its password comes from RONDA_ADMIN_PASSWORD, or is random and handed over
this once, on the terminal or in a file only ronda's user reads, never in the log
(ronda/service/handover.py; only its hash is kept, so it cannot be shown again:
`ronda user passwd admin` sets a new one)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from ronda.errors import ServiceError
from ronda.service.handover import hand_over
from ronda.storage.accounts import AccountError
from ronda.storage.database import Database

log = logging.getLogger("ronda")

ADMIN_PASSWORD_ENV = "RONDA_ADMIN_PASSWORD"


ADMIN_PASSWORD_FILE = "ronda-admin-password"


def create_first_admin(
    store: Database, env: Mapping[str, str] = os.environ, folder: Path = Path(), terminal: TextIO | None = None
) -> bool:
    """Create `admin` when there is no user; True when it did. A random password is handed
    over on the `terminal` or in a file in `folder`."""
    if store.accounts.has_users():
        return False
    given = env.get(ADMIN_PASSWORD_ENV) or None
    password = given or secrets.token_urlsafe(12)
    if given is None:
        # Handed over before the user exists: where it cannot be (a read-only folder), no
        # admin is made whose password nobody could ever read.
        hand_over("the password of the user admin", password, ADMIN_PASSWORD_FILE, folder, terminal)
    try:
        created = store.accounts.ensure_admin(password) is not None
    except AccountError as exc:
        raise ServiceError(f"{ADMIN_PASSWORD_ENV}: {exc}") from None
    if created:
        how = f"the password from {ADMIN_PASSWORD_ENV}" if given else "a random password, shown this once"
        log.warning("created the user admin with %s", how)
    return created
