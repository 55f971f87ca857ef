"""People and their credentials: users with argon2id password hashes, login sessions,
API tokens and the optional TOTP second factor.

Secrets handed out (session tokens, API tokens) are random; the database keeps only their
SHA-256, so a copy of it cannot be used to log in. A SHA-256 is enough there (unlike for
passwords) because the secrets carry 256 bits of randomness: nothing to guess.

Sessions expire after 12 hours without use (sliding), and 7 days after the login whatever
the use, so a forgotten browser stays logged in for a working day, not for ever. A session
waiting for its second factor lives 5 minutes.

Every user and every API token has a role (`ROLES`, least to most): a viewer reads, an
editor also changes monitors and incidents, an admin also manages users, others' tokens
and ronda's settings. A token acts with its own role, capped at its user's current one, so
demoting a person demotes their tokens too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.clock import Clock, system_clock
from ronda.storage.models import ApiTokenRow, UserRow, WebSessionRow

SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
SESSION_PENDING = timedelta(minutes=5)  # between the password and the second factor
SLIDE_EVERY = timedelta(minutes=5)  # extend a session at most this often: one write, not one per request
TOKEN_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is that precise, for the same reason
TOKEN_PREFIX = "ronda_"
MIN_PASSWORD = 8
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOTP_ISSUER = "ronda"

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")  # least to most: each may do what those before it may
NEW_USER_ROLE: Role = "viewer"  # a new account reads until an admin gives it more


def role_of(text: str) -> Role:
    """A role named in input (CLI, API, form), or an AccountError saying which there are."""
    if text not in ROLES:
        raise AccountError(f"{text!r} is not a role: one of {', '.join(ROLES)}")
    return text


def at_least(role: str, minimum: Role) -> bool:
    """May `role` do what `minimum` may? (An unknown role, from a newer ronda say, may nothing.)"""
    return role in ROLES and ROLES.index(role) >= ROLES.index(minimum)


def lower_of(first: Role, second: Role) -> Role:
    return first if ROLES.index(first) <= ROLES.index(second) else second


class AccountError(ValueError):
    """Bad input for an account operation (a taken name, a short password); the message
    is fit to show the person who gave it."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    totp: bool  # a second factor is enrolled

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class UserEntry:
    """A user as `ronda user list` shows one: who, and when they were made and last seen."""

    user: User
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class LoginSession:
    """A stored session as a request sees it."""

    id: int
    user: User
    csrf: str
    verified: bool  # False while the second factor is still to be given


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    user_id: int | None
    username: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    role: Role = "viewer"  # as given when made; `use_token` caps it at the user's current role


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def _stored_role(text: str) -> Role:
    """A role as stored; anything else (written by hand, or by a newer ronda) reads as the least."""
    return text if text in ROLES else "viewer"


def _user(row: UserRow) -> User:
    return User(row.id, row.username, _stored_role(row.role), row.totp_secret is not None)


def _token(row: ApiTokenRow, username: str | None, cap: Role = "admin") -> ApiToken:
    role = lower_of(_stored_role(row.role), cap)
    return ApiToken(
        row.id, row.name, row.prefix, row.user_id, username, row.created_at, row.last_used_at, row.revoked_at, role
    )


