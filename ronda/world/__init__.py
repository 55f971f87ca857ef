"""A small world of real local services that break on command: the demo runs on it, and
the tests check ronda against the same servers. Everything binds to loopback only."""
