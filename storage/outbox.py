"""The outbox: messages written in the transaction that wants them sent, drained by one sender."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.messages import Outgoing, OutKind
from storage.db import Database

ENQUEUE = (
    "INSERT INTO outbox (key, platform, kind, lane, body, not_before, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
LOST = "SELECT chat_id FROM lost_chats WHERE ?1 IS NULL OR platform = ?1"
SENT = "UPDATE outbox SET state = 'sent', done_at = ?, attempts = attempts + 1 WHERE id = ?"
# A lane's oldest pending row, if it may go now: ?1 now, ?2 the kind that goes first, ?3 limit.
DUE = """
    SELECT id, lane, attempts, not_before FROM outbox o
    WHERE state = 'pending' AND (attempts = 0 OR not_before <= ?1)
      AND id = (SELECT MIN(id) FROM outbox WHERE lane = o.lane AND state = 'pending')
    ORDER BY kind != ?2, id LIMIT ?3
"""


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class OutboxSlot:
    """A pending row without its message: enough to choose what to send next (read for
    hundreds of rows per batch, so a plain dataclass; the message is validated when used)."""

    id: int
    lane: str
    attempts: int
    not_before: dt.datetime


def _slot(row: Sequence[Any]) -> OutboxSlot:
    return OutboxSlot(row[0], row[1], row[2], dt.datetime.fromisoformat(row[3]))


class OutboxRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    lane: str
    attempts: int
    not_before: dt.datetime
    message: Outgoing


class OutboxCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    pending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


# Messages this process wrote, kept until the sender claims them (`due`) so that it need not
# parse their bodies back; a bound, since a rolled-back write never gets claimed.
WRITTEN_KEPT = 20_000


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # By key; only rows that were new when written, so the row's body is this message.
        self._written: dict[str, Outgoing] = {}

    async def enqueue(
        self, messages: Sequence[Outgoing], now: dt.datetime, *, sent: Sequence[int] = ()
    ) -> int:
        """Write messages to send; a key already written is left as it is. Returns how many
        were new. Rows `sent` are closed in the same trip (`mark_sent`)."""
        if not messages and not sent:
            return 0
        closed = [(_ts(now), row_id) for row_id in sent]
        stamp = _ts(now)
        rows = [
            (
                message.key,
                message.to[0].platform,
                message.kind.value,
                message.lane,
                message.model_dump_json(),
                stamp,
                stamp,
            )
            for message in messages
        ]

        def write(conn: sqlite3.Connection) -> list[bool]:
            if closed:
                conn.executemany(SENT, closed).close()
            # One round trip for all of an update's messages; row by row, since an
            # executemany's rowcount does not say which keys were new.
            return [conn.execute(ENQUEUE, row).rowcount > 0 for row in rows]

        async with self._db.atomic():
            new = await self._db.run(write)
        if len(self._written) > WRITTEN_KEPT:
            self._written.clear()
        for message, added in zip(messages, new, strict=True):
            if added:
                self._written[message.key] = message
        return sum(new)

    async def pending_keys(self, platform: str) -> list[str]:
        """The keys of a messenger's new messages still pending: at start, the ones a process
        that died may have sent without recording it."""
        rows = await self._db.fetchall(
            "SELECT key FROM outbox WHERE state = 'pending' AND platform = ? AND kind = ?",
            (platform, OutKind.SEND.value),
        )
        return [str(row[0]) for row in rows]

    async def pending(self, now: dt.datetime, limit: int) -> list[OutboxSlot]:
        """The next message of each lane that may go now, oldest first, button answers first;
        without their bodies, which only the chosen few need (`chosen`, or `due` for both).

        Only a lane's oldest pending message is a candidate, so a lane backing off (or one
        with thousands of messages) never hides the lanes queued after it.
        """
        rows = await self._db.fetchall(DUE, (_ts(now), OutKind.ANSWER.value, limit))
        return [_slot(row) for row in rows]

    async def due(
        self,
        now: dt.datetime,
        limit: int,
        choose: Callable[[list[OutboxSlot]], list[OutboxSlot]],
        platform: str | None,
        *,
        sent: Sequence[int] = (),
    ) -> tuple[list[tuple[OutboxSlot, Outgoing]], set[int]]:
        """In one round trip: close the rows `sent` (`mark_sent`, committed first), then
        `pending`, the rows `choose` picks from them with their bodies, and the chats of
        `platform` the bot is no longer in. `choose` runs on the database's thread, so it
        must only look at the slots it is given."""
        closed = [(_ts(now), row_id) for row_id in sent]

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[OutboxSlot, str, str]], set[int]]:
            slots = [
                _slot(row) for row in conn.execute(DUE, (_ts(now), OutKind.ANSWER.value, limit))
            ]
            picked = choose(slots)
            if not picked:
                return [], set()
            marks = ",".join("?" * len(picked))
            bodies = {
                row[0]: (row[1], row[2])
                for row in conn.execute(
                    f"SELECT id, key, body FROM outbox WHERE id IN ({marks})",  # noqa: S608
                    [slot.id for slot in picked],
                )
            }
            lost = {row[0] for row in conn.execute(LOST, (platform,))}
            return [(slot, *bodies[slot.id]) for slot in picked if slot.id in bodies], lost

        def close_then_read(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[OutboxSlot, str, str]], set[int]]:
            conn.executemany(SENT, closed).close()
            return read(conn)

        if closed:
            # The read inside the closing transaction sees the rows closed; one commit.
            found, lost = await self._db.write(close_then_read)
        else:
            found, lost = await self._db.run(read)
        return [(slot, self._message(key, body)) for slot, key, body in found], lost

    def _message(self, key: str, body: str) -> Outgoing:
        kept: Outgoing | None = self._written.pop(key, None)
        return kept if kept is not None else Outgoing.model_validate_json(body)

    async def chosen(
        self, slots: Sequence[OutboxSlot], platform: str | None
    ) -> tuple[list[OutboxRow], set[int]]:
        """The chosen rows with their messages, in the order given, and the chats of
        `platform` the bot is no longer in: what a batch needs, in one round trip."""
        marks = ",".join("?" * len(slots))
        found_rows, lost_rows = await self._db.fetch_many(
            [
                (
                    f"SELECT id, body FROM outbox WHERE id IN ({marks})",  # noqa: S608
                    [slot.id for slot in slots],
                ),
                (LOST, (platform,)),
            ]
        )
        found = {row[0]: row[1] for row in found_rows}
        rows = [
            OutboxRow(
                id=slot.id,
                lane=slot.lane,
                attempts=slot.attempts,
                not_before=slot.not_before,
                message=Outgoing.model_validate_json(found[slot.id]),
            )
            for slot in slots
            if slot.id in found
        ]
        return rows, {row[0] for row in lost_rows}

    async def pending_messages(self, limit: int) -> list[OutboxRow]:
        """Every pending message with its body, oldest first (for tests and tools)."""
        rows = await self._db.fetchall(
            "SELECT id, lane, attempts, not_before FROM outbox WHERE state = 'pending' "
            "ORDER BY id LIMIT ?",
            (limit,),
        )
        slots = [_slot(row) for row in rows]
        chosen, _ = await self.chosen(slots, None)
        return chosen

    async def mark_sent(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Close rows as sent: a transaction of its own in one round trip, or part of the
        caller's."""
        rows = [(_ts(now), row_id) for row_id in ids]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(SENT, rows).close()

        await self._db.write(write)

    async def finish(self, row_id: int, state: str, error: str, now: dt.datetime) -> None:
        """Close a row as `failed` or `skipped`, with why."""
        await self._db.execute(
            "UPDATE outbox SET state = ?, error = ?, done_at = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            (state, error[:500], _ts(now), row_id),
        )

    async def retry(self, row_id: int, not_before: dt.datetime, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, not_before = ?, error = ? WHERE id = ?",
            (_ts(not_before), error[:500], row_id),
        )

    async def due_now(self, platform: str, now: dt.datetime) -> int:
        """Every pending row of a messenger that was waiting for it is due now (it is back)."""
        return await self._db.execute(
            "UPDATE outbox SET not_before = ? "
            "WHERE state = 'pending' AND platform = ? AND not_before > ?",
            (_ts(now), platform, _ts(now)),
        )

    async def wait(self, row_id: int, not_before: dt.datetime, error: str) -> None:
        """Try again at `not_before` without using up an attempt: the messenger cannot be
        used yet. It counts as tried once (a never-tried row is always due), never more."""
        await self._db.execute(
            "UPDATE outbox SET attempts = MAX(attempts, 1), not_before = ?, error = ? "
            "WHERE id = ?",
            (_ts(not_before), error[:500], row_id),
        )

    async def replace(self, row_id: int, message: Outgoing) -> None:
        """Send something else under the same key (an edit VK refuses becomes a new message)."""
        await self._db.execute(
            "UPDATE outbox SET kind = ?, lane = ?, body = ? WHERE id = ?",
            (message.kind.value, message.lane, message.model_dump_json(), row_id),
        )
        self._written.pop(message.key, None)

    async def counts(self) -> OutboxCounts:
        rows = await self._db.fetchall("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return OutboxCounts(**{row[0]: row[1] for row in rows})

    async def errors(self) -> list[tuple[str, str]]:
        """Keys and errors of the messages that failed for good."""
        rows = await self._db.fetchall(
            "SELECT key, error FROM outbox WHERE state = 'failed' ORDER BY id"
        )
        return [(row[0], row[1]) for row in rows]

    # -- chats the bot is no longer in -----------------------------------------------------

    async def mark_lost(self, platform: str, chat_id: int, error: str, now: dt.datetime) -> bool:
        """Remember a chat the messenger refuses; True the first time (to log it once)."""
        changed = await self._db.execute(
            "INSERT INTO lost_chats (platform, chat_id, since, error) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (platform, chat_id, _ts(now), error[:200]),
        )
        return changed > 0

    async def lost(self, platform: str) -> set[int]:
        rows = await self._db.fetchall(LOST, (platform,))
        return {row[0] for row in rows}

    async def restore(self, platform: str, chat_id: int) -> None:
        """The bot was invited back: its messages go there again."""
        await self._db.execute(
            "DELETE FROM lost_chats WHERE platform = ? AND chat_id = ?", (platform, chat_id)
        )