class Accounts:
    """Users, sessions, tokens and second factors over one database.

    `hasher` is argon2-cffi's PasswordHasher (argon2id, RFC 9106's low-memory profile by
    default); a stored hash made with other parameters is replaced at the next good login.
    """

    def __init__(
        self, sessions: sessionmaker[Session], hasher: PasswordHasher | None = None, clock: Clock = system_clock
    ) -> None:
        self._sessions = sessions
        self.hasher = hasher or PasswordHasher()
        self._now = clock
        # The last TOTP time step accepted per user: a code is good for one login only.
        # Kept in memory (one process serves the web face); a restart forgets it, which
        # reopens a code's 30-90 s window at most once.
        self._totp_steps: dict[int, int] = {}

    @cached_property
    def _dummy(self) -> str:
        """Verified against when the user does not exist, so an unknown name costs the same
        time as a wrong password and response times do not tell which names exist. Made at
        first need: a hash costs a fifth of a second, too much for every start of the app."""
        return self.hasher.hash(secrets.token_urlsafe(16))

    # -- users ---------------------------------------------------------------------------

    def has_users(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(UserRow)) != 0

    def add_user(self, username: str, password: str, role: Role = NEW_USER_ROLE) -> User:
        role = role_of(role)
        if not USERNAME.match(username):
            raise AccountError(f"{username!r} is not a user name: letters, digits and . _ @ - (at most 64)")
        check_password(password)
        with self._sessions.begin() as session:
            if session.scalar(select(UserRow).where(UserRow.username == username)) is not None:
                raise AccountError(f"a user named {username!r} exists already")
            row = UserRow(
                username=username, password_hash=self.hasher.hash(password), role=role, created_at=self._now()
            )
            session.add(row)
            session.flush()
            return _user(row)

    def users(self) -> list[UserEntry]:
        with self._sessions() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username))
            return [UserEntry(_user(row), row.created_at, row.last_login_at) for row in rows]

    def user(self, user_id: int) -> User | None:
        with self._sessions() as session:
            row = session.get(UserRow, user_id)
            return _user(row) if row else None

    def set_role(self, username: str, role: str) -> User:
        """Give a user another role. The last admin stays one, so ronda keeps someone who
        can manage it (the CLI can always make another)."""
        new = role_of(role)
        with self._sessions.begin() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise AccountError(f"no user named {username!r}")
            if row.role == "admin" and new != "admin":
                admins = session.scalar(select(func.count()).select_from(UserRow).where(UserRow.role == "admin"))
                if admins == 1:
                    raise AccountError(f"{username!r} is the only admin: make another user admin first")
            row.role = new
            return _user(row)

    def set_password(self, username: str, password: str) -> None:
        """A new password; every session of the user ends (whoever knew the old one is out)."""
        check_password(password)
        with self._sessions.begin() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise AccountError(f"no user named {username!r}")
            row.password_hash = self.hasher.hash(password)
            session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is theirs, else None, in about the same time either way."""
        with self._sessions.begin() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                self._verify(self._dummy, password)
                return None
            if not self._verify(row.password_hash, password):
                return None
            if self.hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self.hasher.hash(password)
            row.last_login_at = self._now()
            return _user(row)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def ensure_admin(self, password: str | None) -> str | None:
        """First start: with no user at all, create `admin` with this password, or a random
        one. Returns the password used when a user was created, None when there were users."""
        if self.has_users():
            return None
        password = password or secrets.token_urlsafe(12)
        self.add_user("admin", password, role="admin")
        return password

    # -- login sessions ------------------------------------------------------------------

    def start_session(self, user: User, verified: bool) -> str:
        """A new session for a user whose password was right; `verified` False while the
        second factor is still due. Returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        self.purge_sessions()  # logins are rare: a good moment to drop the expired ones
        with self._sessions.begin() as session:
            session.add(
                WebSessionRow(
                    token_hash=digest(token),
                    user_id=user.id,
                    csrf_token=secrets.token_urlsafe(32),
                    verified=verified,
                    created_at=now,
                    expires_at=now + (SESSION_IDLE if verified else SESSION_PENDING),
                )
            )
        return token

    def session(self, token: str) -> LoginSession | None:
        """The live session behind a cookie, extended (sliding expiry), or None."""
        now = self._now()
        with self._sessions.begin() as session:
            row = session.scalar(select(WebSessionRow).where(WebSessionRow.token_hash == digest(token)))
            if row is None:
                return None
            if row.expires_at <= now:
                session.delete(row)
                return None
            if row.verified:
                extended = min(now + SESSION_IDLE, row.created_at + SESSION_MAX)
                if extended - row.expires_at >= SLIDE_EVERY:
                    row.expires_at = extended
            user = session.get(UserRow, row.user_id)
            if user is None:
                return None
            return LoginSession(row.id, _user(user), row.csrf_token, row.verified)

    def verify_session(self, token: str) -> str:
        """The second factor was given: the session becomes a full one under a new token
        (and CSRF token), so a token seen before the second factor is worth nothing."""
        new = secrets.token_urlsafe(32)
        now = self._now()
        with self._sessions.begin() as session:
            row = session.scalars(select(WebSessionRow).where(WebSessionRow.token_hash == digest(token))).one()
            row.token_hash, row.csrf_token, row.verified = digest(new), secrets.token_urlsafe(32), True
            row.created_at, row.expires_at = now, now + SESSION_IDLE
        return new

    def end_session(self, token: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == digest(token)))

    def purge_sessions(self) -> int:
        """Drop expired sessions; returns how many."""
        with self._sessions.begin() as session:
            gone = session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= self._now()))
            return int(gone.rowcount)  # type: ignore[attr-defined]

    # -- API tokens ----------------------------------------------------------------------

    def create_token(self, name: str, user_id: int | None, role: Role = "viewer") -> tuple[str, ApiToken]:
        """A new API token: the secret (to show once, never stored) and its record. Its
        role is at most its user's (user_id None: made with the config's token, an admin's)."""
        name = name.strip()
        if not 0 < len(name) <= 64:
            raise AccountError("a token needs a name of 1 to 64 characters")
        role = role_of(role)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            user = session.get(UserRow, user_id) if user_id is not None else None
            self._within(role, user)
            row = ApiTokenRow(
                name=name,
                token_hash=digest(secret),
                prefix=secret[:12],
                user_id=user_id,
                role=role,
                created_at=self._now(),
            )
            session.add(row)
            session.flush()
            return secret, _token(row, user.username if user else None)

    @staticmethod
    def _within(role: Role, user: UserRow | None) -> None:
        if user is not None and not at_least(user.role, role):
            raise AccountError(f"a token of {user.username!r} can have their role ({user.role}) at most, not {role}")

    def set_token_role(self, token_id: int, role: str, user_id: int | None = None) -> ApiToken | None:
        """Give a token another role, at most its user's (one of the user's tokens, when
        user_id is given); None when there is no such token."""
        new = role_of(role)
        with self._sessions.begin() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None or (user_id is not None and row.user_id != user_id):
                return None
            user = session.get(UserRow, row.user_id) if row.user_id is not None else None
            self._within(new, user)
            row.role = new
            return _token(row, user.username if user else None)

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """Tokens, newest first: a user's, or every one (user_id None)."""
        query = select(ApiTokenRow, UserRow.username, UserRow.role).outerjoin(
            UserRow, ApiTokenRow.user_id == UserRow.id
        )
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        with self._sessions() as session:
            rows = session.execute(query.order_by(ApiTokenRow.id.desc()))
            return [_token(row, username, _stored_role(role) if role else "admin") for row, username, role in rows]

    def revoke_token(self, token_id: int, user_id: int | None = None) -> bool:
        """Revoke a token (one of the user's, when user_id is given); False when there is
        no such token. Revoking twice keeps the first time."""
        with self._sessions.begin() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None or (user_id is not None and row.user_id != user_id):
                return False
            row.revoked_at = row.revoked_at or self._now()
            return True

    def use_token(self, secret: str) -> ApiToken | None:
        """The live token behind a secret (its last use noted), or None: unknown or revoked."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = self._now()
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == digest(secret)))
            if row is None or row.revoked_at is not None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_EVERY:
                row.last_used_at = now
            if row.user_id is None:
                return _token(row, None)
            user = session.get(UserRow, row.user_id)
            if user is None:
                return None
            return _token(row, user.username, _stored_role(user.role))

    # -- TOTP second factor --------------------------------------------------------------

    @staticmethod
    def totp_new_secret() -> str:
        return pyotp.random_base32()

    @staticmethod
    def totp_uri(username: str, secret: str) -> str:
        """The otpauth:// URI authenticator apps read (as a QR code or pasted)."""
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)

    def totp_enrol(self, user_id: int, secret: str, code: str) -> bool:
        """Store the second factor once a code from it proves the app holds the secret."""
        if not self._totp_accept(user_id, secret, code):
            return False
        with self._sessions.begin() as session:
            session.get_one(UserRow, user_id).totp_secret = secret
        return True

    def totp_check(self, user_id: int, code: str) -> bool:
        """A code of the user's enrolled factor, never accepted twice."""
        with self._sessions() as session:
            secret = session.get_one(UserRow, user_id).totp_secret
        return secret is not None and self._totp_accept(user_id, secret, code)

    def totp_disable(self, user_id: int, code: str) -> bool:
        """Remove the second factor; a current code is needed, so a stolen session alone
        cannot weaken the account."""
        if not self.totp_check(user_id, code):
            return False
        with self._sessions.begin() as session:
            session.get_one(UserRow, user_id).totp_secret = None
        return True

    def _totp_accept(self, user_id: int, secret: str, code: str) -> bool:
        """The code of the current 30 s step or either neighbour (clock drift), and of a
        later step than the last accepted one: a code seen once cannot be replayed. A secret
        that is no TOTP key (too short, not base32: a form sent back altered) accepts nothing."""
        try:
            totp = pyotp.TOTP(secret)
        except ValueError:  # binascii.Error too
            return False
        code = code.strip().replace(" ", "")
        now = self._now().timestamp()
        step_now = int(now // totp.interval)
        last = self._totp_steps.get(user_id, -1)
        for step in (step_now - 1, step_now, step_now + 1):
            if step > last and secrets.compare_digest(totp.at(step * totp.interval), code):
                self._totp_steps[user_id] = step
                return True
        return False
