"""How ronda's processes log: Rich lines on stderr, one format for the service and its
probe worker."""

from __future__ import annotations

import logging


def setup_logging(quiet: bool = False) -> None:
    """Rich log lines on stderr; `quiet` keeps only errors (the demo narrates instead)."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.ERROR if quiet else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apprise").setLevel(logging.WARNING)  # its failures, not its chatter
