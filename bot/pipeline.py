"""One incoming update = one transaction: its dedupe, every state change, every message to send.

A long-poll batch is handled in groups of up to `GROUP` updates, each group one transaction (one
commit, one fsync for many updates; the sender carries the first group's replies while the next
is handled). A group's events are marked handled first, in one statement. One person's updates
run in the order they came; different people's run side by side (their statements interleave on
the one connection). If an update fails, the group is rolled back and handled again, one
update at a time, each in a savepoint of its own:
the failing one is rolled back alone, stays marked handled and is logged, and the others stand
(savepoints only then: they cost two round trips to the database's thread per update). Only
after the commit does the sender see the messages, so nothing leaves before the state that
wants it is durable, and a replay after a crash finds the event handled and its messages
already waiting in the outbox.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from bot.actions import Action, Incoming
from bot.clock import Clock
from bot.outbox import FileJob, Outbox, Sender
from storage.db import Database
from storage.outbox import OutboxRow
from storage.repositories import EventRepository

log = logging.getLogger(__name__)

# The files the update being handled wants uploaded once its transaction commits.
_FILES: contextvars.ContextVar[list[FileJob] | None] = contextvars.ContextVar(
    "confirmbot_files", default=None
)

# Updates per transaction. One commit (one fsync) for many updates is what makes a burst
# cheap; a bounded group lets the sender carry the first replies while the rest of a
# thousand-update burst is still being handled, instead of after all of it.
GROUP = 32

Dispatch = Callable[[dict[str, Any]], Awaitable[None]]


# aiosqlite runs each statement on a thread of its own, and the thread needs the GIL back to
# hand the result to the event loop. While the loop runs Python (the rules of other updates)
# it lets go only every switch interval, 5 ms by default: a 0.1 ms statement could wait fifty
# times that.
SWITCH_INTERVAL = 0.0005
# Handling an update allocates thousands of small objects (vkbottle's and our models); at
# Python's default (a collection every 700) the cyclic collector was ~15 % of the bot's CPU.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_process() -> Callable[[], None]:
    """Set the process up for bursts of updates (row 1 of BENCHMARKS.md): the database's
    thread hands results back within half a millisecond, and the cyclic collector runs
    rarely and leaves out what start-up made (`gc.freeze`). Returns what undoes it."""
    switch_interval = sys.getswitchinterval()
    thresholds = gc.get_threshold()
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

    def restore() -> None:
        sys.setswitchinterval(switch_interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()

    return restore


class _UpdateFailed(Exception):
    """An update raised in a batch handled without savepoints."""


def _key(update: dict[str, Any]) -> str | None:
    event_id = update.get("event_id")
    return event_id if isinstance(event_id, str) else None


class Pipeline:
    def __init__(
        self,
        db: Database,
        events: EventRepository,
        outbox: Outbox,
        sender: Sender,
        clock: Clock,
        *,
        group: int = GROUP,
        author: Callable[[dict[str, Any]], Hashable | None] = lambda update: None,
    ) -> None:
        if group < 1:
            raise ValueError("a transaction takes at least one update")
        self.group = group
        # Whose update this is (the messenger adapter knows where to look); None runs it alone.
        self.author = author
        self.db = db
        self.events = events
        self.outbox = outbox
        self.sender = sender
        self.clock = clock
        self._uploads: set[asyncio.Task[None]] = set()

    async def respond(self, incoming: Incoming, actions: Sequence[Action]) -> None:
        """What a handler does with the rules' answer: write it to the outbox, in the update's
        transaction."""
        jobs = await self.outbox.write(incoming, actions)
        pending = _FILES.get()
        if pending is not None:
            pending.extend(jobs)
        elif jobs:
            # Outside a pipeline (the CLI): upload now.
            await self.sender.send_files(jobs)

    async def handle_batch(
        self,
        updates: Sequence[dict[str, Any]],
        dispatch: Dispatch,
        *,
        author: Callable[[dict[str, Any]], Hashable | None] | None = None,
    ) -> None:
        """Handle a long-poll batch in arrival order, `group` updates per transaction;
        `author` says whose update it is for another messenger's batch."""
        with self.sender.carried():  # each group's commit closes what the sender sent
            for start in range(0, len(updates), self.group):
                await self._handle_group(
                    updates[start : start + self.group], dispatch, author or self.author
                )

    async def _handle_group(
        self,
        updates: Sequence[dict[str, Any]],
        dispatch: Dispatch,
        author: Callable[[dict[str, Any]], Hashable | None],
    ) -> None:
        files: list[FileJob] = []
        token = _FILES.set(files)
        # What the sender has sent since: this commit closes it too, instead of one more.
        closing: list[OutboxRow] = []
        committed = False

        def close() -> list[int]:
            closing.extend(self.sender.take_sent())
            return [row.id for row in closing]

        try:
            try:
                # The usual case, no update fails: no savepoints, two round trips fewer each.
                async with self.db.transaction(), self.outbox.deferred(close):
                    await self._handle_all(updates, dispatch, author, isolated=False)
                committed = True
            except _UpdateFailed as failed:
                # Rare: the batch is rolled back whole and handled again, each update in a
                # savepoint of its own, so the failing one is rolled back alone.
                log.info("update %s failed; handling its batch again update by update", failed)
                files.clear()
                async with self.db.transaction():
                    await self._handle_all(updates, dispatch, author, isolated=True)
        finally:
            _FILES.reset(token)
            self.sender.settle(closing, closed=committed)
        self.sender.wake()
        # Let the sender take the connection first: it closes what it sent and claims what
        # this commit made due in one trip, and the next group would hold it until its commit.
        await asyncio.sleep(0)
        if files:
            task = asyncio.create_task(self.sender.send_files(files))
            self._uploads.add(task)
            task.add_done_callback(self._uploads.discard)

    async def _handle_all(
        self,
        updates: Sequence[dict[str, Any]],
        dispatch: Dispatch,
        author: Callable[[dict[str, Any]], Hashable | None],
        *,
        isolated: bool,
    ) -> None:
        # Every event of the batch is marked first, outside the updates' savepoints: an update
        # that fails is rolled back alone and stays marked handled.
        keys = [key for update in updates if (key := _key(update)) is not None]
        fresh = await self.events.mark_new(keys, self.clock.now()) if keys else set()
        if isolated:
            # Savepoints nest: one update at a time.
            for update in updates:
                await self._handle(update, dispatch, fresh, isolated=True)
            return
        failures: list[_UpdateFailed] = []

        async def chain(ordered: list[dict[str, Any]]) -> None:
            for update in ordered:
                try:
                    await self._handle(update, dispatch, fresh, isolated=False)
                except _UpdateFailed as failed:
                    failures.append(failed)
                    return

        for chains in self._rounds(updates, author):
            if len(chains) == 1:
                await chain(chains[0])
            else:
                # Different people's updates interleave on the database's one connection, so
                # one waits for its statements while another's rules run.
                async with asyncio.TaskGroup() as group:
                    for ordered in chains:
                        group.create_task(chain(ordered))
            if failures:
                raise failures[0]

    def _rounds(
        self,
        updates: Sequence[dict[str, Any]],
        author_of: Callable[[dict[str, Any]], Hashable | None],
    ) -> list[list[list[dict[str, Any]]]]:
        """Split a group into rounds run one after another; a round is one or more chains run
        side by side, each chain one person's updates in the order they came. An update of
        no one person (a chat event) is a round of its own: it sees everything before it done
        and nothing after it begun."""
        rounds: list[list[list[dict[str, Any]]]] = []
        chains: dict[Hashable, list[dict[str, Any]]] = {}
        for update in updates:
            author = author_of(update)
            if author is None:
                if chains:
                    rounds.append(list(chains.values()))
                    chains = {}
                rounds.append([[update]])
            else:
                chains.setdefault(author, []).append(update)
        if chains:
            rounds.append(list(chains.values()))
        return rounds

    async def _handle(
        self, update: dict[str, Any], dispatch: Dispatch, fresh: set[str], *, isolated: bool
    ) -> None:
        key = _key(update)
        if key is not None:
            if key not in fresh:
                log.info("ignoring a replayed update %s", key)
                return
            fresh.discard(key)  # the same event twice in a batch is handled once
        if not isolated:
            try:
                await dispatch(update)
            except Exception as error:
                raise _UpdateFailed(key) from error
            return
        files = _FILES.get()
        before = 0 if files is None else len(files)
        try:
            async with self.db.transaction():
                await dispatch(update)
        except Exception:
            # Rolled back alone; marked handled so a poison update is not replayed forever.
            log.exception("update %s failed; its changes are rolled back", key)
            if files is not None:
                del files[before:]

    async def drain(self) -> None:
        """Wait for the uploads started after earlier batches."""
        for task in list(self._uploads):
            try:
                await task
            except Exception:
                log.exception("an upload failed")
