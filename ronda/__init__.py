"""ronda: a self-hosted, local-first monitor for everything an online service depends on."""

__version__ = "0.1.0"
