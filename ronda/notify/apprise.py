"""How a message reaches people: one Apprise URL, one attempt, and why it failed."""

from __future__ import annotations

import logging

import apprise

from ronda.notify.messages import Message


def deliver(url: str, message: Message) -> str | None:
    """Send `message` to the channel at `url`, blocking (call it in a thread). None when
    the channel accepted it, else what went wrong, in Apprise's words."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "Apprise cannot use this channel's URL"
    # Apprise answers only yes or no; the reason is in its log, so catch the log. Sends
    # happen one at a time, so what is caught belongs to this send.
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        try:
            accepted = bool(notifier.notify(title=message.title, body=message.body, notify_type=message.kind))
        except Exception as exc:  # a plugin's defect is this channel's failure, not the sender's end
            return f"{type(exc).__name__}: {exc}"
    if accepted:
        return None
    reasons = [line for line in log.getvalue().splitlines() if line.strip()]
    return "; ".join(reasons[-3:])[:1000] or "the channel did not accept the notice"
