"""Every default a user can see, once: the config's `defaults:` (CONTRACT.md section 4), what
`ronda check` does unless told otherwise (section 1), and the notification settings.

The config's schema, `CheckOptions`, the incident `Policy` and the outbox's settings all read
these, so a default cannot be one value in the file's documentation and another in the code
that runs. This module sits at the bottom of the layers: it imports nothing of ronda's.
"""

from __future__ import annotations

# How a target is checked (seconds unless named otherwise).
INTERVAL = 30.0  # between two checks of a monitor
TIMEOUT = 10.0  # a whole check's budget (`--timeout`, `defaults.timeout`)
RECHECK = 2.0  # how soon to look again while a change of state is unconfirmed
CERT_WARN_DAYS = 21.0  # or a quarter of the certificate's lifetime where that is shorter
SUBRESOURCE_HOSTS = 20  # asset hosts of a page checked at most (each costs about a check)
SUBRESOURCE_PARALLEL = 16  # asset hosts of one page checked at the same time
ADDRESSES_PER_NAME = 16  # addresses of one name a check connects to; more is a warning, addresses_skipped
STORED_VERDICT_BYTES = 32 * 1024  # a stored verdict's JSON at most; longer lists and texts are cut to fit

# When a monitor's state becomes an incident.
CONFIRM = 2  # consecutive failed checks before an incident opens
RECOVER = 1  # consecutive good checks before it resolves
QUORUM = 1  # vantage points that must fail
ALERT_LOCAL = False  # announce failures only one vantage point of several sees

# Push monitors: one missed heartbeat opens the incident (its grace was the wait a probe's
# `confirm` is), and a job is late this long after it was due.
PUSH_CONFIRM = 1
PUSH_GRACE = 3600.0

# Notifications.
NOTIFY_RETRY_FIRST = 5.0  # the wait after a channel's first failure; it doubles each time
NOTIFY_RETRY_MAX = 600.0
NOTIFY_STORM = 10  # more incident openings than this, due together on a channel: one digest
NOTIFY_STORM_WAIT = 5.0  # during a storm, how long an opening waits for others to join its digest

# History (`retention:`): raw verdicts are kept this long, hour rollups this long (the uptime
# windows read 90 days of them), day rollups for good.
RETENTION_RAW = 3 * 86400.0
RETENTION_HOURLY = 90 * 86400.0

# /metrics: series of each monitor's own while a scrape covers at most this many monitors
# (ten series each; 5,000 scrape in about half a second, 100,000 took 6 s and 43 MB).
METRICS_PER_MONITOR_LIMIT = 5_000
