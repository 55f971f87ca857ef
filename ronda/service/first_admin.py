"""First start: with no user at all, `ronda run` creates `admin`, so the dashboard can be
opened at once. Its password comes from RONDA_ADMIN_PASSWORD, or is random and logged
this once (only its hash is kept, so it cannot be shown again: `ronda user passwd admin`
sets a new one)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ronda.errors import ServiceError
from ronda.storage.accounts import AccountError
from ronda.storage.database import Database

log = logging.getLogger("ronda")

ADMIN_PASSWORD_ENV = "RONDA_ADMIN_PASSWORD"


def create_first_admin(store: Database, env: Mapping[str, str] = os.environ) -> bool:
    """Create `admin` when there is no user; True when it did."""
    password = env.get(ADMIN_PASSWORD_ENV) or None
    try:
        created = store.accounts.ensure_admin(password)
    except AccountError as exc:
        raise ServiceError(f"{ADMIN_PASSWORD_ENV}: {exc}") from None
    if created and password:
        log.warning("created the user admin with the password from %s", ADMIN_PASSWORD_ENV)
    elif created:
        log.warning("created the user admin; its password, shown this once: %s", created)
    return created is not None
