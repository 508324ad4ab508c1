"""OAuth access tokens that one process or many share: cached, refreshed once, failures shared.

Vendors limit how often a refresh token may mint access tokens (Zoho: 10 per
10 minutes, then blocked for the rest of the window), so a connection must
not refresh once per concurrent action, nor once per worker process.
``TokenGate`` puts three layers in front of a connector's token exchange:

1. this process's copy, used until its refresh time (no I/O at all);
2. the hub's ``SharedState`` token cache (Redis under ``engine: celery``),
   so a token another process fetched is adopted rather than fetched again;
3. one refresh at a time: an ``asyncio.Lock`` in the process and the shared
   state's single-flight lock across processes; whoever waited re-reads the
   cache when its turn comes, and normally finds the fresh token there.

A refresh that fails is shared too: the tasks queued behind it fail the same
way, and (across processes) a short-lived failure note makes the others fail
fast instead of asking the vendor again while it is refusing.

Connectors keep the vendor specifics (the request, its errors, the lifetime);
they hand the gate a ``fetch`` that returns a ``Grant``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub import errors
from hub.errors import ConnectorError, TransientError
from hub.secrets import Secret

if TYPE_CHECKING:
    from hub.shared import SharedState

__all__ = ["Grant", "TokenGate", "secret_tag"]

log = logging.getLogger("hub.tokens")

# Error types a failure note may carry (anything else is replayed as TransientError).
_REPLAYABLE: dict[str, type[ConnectorError]] = {
    cls.__name__: cls
    for cls in (
        errors.ConnectorError,
        errors.TransientError,
        errors.RateLimitError,
        errors.PermanentError,
        errors.AuthError,
    )
}


def secret_tag(secret: Secret) -> str:
    """A short one-way tag of a secret, to name cache keys after it without revealing it."""
    return hashlib.sha256(secret.reveal().encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Grant:
    """An access token and how long to use it.

    Attributes:
        token: the access token.
        valid_for: seconds from the request that fetched it until it should be
            replaced (the vendor's lifetime minus a safety margin).
        extra: vendor values that travel with the token (Zoho's ``api_domain``,
            Salesforce's ``instance_url``).
    """

    token: str
    valid_for: float
    extra: Mapping[str, str] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({"token": self.token, "extra": dict(self.extra)}, sort_keys=True)

    @classmethod
    def loads(cls, text: str, valid_for: float) -> Grant | None:
        """A grant from ``dumps`` output, or None if ``text`` is not one."""
        try:
            doc = json.loads(text)
            token, extra = doc["token"], doc.get("extra", {})
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(token, str) or not token or not isinstance(extra, dict):
            return None
        return cls(token, valid_for, {str(k): str(v) for k, v in extra.items()})


class TokenGate:
    """One refresh token's access tokens for every task of this process, and with shared
    state for every process.

    Args:
        key: what identifies the refresh token (vendor, client and a ``secret_tag``);
            gates with the same key share tokens.
        fetch: asks the vendor for a new token; raises ``ConnectorError`` subclasses.
        clock: monotonic seconds for this process's copy (tests pass a fake one).
        state: the hub's shared state; ``None`` keeps tokens in this gate only.
        failure_ttl: seconds other processes fail fast after a refresh failed
            (a vendor's ``retry_after``, when it gave one, instead).
        lock_ttl: the longest a refresh may hold the cross-process lock.
    """

    def __init__(
        self,
        key: str,
        fetch: Callable[[], Awaitable[Grant]],
        *,
        clock: Callable[[], float] = time.monotonic,
        state: SharedState | None = None,
        failure_ttl: float = 5.0,
        lock_ttl: float = 60.0,
    ) -> None:
        self.key = key
        self.fetch = fetch
        self.clock = clock
        self.state = state
        self.failure_ttl = failure_ttl
        self.lock_ttl = lock_ttl
        self._grant: Grant | None = None
        self._stored: str | None = None  # the shared cache's text for _grant, if it came via it
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._finished = 0  # refreshes finished, to tell waiters what happened meanwhile
        self._failure: ConnectorError | None = None  # how the latest refresh failed, if it did

    @property
    def grant(self) -> Grant | None:
        """The token in use (fresh or not), if any."""
        return self._grant

    def fresh(self) -> bool:
        return self._grant is not None and self.clock() < self._refresh_at

    def forget(self) -> None:
        """Drop this process's copy, so the next call looks again (the shared copy stays)."""
        self._grant = None
        self._stored = None
        self._refresh_at = 0.0

    async def get(self) -> Grant:
        """A fresh grant; fetched (once, for every waiting task and process) if there is none.

        Raises:
            ConnectorError: the fetch failed (or failed just now for the task or process
                ahead of this one).
        """
        if self.fresh():
            assert self._grant is not None
            return self._grant
        seen = self._finished
        async with self._lock:
            if self.fresh():  # whoever held the lock before us refreshed already
                assert self._grant is not None
                return self._grant
            self._share_failure(seen)
            return await self._renew(None)

    async def replace(self, stale: str | None) -> Grant:
        """A grant other than ``stale`` (a token the API refused), unless one is already in use."""
        seen = self._finished
        async with self._lock:
            if self._grant is not None and self._grant.token != stale and self.fresh():
                return self._grant
            self._share_failure(seen)
            return await self._renew(stale)

    def _share_failure(self, seen: int) -> None:
        """Fail like the refresh we queued behind, instead of each waiter asking again.

        Without this, 50 actions waiting on a refresh that failed would send 50
        more token requests and trip the vendor's limit.
        """
        if self._finished != seen and self._failure is not None:
            failure = self._failure
            raise type(failure)(*failure.args) from None

    async def _renew(self, stale: str | None) -> Grant:
        """Adopt or fetch a grant, remembering a failure for the waiters; caller holds the lock."""
        self._failure = None
        try:
            if self.state is None:
                started = self.clock()
                return self._keep(await self.fetch(), None, started)
            return await self._renew_shared(self.state, stale)
        except ConnectorError as exc:
            self._failure = exc
            raise
        finally:
            self._finished += 1

    async def _renew_shared(self, state: SharedState, stale: str | None) -> Grant:
        adopted = await self._adopt(state, stale)
        if adopted is not None:
            return adopted
        if stale is not None and self._stored is not None:
            # The API refused the cached token: drop the shared copy unless another
            # process already replaced it, so nobody else tries it first.
            await state.drop_token(self.key, self._stored)
        async with state.single_flight(f"token:{self.key}", self.lock_ttl):
            adopted = await self._adopt(state, stale)  # refreshed while we waited?
            if adopted is not None:
                return adopted
            if state.distributed:
                await self._replay_failure(state)
            started = self.clock()
            try:
                grant = await self.fetch()
            except ConnectorError as exc:
                if state.distributed:
                    await self._note_failure(state, exc)
                raise
            stored = grant.dumps()
            ttl = started + grant.valid_for - self.clock()
            await state.put_token(self.key, stored, ttl)
            return self._keep(grant, stored, started)

    async def _adopt(self, state: SharedState, stale: str | None) -> Grant | None:
        hit = await state.get_token(self.key)
        if hit is None:
            return None
        stored, left = hit
        grant = Grant.loads(stored, left)
        if grant is None or grant.token == stale:
            return None
        return self._keep(grant, stored, self.clock())

    def _keep(self, grant: Grant, stored: str | None, since: float) -> Grant:
        self._grant, self._stored = grant, stored
        self._refresh_at = since + grant.valid_for
        return grant

    async def _note_failure(self, state: SharedState, exc: ConnectorError) -> None:
        wait = exc.retry_after if isinstance(exc, TransientError) else None
        note = json.dumps({"type": type(exc).__name__, "args": list(exc.args)})
        await state.put_token(f"{self.key}:failure", note, wait or self.failure_ttl)

    async def _replay_failure(self, state: SharedState) -> None:
        """Raise what another process's refresh raised moments ago, if it failed."""
        hit = await state.get_token(f"{self.key}:failure")
        if hit is None:
            return
        note, left = hit
        try:
            doc = json.loads(note)
            cls = _REPLAYABLE.get(doc["type"], TransientError)
            message, status, detail = [*doc["args"], None, None][:3]
        except (ValueError, TypeError, KeyError):
            return
        log.debug("token refresh for %s failed in another process moments ago", self.key)
        if issubclass(cls, TransientError):  # the wait is what is left of the note's life
            raise cls(str(message), status, detail, retry_after=left)
        raise cls(str(message), status, detail)
