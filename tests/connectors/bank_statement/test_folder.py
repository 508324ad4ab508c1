"""StatementFolder: settled files only, cursor resume, quarantine with reasons, restarts."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.bank_statement import StatementFolder, connector
from connectors.bank_statement.sources import EVENT_TYPE
from hub.connector import Page, PollContext
from hub.errors import ConfigError, TransientError
from hub.events import Event
from hub.schemas import validate_event

from .helpers import HDFC, STATEMENTS, config

NOW = datetime.now(UTC) + timedelta(hours=1)  # every file written by a test is "old enough"


def ctx(now: datetime = NOW) -> PollContext:
    return PollContext(
        connection="bank-main",
        http=None,  # type: ignore[arg-type]  # the folder source makes no HTTP calls
        now=now,
        log=logging.getLogger("test.bank"),
    )


def source(folder: Path, **values: Any) -> StatementFolder:
    return StatementFolder(config(folder=str(folder), **values), connection="bank-main")


async def poll(src: StatementFolder, cursor: Any, now: datetime = NOW) -> Page[Any]:
    page = await src.poll(cursor, ctx(now))
    assert page.cursor is not None
    json.dumps(page.cursor)  # always JSON-serializable
    return page


async def drain(
    src: StatementFolder, cursor: Any = None, rounds: int = 6
) -> tuple[list[Event], Any]:
    events: list[Event] = []
    for _ in range(rounds):
        page = await poll(src, cursor)
        events.extend(page.events)
        cursor = page.cursor
    return events, cursor


def copy(name: str, folder: Path, as_name: str | None = None) -> Path:
    return Path(shutil.copy(STATEMENTS / name, folder / (as_name or name)))


def test_connector_metadata() -> None:
    assert connector.name == "bank_statement"
    assert connector.title == "Bank statements"
    assert connector.pollers == (StatementFolder,)
    assert connector.emits == ("bank.transaction.posted",)
    schema = connector.config.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name


async def test_three_overlapping_statements_post_each_transaction_once(tmp_path: Path) -> None:
    for name in ("hdfc_20240415-16.sta", "hdfc_20240416-17.camt053.xml", "hdfc_20240415-17.csv"):
        copy(name, tmp_path)
    events, cursor = await drain(source(tmp_path, account=HDFC))
    assert len(events) == 14  # 4 + 4 + 6 lines
    by_key = {e.idempotency_key: e for e in events}
    assert len(by_key) == 6  # what the store keeps: each transfer once
    for event in events:
        assert event.type == EVENT_TYPE
        assert event.idempotency_key == f"{EVENT_TYPE}:{event.data['transaction_id']}"
        assert event.subject == event.data["transaction_id"]
        validate_event(event.bind("bank-main", "bank_statement").to_dict())
    statuses = {v["name"]: (v["status"], v["transactions"]) for v in cursor["files"].values()}
    assert statuses == {
        "hdfc_20240415-16.sta": ("imported", 4),
        "hdfc_20240416-17.camt053.xml": ("imported", 4),
        "hdfc_20240415-17.csv": ("imported", 6),
    }


async def test_a_file_is_read_only_on_the_second_look(tmp_path: Path) -> None:
    copy("hdfc_20240415-17.csv", tmp_path)
    src = source(tmp_path)
    first = await poll(src, None)
    assert first.cursor is not None
    assert first.events == [] and list(first.cursor["watch"]) == ["hdfc_20240415-17.csv"]
    second = await poll(src, first.cursor)
    assert second.cursor is not None
    assert len(second.events) == 6 and second.cursor["watch"] == {}


async def test_a_half_written_file_is_not_read_until_it_stops_changing(tmp_path: Path) -> None:
    whole = (STATEMENTS / "hdfc_20240415-17.csv").read_bytes()
    path = tmp_path / "hdfc.csv"
    a, b, c = len(whole) // 4, len(whole) // 2, 3 * len(whole) // 4
    path.write_bytes(whole[:a])  # the download is still running: cut mid-line
    src = source(tmp_path)
    cursor = None
    for chunk in (whole[a:b], whole[b:c]):
        page = await poll(src, cursor)
        assert page.events == []
        cursor = page.cursor
        with open(path, "ab") as handle:
            handle.write(chunk)
    page = await poll(src, cursor)  # changed since the last look: still waiting
    assert page.events == []
    with open(path, "ab") as handle:
        handle.write(whole[c:])
    page = await poll(src, page.cursor)
    assert page.events == []
    page = await poll(src, page.cursor)  # unchanged across two looks: read, complete
    assert len(page.events) == 6
    assert not (tmp_path / "quarantine").exists()


async def test_a_young_file_waits_for_settle_seconds(tmp_path: Path) -> None:
    copy("hdfc_20240415-17.csv", tmp_path)
    src = source(tmp_path, settle_seconds=600)
    just_now = datetime.now(UTC)
    cursor = None
    for _ in range(3):
        page = await poll(src, cursor, now=just_now)
        assert page.events == []
        cursor = page.cursor
    page = await poll(src, cursor, now=just_now + timedelta(minutes=11))
    assert len(page.events) == 6


@pytest.mark.parametrize(
    "name", ["hdfc.csv.part", "hdfc.csv.tmp", ".hdfc.csv", "hdfc.csv.crdownload"]
)
async def test_in_progress_names_are_never_read(tmp_path: Path, name: str) -> None:
    copy("hdfc_20240415-17.csv", tmp_path, name)
    events, cursor = await drain(source(tmp_path, patterns=["*"]))
    assert events == [] and cursor["watch"] == {} and cursor["files"] == {}
    (tmp_path / name).rename(tmp_path / "hdfc.csv")  # the downloader's final rename
    events, _ = await drain(source(tmp_path, patterns=["*"]), cursor)
    assert len(events) == 6


BOMB = (
    (Path(__file__).parent / "test_parsers.py")
    .read_text()
    .split('BOMB = b"""', 1)[1]
    .split('"""', 1)[0]
)


