"""The drop-folder poller: stable files in, ``bank.transaction.posted`` out, bad files quarantined.

A file is read only once it is *settled*: its name has no in-progress suffix
(``.part``, ``.tmp``, ``.crdownload``, ``.partial``, ``.filepart``; no
``.``/``~$`` prefix), its mtime is at least ``settle_seconds`` old, and its
size and mtime are the same as at the previous poll (so every file is seen
twice before it is read, and a copy in progress is never half-read). After
reading, the file is stat'ed again; if it changed meanwhile the bytes are
dropped and the file is watched again.

Each file read is either imported (its transactions become events) or moved
to ``<folder>/quarantine/`` with ``<name>.reason.txt`` beside it; either way
the outcome is recorded in the cursor under the file's sha256, so the same
content dropped again (renamed, re-downloaded) is not imported twice, and ops
can see why a file was refused. Files are never silently skipped. (If the
folder is read-only the file cannot be moved: it is recorded as ``refused``
with its reason, logged, and not retried until it changes.)

Cursor (JSON)::

    {"files":   {"<sha256>": {"name", "status": "imported"|"quarantined"|"refused",
                              "transactions", "reason", "at"}},   # newest last, capped
     "watch":   {"<name>": [size, mtime_ns]},        # seen once, not settled yet
     "known":   {"<name>": [size, mtime_ns, "<sha256>"]}}  # imported, still in the folder

``files`` keeps the newest ``history`` entries; a file whose entry was dropped
and that is dropped in again is re-imported, which is harmless (the
transactions' idempotency keys are stable). ``watch`` and ``known`` only hold
names present in the folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from hub.connector import Page, PollContext, PollingSource
from hub.errors import ConfigError, TransientError
from hub.events import Event
from hub.schemas import SchemaViolation

from .config import BankStatementConfig
from .parsers import format_size, parse_bytes
from .transactions import StatementError
from .webhook import BankCreditWebhook

__all__ = ["EVENT_TYPE", "BankCreditWebhook", "StatementFolder", "to_event"]

EVENT_TYPE: Final = "bank.transaction.posted"
QUARANTINE: Final = "quarantine"
_IN_PROGRESS: Final = (".part", ".tmp", ".crdownload", ".partial", ".filepart", ".download")

Cursor = dict[str, Any]


def to_event(data: dict[str, Any], raw: dict[str, Any]) -> Event:
    """One normalized line as an event (key ``bank.transaction.posted:<transaction_id>``)."""
    booked = datetime.combine(datetime.fromisoformat(data["booked_on"]).date(), time(), UTC)
    return Event.create(
        type=EVENT_TYPE,
        subject=data["transaction_id"],
        idempotency_key=f"{EVENT_TYPE}:{data['transaction_id']}",
        time=booked,
        data=data,
        raw=raw,
    )


def _in_progress(name: str) -> bool:
    lower = name.lower()
    return lower.startswith((".", "~$")) or lower.endswith(_IN_PROGRESS)


class StatementFolder(PollingSource[BankStatementConfig, Cursor]):
    """Statement files (MT940, camt.053, bank CSV) dropped into a folder, oldest first."""

    name = "bank_statement.folder"
    emits = (EVENT_TYPE,)
    interval = timedelta(minutes=5)

    def configured(self) -> bool:
        """A connection without a ``folder`` only takes credit-advice webhooks."""
        return bool(self.config.folder)

    async def poll(self, cursor: Cursor | None, ctx: PollContext) -> Page[Cursor]:
        """Import up to ``files_per_poll`` settled files; quarantine the ones that fail."""
        folder = self._folder()
        state = _load(cursor)
        listing = await asyncio.to_thread(self._list, folder)
        names = {path.name for path, _ in listing}
        ready: list[tuple[Path, list[int]]] = []
        now = ctx.now.timestamp()
        for path, sig in listing:
            known = state["known"].get(path.name)
            if known is not None and known[:2] == sig:
                continue
            settled = now - sig[1] / 1e9 >= self.config.settle_seconds
            if settled and state["watch"].get(path.name) == sig:
                ready.append((path, sig))
            else:
                state["watch"][path.name] = sig
        events: list[Event] = []
        for path, sig in ready[: self.config.files_per_poll]:
            events.extend(await asyncio.to_thread(self._process, path, sig, state, ctx))
        state["watch"] = {n: s for n, s in state["watch"].items() if n in names}
        state["known"] = {n: s for n, s in state["known"].items() if n in names}
        files = state["files"]
        while len(files) > self.config.history:
            files.pop(next(iter(files)))
        return Page(events=events, cursor=state, more=len(ready) > self.config.files_per_poll)

    def _folder(self) -> Path:
        if not self.config.folder:
            raise ConfigError("bank_statement: set 'folder' to poll statement files")
        folder = Path(self.config.folder)
        if not folder.is_dir():
            raise TransientError(f"statement folder {folder} does not exist or is not mounted")
        return folder

    def _list(self, folder: Path) -> list[tuple[Path, list[int]]]:
        found: dict[str, tuple[Path, list[int]]] = {}
        for pattern in self.config.patterns:
            for path in folder.glob(pattern):
                if path.name in found or _in_progress(path.name):
                    continue
                if path.name.endswith(".reason.txt") or not path.is_file():
                    continue
                st = path.stat()
                found[path.name] = (path, [st.st_size, st.st_mtime_ns])
        return sorted(found.values(), key=lambda item: (item[1][1], item[0].name))

    def _process(self, path: Path, sig: list[int], state: Cursor, ctx: PollContext) -> list[Event]:
        state["watch"].pop(path.name, None)
        at = ctx.now.isoformat()
        size = sig[0]
        if size > self.config.max_file_bytes:
            key = f"unread:{path.name}:{size}:{sig[1]}"
            reason = (
                f"statement is {format_size(size)}, over the "
                f"{format_size(self.config.max_file_bytes)} limit"
            )
            self._quarantine(path, key, reason, state, at, ctx)
            return []
        try:
            with open(path, "rb") as handle:
                data = handle.read(self.config.max_file_bytes + 1)
            after = path.stat()
        except OSError as exc:
            ctx.log.warning("statement %s cannot be read now: %s", path.name, exc.strerror)
            return []
        if [after.st_size, after.st_mtime_ns] != sig or len(data) != size:
            state["watch"][path.name] = [after.st_size, after.st_mtime_ns]
            return []  # still being written after all: look again next poll
        key = hashlib.sha256(data).hexdigest()
        if key in state["files"]:
            state["known"][path.name] = [*sig, key]
            ctx.log.info("statement %s was already imported (sha256 %s)", path.name, key[:12])
            return []
        raw = {"file": path.name, "sha256": key}
        try:
            transactions = parse_bytes(data, self.config)
            events = [to_event(t, {**raw, "format": t["source_format"]}) for t in transactions]
        except StatementError as exc:
            self._quarantine(path, key, str(exc), state, at, ctx)
            return []
        except SchemaViolation as exc:
            self._quarantine(path, key, f"a line does not fit the schema: {exc}", state, at, ctx)
            return []
        except Exception as exc:
            # A parser bug must not wedge the folder or lose the file: keep it aside.
            ctx.log.exception("statement %s: unexpected parser failure", path.name)
            self._quarantine(path, key, f"internal error: {type(exc).__name__}", state, at, ctx)
            return []
        state["files"][key] = {
            "name": path.name,
            "status": "imported",
            "transactions": len(events),
            "reason": None,
            "at": at,
        }
        state["known"][path.name] = [*sig, key]
        ctx.log.info("statement %s imported: %d transactions", path.name, len(events))
        return events

    def _quarantine(
        self, path: Path, key: str, reason: str, state: Cursor, at: str, ctx: PollContext
    ) -> None:
        target_dir = path.parent / QUARANTINE
        target = target_dir / path.name
        status = "quarantined"
        try:
            target_dir.mkdir(exist_ok=True)
            if target.exists():
                target = target_dir / f"{path.stem}.{key.rsplit(':', 1)[-1][:12]}{path.suffix}"
            os.replace(path, target)
            target.with_name(target.name + ".reason.txt").write_text(
                f"{reason}\n\nfile: {path.name}\nfingerprint: {key}\nquarantined at: {at}\n"
                "Fix or replace the file and drop it into the folder again.\n",
                encoding="utf-8",
            )
        except OSError as exc:
            # Read-only share: the file stays, but is not retried until it changes.
            status = "refused"
            reason = f"{reason} (could not move it to {QUARANTINE}/: {exc.strerror})"
            stat = path.stat() if path.exists() else None
            if stat is not None:
                state["known"][path.name] = [stat.st_size, stat.st_mtime_ns, key]
        state["files"][key] = {
            "name": path.name,
            "status": status,
            "transactions": 0,
            "reason": reason,
            "at": at,
        }
        ctx.log.warning("statement %s %s: %s", path.name, status, reason)


def _load(cursor: Cursor | None) -> Cursor:
    """A fresh, mutable copy of the cursor (older or foreign shapes start empty)."""
    state: Cursor = {"files": {}, "watch": {}, "known": {}}
    if isinstance(cursor, dict):
        for part in state:
            value = cursor.get(part)
            if isinstance(value, dict):
                state[part] = {
                    k: (list(v) if isinstance(v, list) else dict(v)) for k, v in value.items()
                }
    return state
