"""Pure decisions about a certificate's facts at a moment: problems and warnings.

Thresholds follow the contract: `cert_expiring` below the warning threshold (21 days,
or a quarter of the lifetime where that is shorter, so short-lived certificates do not
warn all their life), `cert_renewal_overdue` below 30% of the lifetime, past the point
where automated renewal (which usually acts at a third) should have replaced it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ronda import defaults
from ronda.certs.inspect import CertFacts

DEFAULT_WARN_DAYS = defaults.CERT_WARN_DAYS
RENEWAL_OVERDUE_SHARE = 0.30


def days_left(facts: CertFacts, now: datetime) -> float:
    return (facts.not_after - now).total_seconds() / 86400


def warn_threshold_days(lifetime_days: float, warn_days: float | None) -> float:
    return min(DEFAULT_WARN_DAYS if warn_days is None else warn_days, lifetime_days / 4)


def validity_problems(facts: CertFacts, now: datetime) -> list[tuple[str, str]]:
    """(code, detail) for a certificate outside its validity period."""
    if now >= facts.not_after:
        ago = -days_left(facts, now)
        return [("cert_expired", f"expired {_days(ago)} ago ({when(facts.not_after)})")]
    if now < facts.not_before:
        ahead = (facts.not_before - now).total_seconds() / 86400
        return [("cert_not_yet_valid", f"valid only from {when(facts.not_before)}, in {_days(ahead)}")]
    return []


def expiry_warnings(facts: CertFacts, now: datetime, warn_days: float | None) -> list[tuple[str, str]]:
    """(code, detail) for a valid certificate that someone must renew soon."""
    left = days_left(facts, now)
    if left <= 0 or now < facts.not_before:
        return []
    warnings = []
    threshold = warn_threshold_days(facts.lifetime_days, warn_days)
    if left < threshold:
        warnings.append(
            (
                "cert_expiring",
                f"expires in {_days(left)} ({when(facts.not_after)}); warning threshold {threshold:.1f} days",
            )
        )
    lifetime = facts.lifetime_days
    if lifetime > 0 and left < RENEWAL_OVERDUE_SHARE * lifetime:
        share = 100 * left / lifetime
        warnings.append(
            (
                "cert_renewal_overdue",
                f"only {share:.0f}% of its {lifetime:.0f}-day lifetime is left; automated renewal "
                f"should have replaced it by now",
            )
        )
    return warnings


def _days(days: float) -> str:
    if days < 1:
        hours = days * 24
        return f"{hours:.1f} hours" if hours >= 1 else f"{hours * 60:.0f} minutes"
    return f"{days:.1f} days"


def when(moment: datetime) -> str:
    """A moment as findings write it: ISO 8601 in UTC, to the second."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Below these, keys are within reach of a determined attacker; browsers and OpenSSL at
# its default security level refuse them.
MIN_KEY_BITS = {"RSA": 2048, "DSA": 2048, "EC": 256}
WEAK_HASHES = {"sha1", "md5", "md2", "md4"}


def weak_key(facts: CertFacts) -> str | None:
    """Why the certificate's key is too weak, or None."""
    minimum = MIN_KEY_BITS.get(facts.key_type)
    if minimum is not None and facts.key_bits < minimum:
        return f"its {facts.key_type} key has {facts.key_bits} bits; at least {minimum} are needed"
    return None


def weak_signature(facts: CertFacts) -> str | None:
    """Why the certificate's signature cannot be trusted, or None. A self-signed root's own
    signature is never checked by clients, so it does not count."""
    if facts.self_issued or facts.signature_hash not in WEAK_HASHES:
        return None
    return f"it is signed with {facts.signature_hash.upper()}, which can be forged"


def chain_problems(chain: list[CertFacts], now: datetime) -> list[tuple[str, str]]:
    """Expired and weak intermediates, as (code, detail)."""
    problems = []
    for facts in chain:
        if facts.self_issued:
            continue  # a root sent along is ignored by clients
        if now >= facts.not_after:
            problems.append(
                ("cert_intermediate_expired", f"intermediate {facts.subject} expired {when(facts.not_after)}")
            )
    return problems + issuer_weaknesses(chain)


def issuer_weaknesses(chain: list[CertFacts]) -> list[tuple[str, str]]:
    """Intermediates with a weak key or signature, as (code, detail); roots are not judged
    (clients never check a root's own signature, and trust it by choice)."""
    problems = []
    for facts in chain:
        if facts.self_issued:
            continue
        for code, why in (("cert_weak_key", weak_key(facts)), ("cert_weak_signature", weak_signature(facts))):
            if why:
                problems.append((code, f"intermediate {facts.subject}: {why}"))
    return problems


def chain_warnings(chain: list[CertFacts], now: datetime, warn_days: float | None) -> list[tuple[str, str]]:
    warnings = []
    for facts in chain:
        left = days_left(facts, now)
        if not facts.self_issued and 0 < left < warn_threshold_days(facts.lifetime_days, warn_days):
            warnings.append(
                (
                    "cert_intermediate_expiring",
                    f"intermediate {facts.subject} expires in {_days(left)} ({when(facts.not_after)})",
                )
            )
    return warnings


# CA/Browser Forum Baseline Requirements: the longest lifetime a publicly trusted TLS
# certificate may have, by the date it was issued (ballot SC-081 for 2026 onwards).
LIFETIME_POLICY: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47),
    (datetime(2027, 3, 15, tzinfo=UTC), 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200),
    (datetime(2020, 9, 1, tzinfo=UTC), 398),
)


def max_lifetime_days(issued: datetime) -> int | None:
    """The policy's maximum for a certificate issued then, or None before the policy."""
    return next((days for since, days in LIFETIME_POLICY if issued >= since), None)


def lifetime_over_policy(facts: CertFacts) -> str | None:
    """Why a publicly trusted certificate's lifetime breaks the policy, or None."""
    limit = max_lifetime_days(facts.not_before)
    if limit is None or facts.lifetime_days <= limit:
        return None
    return (
        f"its lifetime is {facts.lifetime_days:.0f} days; publicly trusted certificates issued since "
        f"{_policy_start(facts.not_before):%Y-%m-%d} may last at most {limit} days, so clients may refuse it"
    )


def _policy_start(issued: datetime) -> datetime:
    return next(since for since, _ in LIFETIME_POLICY if issued >= since)