async def test_bad_files_are_quarantined_with_a_reason_and_the_rest_imported(
    tmp_path: Path,
) -> None:
    copy("hdfc_20240415-17.csv", tmp_path)
    copy("icici_202405.csv", tmp_path)
    good_mt940 = (STATEMENTS / "hdfc_20240415-16.sta").read_text()
    (tmp_path / "truncated.sta").write_text(good_mt940[: good_mt940.index(":62F:")])
    (tmp_path / "bomb.xml").write_text(BOMB)
    (tmp_path / "broken.csv").write_bytes(
        (STATEMENTS / "hdfc_20240415-17.csv").read_bytes().replace(b'"1,500.00"', b'"1,5x0.00"')
    )
    (tmp_path / "unknown.csv").write_text("Foo,Bar,Baz\n1,2,3\n")
    with open(tmp_path / "huge.sta", "wb") as handle:
        handle.truncate(100 * 2**20)
    events, cursor = await drain(source(tmp_path, files_per_poll=2), rounds=8)
    assert len(events) == 6 + 4  # HDFC + ICICI, all else quarantined
    quarantine = tmp_path / "quarantine"
    reasons = {
        p.name.removesuffix(".reason.txt"): p.read_text().splitlines()[0]
        for p in quarantine.glob("*.reason.txt")
    }
    assert set(reasons) == {"truncated.sta", "bomb.xml", "broken.csv", "unknown.csv", "huge.sta"}
    assert "no :62F:/:62M: closing balance" in reasons["truncated.sta"]
    assert "refused an XML file with a DTD" in reasons["bomb.xml"]
    assert "line 10: debit '1,5x0.00' is not an amount" in reasons["broken.csv"]
    assert (
        "no profile" in reasons["unknown.csv"] and "configure csv_profile" in reasons["unknown.csv"]
    )
    assert reasons["huge.sta"] == "statement is 100 MB, over the 20 MB limit"
    for name in reasons:
        assert (quarantine / name).exists() and not (tmp_path / name).exists()
    in_cursor = {
        v["name"]: v["reason"] for v in cursor["files"].values() if v["status"] == "quarantined"
    }
    assert in_cursor == reasons


