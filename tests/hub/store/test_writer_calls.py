"""GroupCommitWriter: queued writes share one commit, and each one stays atomic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from hub.store.sql import _sqlite_setup
from hub.store.writer import GroupCommitWriter

NOTES = sa.Table("notes", sa.MetaData(), sa.Column("text", sa.String(50), primary_key=True))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}", pool_size=1, max_overflow=2)
    _sqlite_setup(engine, begin="BEGIN IMMEDIATE")
    NOTES.create(engine)
    yield engine
    engine.dispose()


def _no_batches(conn: sa.Connection, payloads: list[Any]) -> list[Any]:
    raise AssertionError("not used")


def _insert(text: str, fail: bool = False) -> Any:
    def work(conn: sa.Connection) -> str:
        conn.execute(sa.insert(NOTES).values(text=text))
        if fail:
            raise LookupError(f"{text} gave up after writing")
        return text

    return work


def _texts(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(NOTES.c.text)).scalars())


def test_queued_writes_share_one_commit_and_a_failure_rolls_back_alone(engine: sa.Engine) -> None:
    commits: list[int] = []
    sa_event.listen(engine, "commit", lambda conn: commits.append(1))
    writer: GroupCommitWriter[Any, Any] = GroupCommitWriter(engine, _no_batches, "test")
    gate, entered = threading.Event(), threading.Event()

    def hold(conn: sa.Connection) -> bool:
        entered.set()
        return gate.wait(10)

    try:
        blocker = writer.submit(hold)  # holds the writer while the others queue up
        assert entered.wait(10)
        futures = [
            writer.submit(_insert("a")),
            writer.submit(_insert("b", fail=True)),
            writer.submit(_insert("c")),
        ]
        gate.set()
        assert blocker.result(10) is True
        assert futures[0].result(10) == "a"
        with pytest.raises(LookupError, match="b gave up"):
            futures[1].result(10)
        assert futures[2].result(10) == "c"
    finally:
        writer.close()
    assert _texts(engine) == {"a", "c"}  # b's insert went with its savepoint
    assert len(commits) == 2  # the blocker, then a+b+c together


def test_a_shared_transaction_that_fails_is_retried_one_by_one(engine: sa.Engine) -> None:
    writer: GroupCommitWriter[Any, Any] = GroupCommitWriter(engine, _no_batches, "test")
    gate = threading.Event()
    try:
        writer.submit(lambda conn: gate.wait(10))
        first = writer.submit(_insert("x"))
        # A duplicate key breaks only its own savepoint...
        dup = writer.submit(_insert("x"))

        def poison(conn: sa.Connection) -> None:
            # ...while a BaseException (not an Exception) escapes the savepoint and
            # aborts the shared transaction: every job is then run again on its own.
            raise KeyboardInterrupt

        aborted = writer.submit(poison)
        last = writer.submit(_insert("y"))
        gate.set()
        assert first.result(10) == "x"
        with pytest.raises(sa.exc.IntegrityError):
            dup.result(10)
        with pytest.raises(KeyboardInterrupt):
            aborted.result(10)
        assert last.result(10) == "y"
    finally:
        writer.close()
    assert _texts(engine) == {"x", "y"}
