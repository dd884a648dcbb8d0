"""The pipeline's batch: dedupe, one update failing alone, files kept only for what committed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.actions import Action, FileKind, Incoming
from bot.clock import FakeClock
from bot.outbox import FileJob
from bot.pipeline import GC_THRESHOLDS, SWITCH_INTERVAL, Pipeline, tune_process
from bot.vk import vk_address
from storage.db import Database
from storage.repositories import EventRepository

NOW = dt.datetime(2023, 10, 17, 9, 0, tzinfo=dt.UTC)


class FakeOutbox:
    """Each write becomes a file job named after the update, like a receipt to send."""

    async def write(self, incoming: Incoming, actions: Sequence[Action]) -> list[FileJob]:
        to = vk_address(incoming.peer_id)
        return [FileJob(str(incoming.event_id), to, "f", b"", "", FileKind.DOCUMENT, "")]

    @contextlib.asynccontextmanager
    async def deferred(self, closing: Callable[[], Sequence[int]] = tuple) -> AsyncIterator[None]:
        yield
        closing()


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1

    async def send_files(self, jobs: Sequence[FileJob]) -> None:
        self.sent.extend(job.key for job in jobs)

    def take_sent(self) -> list[object]:
        return []

    @contextlib.contextmanager
    def carried(self) -> Iterator[None]:
        yield

    def settle(self, rows: Sequence[object], *, closed: bool) -> None:
        pass


class World:
    def __init__(self, db: Database, group: int = 32) -> None:
        self.db = db
        self.sender = FakeSender()
        self.pipeline = Pipeline(
            db,
            EventRepository(db),
            FakeOutbox(),  # type: ignore[arg-type]
            self.sender,  # type: ignore[arg-type]
            FakeClock(NOW),
            group=group,
        )
        self.calls: list[str] = []

    async def dispatch(self, update: dict[str, Any]) -> None:
        key = str(update.get("event_id"))
        self.calls.append(key)
        await self.db.execute("INSERT INTO t (x) VALUES (?)", (key,))
        await self.pipeline.respond(Incoming(user_id=1, peer_id=1, event_id=key), [])
        if update.get("boom"):
            raise RuntimeError("poison update")

    async def handle(self, updates: list[dict[str, Any]]) -> None:
        await self.pipeline.handle_batch(updates, self.dispatch)
        await self.pipeline.drain()

    async def stored(self) -> list[str]:
        return [row[0] for row in await self.db.fetchall("SELECT x FROM t ORDER BY rowid")]

    async def marked(self) -> set[str]:
        rows = await self.db.fetchall("SELECT event_id FROM processed_events")
        return {row[0] for row in rows}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "t.db")
    await db.execute("CREATE TABLE t (x TEXT NOT NULL)")
    yield World(db)
    await db.close()


async def test_a_failing_update_is_rolled_back_alone_and_marked_handled(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    batch = [{"event_id": "a"}, {"event_id": "b", "boom": True}, {"event_id": "c"}]
    with caplog.at_level(logging.ERROR):
        await world.handle(batch)
    assert await world.stored() == ["a", "c"]
    assert await world.marked() == {"a", "b", "c"}
    assert sorted(world.sender.sent) == ["a", "c"]  # each once, none for the failed one
    assert "update b failed" in caplog.text
    # Handled without savepoints until b failed, then again each in a savepoint of its own.
    assert world.calls == ["a", "b", "a", "b", "c"]
    assert world.sender.woken == 1


async def test_a_replayed_batch_is_skipped_even_its_failed_update(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.handle([{"event_id": "a"}, {"event_id": "b", "boom": True}])
    world.calls.clear()
    with caplog.at_level(logging.INFO):
        await world.handle([{"event_id": "a"}, {"event_id": "b"}, {"event_id": "c"}])
    assert world.calls == ["c"]
    assert await world.stored() == ["a", "c"]
    assert "ignoring a replayed update a" in caplog.text
    assert "ignoring a replayed update b" in caplog.text


async def test_the_same_event_twice_in_a_batch_is_handled_once(world: World) -> None:
    await world.handle([{"event_id": "a"}, {"event_id": "a"}, {"event_id": "b"}])
    assert await world.stored() == ["a", "b"]
    assert sorted(world.sender.sent) == ["a", "b"]


async def test_updates_without_an_event_id_are_handled_every_time(world: World) -> None:
    await world.handle([{"n": 1}, {"event_id": "a"}])
    await world.handle([{"n": 1}])
    assert await world.stored() == ["None", "a", "None"]
    assert await world.marked() == {"a"}


async def test_a_large_batch_is_marked_at_once(world: World) -> None:
    batch: list[dict[str, Any]] = [{"event_id": f"e{i}"} for i in range(1203)]
    batch[700]["boom"] = True
    await world.handle(batch)
    assert len(await world.stored()) == 1202
    assert len(await world.marked()) == 1203
    world.calls.clear()
    await world.handle(batch)
    assert world.calls == []


async def test_a_cancelled_batch_leaves_nothing(world: World) -> None:
    started = asyncio.Event()

    async def slow(update: dict[str, Any]) -> None:
        await world.dispatch(update)
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(world.pipeline.handle_batch([{"event_id": "a"}], slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await world.stored() == []
    assert await world.marked() == set()


async def test_a_batch_without_failures_uses_no_savepoints(world: World) -> None:
    statements: list[str] = []
    await world.db._conn.set_trace_callback(statements.append)
    await world.handle([{"event_id": "a"}, {"event_id": "b"}])
    await world.db._conn.set_trace_callback(None)
    assert not [s for s in statements if "SAVEPOINT" in s]
    assert await world.stored() == ["a", "b"]
    assert world.calls == ["a", "b"]


async def test_a_batch_that_fails_again_on_retry_is_still_settled_per_update(
    world: World,
) -> None:
    """A failure that comes only on the retry (not deterministic) is isolated there too."""
    seen: list[str] = []

    async def flaky(update: dict[str, Any]) -> None:
        key = str(update["event_id"])
        seen.append(key)
        await world.db.execute("INSERT INTO t (x) VALUES (?)", (key,))
        if (key == "b" and seen.count("b") == 1) or (key == "c" and seen.count("a") == 2):
            raise RuntimeError("flaky")

    await world.pipeline.handle_batch(
        [{"event_id": "a"}, {"event_id": "b"}, {"event_id": "c"}], flaky
    )
    assert seen == ["a", "b", "a", "b", "c"]
    assert await world.stored() == ["a", "b"]
    assert await world.marked() == {"a", "b", "c"}


async def test_a_burst_commits_group_by_group_for_the_sender_to_start_early(
    tmp_path: Path,
) -> None:
    """A thousand-update burst does not hold every reply back until its last update: each
    group of updates commits, and wakes the sender, before the next is handled; a failing
    update has only its own group handled again."""
    db = await Database.open(tmp_path / "t.db")
    outside = await Database.open(tmp_path / "t.db")  # another connection sees commits only
    committed_before: dict[str, list[str]] = {}

    async def watching(update: dict[str, Any]) -> None:
        key = str(update["event_id"])
        rows = await outside.fetchall("SELECT x FROM t ORDER BY rowid")
        committed_before.setdefault(key, [row[0] for row in rows])
        await world.dispatch(update)

    try:
        await db.execute("CREATE TABLE t (x TEXT NOT NULL)")
        world = World(db, group=2)
        batch: list[dict[str, Any]] = [{"event_id": k} for k in "abcde"]
        batch[3]["boom"] = True
        await world.pipeline.handle_batch(batch, watching)
        await world.pipeline.drain()
        assert committed_before == {
            "a": [],
            "b": [],
            "c": ["a", "b"],
            "d": ["a", "b"],
            "e": ["a", "b", "c"],
        }
        assert world.calls == ["a", "b", "c", "d", "c", "d", "e"]
        assert await world.stored() == ["a", "b", "c", "e"]
        assert world.sender.woken == 3
        with pytest.raises(ValueError, match="at least one"):
            Pipeline(db, EventRepository(db), FakeOutbox(), FakeSender(), FakeClock(NOW), group=0)  # type: ignore[arg-type]
    finally:
        await outside.close()
        await db.close()


async def test_one_persons_updates_keep_their_order_while_others_run_beside(
    tmp_path: Path,
) -> None:
    """a1 then a2 (one person) in order; b's update runs while a1 waits for the database;
    a chat event (no author) waits for all before it and runs before all after it."""
    db = await Database.open(tmp_path / "t.db")
    log: list[str] = []
    try:
        await db.execute("CREATE TABLE t (x TEXT NOT NULL)")
        world = World(db)
        world.pipeline.author = lambda update: update.get("who")
        release_a1 = asyncio.Event()

        async def dispatch(update: dict[str, Any]) -> None:
            key = str(update["event_id"])
            log.append(f"start {key}")
            if key == "a1":
                await release_a1.wait()  # a slow update: b's must not wait behind it
            if key == "b1":
                release_a1.set()
            await world.dispatch(update)
            log.append(f"end {key}")

        batch: list[dict[str, Any]] = [
            {"event_id": "a1", "who": 1},
            {"event_id": "b1", "who": 2},
            {"event_id": "a2", "who": 1},
            {"event_id": "chat"},
            {"event_id": "b2", "who": 2},
        ]
        async with asyncio.timeout(10):  # one after another, a1 would wait for b1 forever
            await world.pipeline.handle_batch(batch, dispatch)
        assert log.index("start b1") < log.index("end a1")
        assert log.index("end a1") < log.index("start a2")
        assert log.index("start chat") > max(log.index("end a2"), log.index("end b1"))
        assert log.index("start b2") > log.index("end chat")
        assert sorted(await world.stored()) == ["a1", "a2", "b1", "b2", "chat"]
    finally:
        await db.close()


async def test_a_failure_beside_others_rolls_the_group_back_and_isolates_it(
    world: World,
) -> None:
    world.pipeline.author = lambda update: update.get("who")
    batch: list[dict[str, Any]] = [
        {"event_id": "a", "who": 1},
        {"event_id": "b", "who": 2, "boom": True},
        {"event_id": "c", "who": 3},
    ]
    await world.handle(batch)
    assert await world.stored() == ["a", "c"]
    assert await world.marked() == {"a", "b", "c"}
    assert world.calls[-3:] == ["a", "b", "c"]  # the retry runs one at a time, in order


def test_tune_process_sets_the_interpreter_up_for_bursts_and_undoes_it() -> None:
    before = (sys.getswitchinterval(), gc.get_threshold())
    untune = tune_process()
    try:
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what start-up made is left out of collections
    finally:
        untune()
    assert (sys.getswitchinterval(), gc.get_threshold()) == before
    assert gc.get_freeze_count() == 0
