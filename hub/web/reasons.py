"""Why an attempt failed, in plain words, with the vendor's own message and what to do next.

The runner records an attempt's outcome, HTTP status and error text (made by
``hub.http.raise_for_status`` and the runner itself). This module reads them
back into a ``Reason`` the delivery pages show: a short headline, the
vendor's message quoted as it was, whether the hub retries by itself, and the
next step for the person looking at it. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Reason", "explain"]

Severity = Literal["ok", "info", "warn", "error"]

# "POST https://host/path rejected the request (400): message" and its siblings in hub.http.
_HTTP = re.compile(
    r"^(?:gave up after (?P<tries>\d+) attempts: )?"
    r"(?P<method>[A-Z]+) (?P<url>\S+) "
    r"(?:rejected the request \((?P<rejected>\d{3})\)"
    r"|refused the credentials \((?P<auth>\d{3})\)"
    r"|failed with (?P<failed>\d{3})"
    r"|is rate limited)"
    r": (?P<message>.*?)(?:; re-authorize the connection)?$",
    re.DOTALL,
)
_GAVE_UP = re.compile(r"^gave up after (?P<tries>\d+) attempts: (?P<rest>.*)$", re.DOTALL)
_TIMEOUT = re.compile(r"(timed out after|did not finish within) (?P<secs>[\d.]+)s")
# Connectors word their own: "Zoho Books rejected the payment: <Books' message> (code 1001)".
_WORDED = re.compile(
    r"^(?P<vendor>[A-Z][\w .-]{1,40}?) rejected (?P<what>[^:]{1,60}): (?P<message>.+)$", re.DOTALL
)
_NETWORK = re.compile(r"^[A-Z]+ \S+ failed: (?P<kind>\w+): (?P<detail>.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reason:
    """One attempt's (or step's) failure explained for ops."""

    headline: str
    severity: Severity
    vendor_message: str | None = None
    advice: str | None = None
    retried: bool = False  # the hub tries again by itself (nothing to do but wait)
    endpoint: str | None = None  # "POST /books/v3/customerpayments"


def explain(
    outcome: str | None,
    status_code: int | None,
    error: str | None,
    *,
    connection: str = "",
) -> Reason:
    """A ``Reason`` for an attempt (``outcome`` from the attempts table) or a step (``dead``...)."""
    text = (error or "").strip()
    conn = f"'{connection}'" if connection else "the connection"
    if outcome in ("ok", "succeeded"):
        return Reason("Delivered", "ok")
    if outcome == "skipped":
        return Reason("Skipped: the step's `if` was false", "info")
    if outcome == "throttled":
        return Reason(
            "Waited for API budget",
            "info",
            advice=f"The hub's own per-minute or daily budget for {conn} was spent; the step "
            "runs when there is room again. Nothing to do unless this lasts.",
            retried=True,
        )
    gave_up = _GAVE_UP.match(text)
    tries = int(gave_up.group("tries")) if gave_up else None
    retried = outcome in ("transient", "pending")
    match = _HTTP.match(text)
    if match is not None:
        return _http_reason(match, status_code, tries, retried, conn)
    core = gave_up.group("rest") if gave_up else text
    after = _paren(None, tries)
    if "is disabled; the step waits" in core:
        return Reason(
            f"Waiting: {conn} is disabled",
            "warn",
            advice=f"Enable {conn} on its connection page; waiting steps then run by themselves.",
            retried=True,
        )
    timeout = _TIMEOUT.search(core)
    if timeout is not None:
        return Reason(
            f"No answer within {timeout.group('secs')} s{after}",
            "error" if tries else "warn",
            advice="The vendor may have applied the write anyway: a retry or replay uses the "
            "same idempotency key, so it is not written twice. "
            + ("Replay when the vendor is healthy again." if tries else "The hub retries."),
            retried=not tries,
        )
    network = _NETWORK.match(core)
    if network is not None:
        return Reason(
            f"Could not reach the vendor: {network.group('kind')}{after}",
            "error" if tries else "warn",
            vendor_message=network.group("detail").strip() or None,
            advice="Check the connection's base URL and the network; "
            + ("replay once it answers again." if tries else "the hub retries by itself."),
            retried=not tries,
        )
    worded = _WORDED.match(core)
    if worded is not None:
        return Reason(
            f"{worded.group('vendor')} rejected {worded.group('what')}{_paren(status_code, tries)}",
            "error",
            vendor_message=worded.group("message").strip(),
            advice="Retrying the same data cannot help. Fix what the vendor's message names "
            "(usually a recipe input or a record in the vendor's app), then replay.",
        )
    if outcome == "permanent" or outcome == "dead" or tries:
        return Reason(
            f"Failed{_paren(status_code, tries)}"
            if tries
            else f"Failed, not retried{_paren(status_code, None)}",
            "error",
            vendor_message=core or None,
            advice="Fix what the message names (the recipe's inputs or the connection's "
            "settings), then replay: the same idempotency key keeps it from being written twice.",
        )
    if outcome == "transient":
        return Reason(
            "Temporary failure",
            "warn",
            vendor_message=core or None,
            advice="The hub retries by itself with backoff.",
            retried=True,
        )
    return Reason(core or "No error recorded", "info" if not core else "warn", retried=retried)


def _http_reason(
    match: re.Match[str], status_code: int | None, tries: int | None, retried: bool, conn: str
) -> Reason:
    endpoint = f"{match.group('method')} {_path_of(match.group('url'))}"
    message = match.group("message").strip() or None
    if match.group("rejected"):
        return Reason(
            f"The vendor rejected the request{_paren(int(match.group('rejected')), tries)}",
            "error",
            vendor_message=message,
            advice="Retrying the same data cannot help. Fix what the vendor's message names "
            "(usually a recipe input or a record in the vendor's app), then replay.",
            endpoint=endpoint,
        )
    if match.group("auth"):
        return Reason(
            f"Credentials refused{_paren(int(match.group('auth')), tries)}",
            "error",
            vendor_message=message,
            advice=f"Re-authorize {conn} (connect it again, or update its client secret or "
            "token on its page), then replay the failed deliveries.",
            endpoint=endpoint,
        )
    if match.group("failed"):
        return Reason(
            f"The vendor had a problem{_paren(int(match.group('failed')), tries)}",
            "error" if tries else "warn",
            vendor_message=message,
            advice=(
                "The vendor kept failing until the retries ran out; replay once it is healthy "
                "(check its status page)."
                if tries
                else "The hub retries by itself with backoff."
            ),
            retried=not tries and retried,
            endpoint=endpoint,
        )
    return Reason(
        f"Rate limited by the vendor{_paren(status_code or 429, tries)}",
        "error" if tries else "warn",
        vendor_message=message,
        advice=(
            "Lower the connection's requests_per_minute or max_concurrency, then replay."
            if tries
            else "The hub waits as the vendor asked (Retry-After) and tries again."
        ),
        retried=not tries,
        endpoint=endpoint,
    )


def _paren(status: int | None, tries: int | None) -> str:
    """`` (400; gave up after 5 attempts)``, or the parts that are known, or nothing."""
    parts = [str(status)] if status else []
    if tries:
        parts.append(f"gave up after {tries} attempts")
    return f" ({'; '.join(parts)})" if parts else ""


def _path_of(url: str) -> str:
    match = re.match(r"^[a-z]+://[^/]+(?P<path>/.*)?$", url)
    return (match.group("path") or "/") if match else url
