"""A status page's words for people outside: visitors who subscribe to it (by e-mail or
webhook, docs/subscribers.md) and public channels it posts to (`announce:`), as the config
takes them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ronda.config.channel_urls import check_url
from ronda.config.http_checks import Duration
from ronda.config.strict import Strict


class Subscriptions(Strict):
    """Visitors may subscribe to the page: by e-mail when `email` names the SMTP server
    that sends the mails (an Apprise mailto:// or mailtos:// URL with `from=`; each mail
    goes to one subscriber), by webhook when `webhooks` is true. Webhook addresses on
    loopback, private or link-local networks are refused (a stranger must not make ronda
    call into its own network) unless `private_webhooks` is true, for an intranet.

    Subscribing is limited like reports: `per_source` in `per_source_period` from one client
    address (its /64 for IPv6), `global_per_minute` from everyone together; a subscription
    not confirmed within `confirm_within` is deleted."""

    email: str | None = None
    webhooks: bool = False
    private_webhooks: bool = False
    per_source: int = Field(default=5, ge=1)
    per_source_period: Duration = 3600.0
    global_per_minute: int = Field(default=60, ge=1)
    confirm_within: Duration = 48 * 3600.0

    @model_validator(mode="after")
    def _some_way(self) -> Subscriptions:
        if self.email is None and not self.webhooks:
            raise ValueError("offers no way to subscribe: give the SMTP server (email:) or webhooks: true")
        return self

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("mailto://", "mailtos://")):
            raise ValueError("expected the SMTP server as an Apprise mailto:// or mailtos:// URL")
        check_url(value)
        return value


class Announce(Strict):
    """A public channel the page posts to (any Apprise URL: a Mastodon account, a Telegram
    channel, a Matrix room): incident openings, people's updates and resolutions in the
    page's public words. `approve`: each post waits as a draft until a person approves it on
    the dashboard (/announcements)."""

    url: str
    approve: bool = False
    name: str | None = Field(default=None, min_length=1, max_length=64)  # as the dashboard shows it
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")  # the posts' language (en, it)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_url(value)
        return value