async def test_more_is_set_while_settled_files_wait(tmp_path: Path) -> None:
    for name in ("hdfc_20240415-17.csv", "icici_202405.csv", "kotak_202405.csv"):
        copy(name, tmp_path)
    src = source(tmp_path, files_per_poll=1)
    page = await poll(src, None)
    page = await poll(src, page.cursor)
    assert page.more and len(page.events) == 6
    page = await poll(src, page.cursor)
    assert page.more and len(page.events) == 4
    page = await poll(src, page.cursor)
    assert not page.more and len(page.events) == 3


async def test_cursor_is_kept_on_an_empty_poll_and_a_restart_emits_nothing(tmp_path: Path) -> None:
    copy("hdfc_20240415-17.csv", tmp_path)
    events, cursor = await drain(source(tmp_path), rounds=2)
    assert len(events) == 6
    empty = await poll(source(tmp_path), cursor)
    assert empty.events == [] and empty.cursor == cursor
    restarted = source(tmp_path)  # a new process with the saved cursor
    saved = json.loads(json.dumps(cursor))
    events, after = await drain(restarted, saved, rounds=3)
    assert events == [] and after == cursor


async def test_the_same_content_under_another_name_is_not_imported_twice(tmp_path: Path) -> None:
    copy("hdfc_20240415-17.csv", tmp_path)
    events, cursor = await drain(source(tmp_path), rounds=2)
    copy("hdfc_20240415-17.csv", tmp_path, "hdfc-again.csv")
    more, cursor = await drain(source(tmp_path), cursor, rounds=3)
    assert len(events) == 6 and more == []
    assert cursor["known"]["hdfc-again.csv"][2] == cursor["known"]["hdfc_20240415-17.csv"][2]


async def test_a_changed_file_is_read_again_with_stable_ids(tmp_path: Path) -> None:
    path = copy("hdfc_20240415-17.csv", tmp_path)
    first, cursor = await drain(source(tmp_path), rounds=2)
    path.write_bytes(path.read_bytes() + b"\r\n")  # re-downloaded over itself
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second, _ = await drain(source(tmp_path), cursor, rounds=3)
    assert [e.idempotency_key for e in second] == [e.idempotency_key for e in first]


async def test_cursor_history_is_bounded(tmp_path: Path) -> None:
    text = (STATEMENTS / "hdfc_20240415-17.csv").read_text()
    for i in range(14):
        (tmp_path / f"s{i:02}.csv").write_text(text + "," * i)  # 14 different fingerprints
    _, cursor = await drain(source(tmp_path, history=10, files_per_poll=20), rounds=3)
    assert len(cursor["files"]) == 10


async def test_missing_folder_and_missing_setting(tmp_path: Path) -> None:
    with pytest.raises(TransientError, match="does not exist"):
        await poll(source(tmp_path / "nope"), None)
    with pytest.raises(ConfigError, match="set 'folder'"):
        await StatementFolder(config(), "c").poll(None, ctx())


async def test_a_garbage_cursor_starts_afresh(tmp_path: Path) -> None:
    copy("kotak_202405.csv", tmp_path)
    events, _ = await drain(source(tmp_path), {"files": "x", "watch": 3}, rounds=2)
    assert len(events) == 3


async def test_read_only_folder_records_the_refusal_without_retrying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "unknown.csv").write_text("Foo,Bar\n1,2\n")

    def deny(*_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("connectors.bank_statement.sources.os.replace", deny)
    events, cursor = await drain(source(tmp_path), rounds=4)
    (entry,) = cursor["files"].values()
    assert events == [] and entry["status"] == "refused"
    assert "could not move it to quarantine/: Permission denied" in entry["reason"]
    assert (tmp_path / "unknown.csv").exists() and "unknown.csv" in cursor["known"]
