"""The outbox and its sender on real SQLite, with a fake transport (our own Protocol).

Writing: actions become rows in the caller's transaction, idempotent by key, split under VK's
limit. Sending: button answers first, one message per lane per batch and no lane in two batches
at once, each message's refusal handled for that message alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from bot.actions import (
    Action,
    Edit,
    FileKind,
    Incoming,
    Private,
    Reply,
    SendFile,
    SendTo,
    Snackbar,
)
from bot.clock import FakeClock
from bot.domain import Person, Role, School
from bot.keyboards import Button as KeyButton
from bot.keyboards import Color, Keyboard
from bot.messages import (
    Address,
    AddressKind,
    Button,
    Outcome,
    Outgoing,
    OutKind,
    Result,
    buttons_of,
)
from bot.outbox import (
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    WAIT_SECONDS,
    Outbox,
    Sender,
    UploadFailed,
    split,
)
from bot.payloads import OpenCardPayload
from bot.vk import CHAT_PEER_START, vk_address
from storage.db import Database
from storage.outbox import OutboxRepository
from storage.repositories import ConversationRepository, RosterRepository

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
HEAD = 500_001
DEPUTY = 600_001
OTHER = 500_002
CHAT = CHAT_PEER_START + 1
HEADS_CHAT = CHAT_PEER_START + 2
EVENT = "a1b2c3d4e5f6"
WAIT = 5.0  # seconds a condition may take before the test fails; never slept


def person(person_id: int) -> Address:
    return Address(platform="vk", kind=AddressKind.PERSON, id=person_id)


def chat(peer_id: int) -> Address:
    return Address(platform="vk", kind=AddressKind.CHAT, id=peer_id)


def card_keyboard() -> Keyboard:
    return Keyboard(((KeyButton("Отчитаться", OpenCardPayload(c="c1"), Color.PRIMARY),),))


BUTTONS = buttons_of(card_keyboard())


def message(key: str, *to: Address, text: str = "текст", **more: object) -> Outgoing:
    return Outgoing.model_validate({"key": key, "to": to or (person(HEAD),), "text": text, **more})


# ----------------------------------------------------------------------------- the fakes


class Wall:
    """The sender's real-time clock, moved by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class FakeTransport:
    """A messenger that answers what each key is scripted to (SENT when not scripted).

    With `hold` set, every batch waits until the test releases it, so tests can look at what is
    in flight at once. Every change is announced on `changed` for tests to wait on.
    """

    batch_size: int = 25
    platform: str = "vk"
    hold: bool = False
    # The messenger not reachable yet (MAX before start-up reached it): `ready` says so.
    waiting: bool = False
    batches: list[list[Outgoing]] = field(default_factory=list)
    scripts: dict[str, list[Result | Exception]] = field(default_factory=dict)
    in_flight: list[list[Outgoing]] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _release: dict[int, asyncio.Event] = field(default_factory=dict)

    def script(self, key: str, *results: Result | Exception) -> None:
        """Answer the next calls for `key` with `results`, in order, then SENT."""
        self.scripts.setdefault(key, []).extend(results)

    def sent_keys(self) -> list[str]:
        return [m.key for batch in self.batches for m in batch]

    def ready(self, platform: str) -> bool:
        return not self.waiting

    def _answer(self, message: Outgoing) -> Result:
        queue = self.scripts.get(message.key)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return Result(Outcome.SENT)

    async def send_batch(self, messages: Sequence[Outgoing]) -> list[Result]:
        batch = list(messages)
        if len(batch) > self.batch_size:
            self.overlaps.append(f"a batch of {len(batch)} over {self.batch_size}")
        lanes = [m.lane for m in batch]
        if len(set(lanes)) != len(lanes):
            self.overlaps.append(f"one lane twice in a batch: {lanes}")
        busy = {m.lane for other in self.in_flight for m in other}
        if busy & set(lanes):
            self.overlaps.append(f"lanes {busy & set(lanes)} in two batches at once")
        self.batches.append(batch)
        self.in_flight.append(batch)
        async with self.changed:
            self.changed.notify_all()
        try:
            if self.hold:
                release = self._release.setdefault(id(batch), asyncio.Event())
                await release.wait()
            return [self._answer(m) for m in batch]
        finally:
            self.in_flight.remove(batch)
            async with self.changed:
                self.changed.notify_all()

    def release(self, batch: list[Outgoing]) -> None:
        self._release.setdefault(id(batch), asyncio.Event()).set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(predicate)


@dataclass(frozen=True)
class Row:
    """An outbox row as the tests look at it."""

    key: str
    kind: str
    lane: str
    state: str
    attempts: int
    not_before: dt.datetime
    error: str
    message: Outgoing


class WatchedSender(Sender):
    """The sender, telling the tests each time its loop goes idle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle = asyncio.Event()

    async def _idle_wait(self) -> float:
        self.idle.set()
        return 60.0  # no timer-driven rounds during a test: only wakes move the loop


@dataclass
class World:
    db: Database
    repo: OutboxRepository
    conversations: ConversationRepository
    roster: RosterRepository
    outbox: Outbox
    transport: FakeTransport
    sender: WatchedSender
    wall: Wall

    async def add(self, *messages: Outgoing) -> None:
        async with self.db.transaction():
            await self.outbox.add(messages)

    async def rows(self) -> list[Row]:
        """Every outbox row, oldest first."""
        found = await self.db.fetchall(
            "SELECT key, kind, lane, state, attempts, not_before, error, body FROM outbox "
            "ORDER BY id"
        )
        return [
            Row(
                key=r[0],
                kind=r[1],
                lane=r[2],
                state=r[3],
                attempts=r[4],
                not_before=dt.datetime.fromisoformat(r[5]),
                error=r[6],
                message=Outgoing.model_validate_json(r[7]),
            )
            for r in found
        ]

    async def messages(self) -> list[Outgoing]:
        return [row.message for row in await self.rows()]

    async def row(self, key: str) -> Row:
        matching = [r for r in await self.rows() if r.key == key]
        assert len(matching) == 1, f"no single row {key!r}"
        return matching[0]

    async def states(self) -> dict[str, str]:
        return {r.key: r.state for r in await self.rows()}


def build(db: Database, transport: FakeTransport, *, parallel: int = 2) -> World:
    repo = OutboxRepository(db)
    conversations = ConversationRepository(db)
    roster = RosterRepository(db)
    outbox = Outbox(repo, conversations, roster, FakeClock(NOW), platform="vk", address=vk_address)
    wall = Wall()
    # jitter 0.5: the back-off is exactly 0.5 s * 2**attempts, capped.
    sender = WatchedSender(db, outbox, transport, parallel=parallel, wall=wall, jitter=lambda: 0.5)
    return World(db, repo, conversations, roster, outbox, transport, sender, wall)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.db", synchronous="NORMAL")
    async with database.transaction():
        await RosterRepository(database).apply(
            [School(id="s1", name="СОШ №1")],
            [
                Person(person_id=HEAD, school_id="s1", full_name="Иванова Анна", role=Role.HEAD),
                Person(
                    person_id=DEPUTY, school_id="s1", full_name="Петров Пётр", role=Role.DEPUTY
                ),
            ],
            NOW,
        )
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def world(db: Database, transport: FakeTransport) -> World:
    return build(db, transport)


MESSAGE = Incoming(
    user_id=HEAD, peer_id=HEAD, text="привет", event_id=EVENT, conversation_message_id=7
)
PRESS = Incoming(
    user_id=HEAD,
    peer_id=HEAD,
    payload={"a": "card"},
    event_id=EVENT,
    callback_id="press-1",
    is_callback=True,
    conversation_message_id=7,
)


def a_message(**changes: Any) -> Incoming:
    return replace(MESSAGE, **changes)


def a_press(**changes: Any) -> Incoming:
    return replace(PRESS, **changes)


async def settled(sender: WatchedSender) -> None:
    """Wait until the sender's loop is idle with no batch in flight (clear `idle` before
    whatever should make it work)."""
    async with asyncio.timeout(WAIT):
        while True:
            await sender.idle.wait()
            if not sender.busy:
                return
            sender.idle.clear()


async def stop(sender: WatchedSender, runner: asyncio.Task[None]) -> None:
    """Cancel the sender's loop; again each time it goes idle instead of stopping (a cancel
    that lands with a wake is lost on Python 3.11: test_a_sender_cancelled_as_it_is_woken_stops).
    """
    async with asyncio.timeout(WAIT):
        while not runner.done():
            sender.idle.clear()
            runner.cancel()
            parked = asyncio.create_task(sender.idle.wait())
            await asyncio.wait({runner, parked}, return_when=asyncio.FIRST_COMPLETED)
            parked.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


async def write(world: World, incoming: Incoming, *actions: Action) -> list[Outgoing]:
    """Write the actions in a transaction of their own; every message in the outbox."""
    async with world.db.transaction():
        jobs = await world.outbox.write(incoming, actions)
    assert jobs == []
    return await world.messages()


# ------------------------------------------------------------------------------- writing


async def test_enqueue_is_idempotent_by_key(world: World) -> None:
    async with world.db.transaction():
        first = await world.repo.enqueue([message("k1", text="первый")], NOW)
        again = await world.repo.enqueue(
            [message("k1", text="другой"), message("k2", text="второй")], NOW
        )
    await world.add(message("k1", text="третий"))

    assert (first, again) == (1, 1)
    rows = await world.rows()
    assert [(r.key, r.message.text) for r in rows] == [
        ("k1", "первый"),
        ("k2", "второй"),
    ]
    assert (await world.repo.counts()).pending == 2


async def test_deferred_rows_are_written_as_the_block_ends_in_order_or_not_at_all(
    world: World,
) -> None:
    async with world.db.transaction():
        async with world.outbox.deferred():
            await world.outbox.add([message("a1", person(HEAD)), message("b1", person(OTHER))])

            async def another_update() -> None:
                await world.outbox.add([message("a2", person(HEAD))])

            await asyncio.create_task(another_update())  # a chain of the same group
            assert await world.rows() == []  # nothing written yet
        assert [r.key for r in await world.rows()] == ["a1", "b1", "a2"]
    with pytest.raises(RuntimeError):
        await _add_deferred_then_fail(world)
    assert [r.key for r in await world.rows()] == ["a1", "b1", "a2"]


async def test_a_task_outliving_the_deferred_block_writes_its_own_rows(world: World) -> None:
    go = asyncio.Event()

    async def late() -> None:
        await go.wait()
        async with world.db.transaction():
            await world.outbox.add([message("late", person(HEAD))])

    async with world.db.transaction(), world.outbox.deferred():
        task = asyncio.create_task(late())
    go.set()
    await task
    assert [r.key for r in await world.rows()] == ["late"]


async def _add_deferred_then_fail(world: World) -> None:
    async with world.db.transaction(), world.outbox.deferred():
        await world.outbox.add([message("lost", person(HEAD))])
        raise RuntimeError


async def test_a_group_commit_closes_what_the_sender_sent_a_rollback_gives_it_back(
    world: World,
) -> None:
    await world.add(message("a1", person(HEAD)), message("a2", person(HEAD)))
    with world.sender.carried():  # as while the pipeline handles a batch of updates
        assert await world.sender.drain() == 1  # a1; a2 waits for a1 to be closed
        assert (await world.row("a1")).state == "pending"
        sent = world.sender.take_sent()
        assert [row.message.key for row in sent] == ["a1"]
        with pytest.raises(RuntimeError):
            await _close_then_fail(world, [row.id for row in sent])
        world.sender.settle(sent, closed=False)
        assert (await world.row("a1")).state == "pending"

        sent = world.sender.take_sent()
        async with world.db.transaction(), world.outbox.deferred(lambda: [r.id for r in sent]):
            pass
        world.sender.settle(sent, closed=True)
        assert (await world.row("a1")).state == "sent"

    assert await world.sender.drain() == 1  # a2, and it closes itself with no group around
    assert await world.states() == {"a1": "sent", "a2": "sent"}
    assert world.transport.sent_keys() == ["a1", "a2"]


async def _close_then_fail(world: World, ids: list[int]) -> None:
    async with world.db.transaction():
        async with world.outbox.deferred(lambda: ids):
            await world.outbox.add([message("b1", person(OTHER))])
        raise RuntimeError  # after the rows are written and closed, before the commit


async def test_a_replayed_update_writes_no_second_message(world: World) -> None:
    incoming = a_press()
    actions = (Edit("карточка", card_keyboard()), Reply("ответ"), Private(DEPUTY, "лично"))

    first = await write(world, incoming, *actions)
    again = await write(world, incoming, *actions)

    assert again == first
    assert [m.key for m in first] == [f"{EVENT}:0", f"{EVENT}:1", f"{EVENT}:2", f"{EVENT}:answer"]


def test_a_long_text_is_split_under_the_limit_with_buttons_and_attachment_last() -> None:
    lines = [f"строка {n} " + "ж" * 990 for n in range(13)]  # ~13,000 characters
    long = message(
        "long",
        text="\n".join(lines),
        buttons=BUTTONS,
        attachment="doc-1_2",
        fallback=(chat(HEADS_CHAT),),
    )

    parts = split(long)

    assert len(parts) == 4
    assert [p.key for p in parts] == ["long/0", "long/1", "long/2", "long/3"]
    assert all(0 < len(p.text) <= texts.MESSAGE_LIMIT for p in parts)
    assert "\n".join(p.text for p in parts) == long.text
    assert [p.buttons for p in parts] == [None, None, None, BUTTONS]
    assert [p.attachment for p in parts] == [None, None, None, "doc-1_2"]
    assert {p.lane for p in parts} == {long.lane}
    assert all(p.fallback == long.fallback and p.to == long.to for p in parts)
    assert len({p.dedupe_id() for p in parts}) == 4


def test_a_text_at_the_limit_and_edits_and_answers_are_not_split() -> None:
    at_limit = message("fits", text="ж" * texts.MESSAGE_LIMIT)
    edit = message("edit", kind=OutKind.EDIT, edit=3, text="ж" * (texts.MESSAGE_LIMIT + 1))

    assert split(at_limit) == [at_limit]
    assert split(edit) == [edit]


async def test_long_parts_are_written_and_sent_in_order_one_per_batch(world: World) -> None:
    text = "\n".join("ж" * 3000 for _ in range(3))
    await world.add(message("long", text=text, buttons=BUTTONS), message("other", person(OTHER)))

    handled = await world.sender.drain()

    assert handled == 4
    assert [[m.key for m in b] for b in world.transport.batches] == [
        ["long/0", "other"],
        ["long/1"],
        ["long/2"],
    ]
    assert world.transport.batches[-1][0].buttons == BUTTONS


async def test_a_message_gets_new_messages_and_no_button_answer(world: World) -> None:
    rows = await write(
        world,
        a_message(supports_callback=False),
        Reply("ответ", card_keyboard()),
        Snackbar("всплывашка"),
        Edit("карточка"),
        SendTo(HEADS_CHAT, "в чат"),
    )

    assert [(m.key, m.kind, m.to, m.text) for m in rows] == [
        (f"{EVENT}:0", OutKind.SEND, (person(HEAD),), "ответ"),
        (f"{EVENT}:1", OutKind.SEND, (person(HEAD),), "всплывашка"),
        (f"{EVENT}:2", OutKind.SEND, (person(HEAD),), "карточка"),
        (f"{EVENT}:3", OutKind.SEND, (chat(HEADS_CHAT),), "в чат"),
    ]
    assert rows[0].buttons == BUTTONS
    assert not any(m.callback for m in rows)  # a client without callback buttons
    assert all(m.edit is None and m.event is None for m in rows)


async def test_a_press_is_answered_once_and_its_card_edited(world: World) -> None:
    rows = await write(
        world,
        a_press(peer_id=CHAT, in_chat=True),
        Snackbar("Принято"),
        Edit("новая карточка", card_keyboard()),
        Snackbar("второй не показать"),
        Reply("ещё"),
    )

    answer, edit, reply = rows
    assert (answer.kind, answer.key, answer.text) == (OutKind.ANSWER, f"{EVENT}:0", "Принято")
    assert (answer.to, answer.where, answer.event) == ((person(HEAD),), chat(CHAT), "press-1")
    assert answer.lane == f"answer:{EVENT}:0"
    assert (edit.kind, edit.to, edit.edit, edit.buttons) == (
        OutKind.EDIT,
        (chat(CHAT),),
        7,
        BUTTONS,
    )
    assert (reply.kind, reply.key, reply.to) == (OutKind.SEND, f"{EVENT}:3", (chat(CHAT),))


async def test_an_unanswered_press_gets_an_empty_answer(world: World) -> None:
    rows = await write(world, a_press(), Reply("ответ"))

    assert [(m.key, m.kind, m.text) for m in rows] == [
        (f"{EVENT}:0", OutKind.SEND, "ответ"),
        (f"{EVENT}:answer", OutKind.ANSWER, ""),
    ]
    assert rows[1].event == "press-1"
    assert rows[1].where == person(HEAD)


async def test_a_press_with_no_actions_is_still_answered(world: World) -> None:
    rows = await write(world, a_press())

    assert [(m.key, m.kind) for m in rows] == [(f"{EVENT}:answer", OutKind.ANSWER)]


async def test_an_edit_too_long_or_without_its_message_is_a_new_message(world: World) -> None:
    long = "\n".join("ж" * 3000 for _ in range(2))
    rows = await write(world, a_press(conversation_message_id=None), Edit("без cmid"))
    assert [(m.kind, m.text) for m in rows if m.kind is not OutKind.ANSWER] == [
        (OutKind.SEND, "без cmid")
    ]

    async with world.db.transaction():
        await world.outbox.write(a_press(event_id="e2"), [Edit(long, card_keyboard())])
    written = [r.message for r in await world.rows() if r.key.startswith("e2:")]

    assert [(m.key, m.kind) for m in written] == [
        ("e2:0/0", OutKind.SEND),
        ("e2:0/1", OutKind.SEND),
        ("e2:answer", OutKind.ANSWER),
    ]
    assert [m.buttons for m in written[:2]] == [None, BUTTONS]


async def test_a_private_message_carries_its_fallback_chat(world: World) -> None:
    rows = await write(
        world,
        a_message(),
        Private(DEPUTY, "лично", card_keyboard(), fallback_peer=HEADS_CHAT),
        Private(OTHER, "без запасного"),
    )

    assert [(m.to, m.fallback, m.text) for m in rows] == [
        ((person(DEPUTY),), (chat(HEADS_CHAT),), "лично"),
        ((person(OTHER),), (), "без запасного"),
    ]
    assert rows[0].buttons == BUTTONS


async def test_a_private_message_to_someone_unreachable_goes_to_the_fallback_chat(
    world: World,
) -> None:
    async with world.db.transaction():
        await world.conversations.mark_unreachable(DEPUTY, NOW)
        await world.conversations.mark_unreachable(OTHER, NOW)

    rows = await write(
        world,
        a_message(),
        Private(DEPUTY, "карточка школы", card_keyboard(), fallback_peer=HEADS_CHAT),
        Private(OTHER, "без запасного"),
    )

    instead, unchanged = rows
    assert instead.to == (chat(HEADS_CHAT),)
    assert instead.fallback == ()
    assert instead.text == texts.ask_to_write("Петров Пётр", DEPUTY) + "\n\nкарточка школы"
    assert "напишите сообществу" in instead.text
    assert instead.buttons == BUTTONS
    # Nowhere else to say it: tried privately, as VK may let it through by now.
    assert unchanged.to == (person(OTHER),)


# ------------------------------------------------------------------------------- sending


async def test_drain_returns_how_many_rows_were_handled(world: World) -> None:
    assert await world.sender.drain() == 0

    await world.add(*(message(f"m{n}", person(HEAD + n)) for n in range(5)))
    world.transport.batch_size = 2

    assert await world.sender.drain() == 5
    assert [len(b) for b in world.transport.batches] == [2, 2, 1]
    assert (await world.repo.counts()).sent == 5
    assert await world.sender.drain() == 0


async def test_button_answers_are_claimed_first(world: World) -> None:
    world.transport.batch_size = 2
    await world.add(message("s1", person(HEAD)), message("s2", person(OTHER)))
    await write(world, a_press(event_id="later", peer_id=DEPUTY))

    await world.sender.drain()

    assert [[m.key for m in b] for b in world.transport.batches] == [
        ["later:answer", "s1"],
        ["s2"],
    ]


async def test_one_message_per_lane_per_batch_in_the_order_written(world: World) -> None:
    await world.add(
        message("a1", person(HEAD)),
        message("a2", person(HEAD)),
        message("c1", chat(CHAT)),
        message("b1", person(OTHER)),
        message("c2", chat(CHAT)),
        message("a3", person(HEAD)),
    )

    assert await world.sender.drain() == 6

    assert [[m.key for m in b] for b in world.transport.batches] == [
        ["a1", "c1", "b1"],
        ["a2", "c2"],
        ["a3"],
    ]
    assert world.transport.overlaps == []


async def test_no_lane_is_in_two_batches_at_once(db: Database) -> None:
    transport = FakeTransport(batch_size=1, hold=True)
    world = build(db, transport, parallel=3)
    await world.add(
        message("a1", person(HEAD)), message("a2", person(HEAD)), message("b1", person(OTHER))
    )
    runner = asyncio.create_task(world.sender.run())
    try:
        await transport.wait_for(lambda: len(transport.in_flight) == 2)
        assert [[m.key for m in b] for b in transport.in_flight] == [["a1"], ["b1"]]
        assert world.sender.busy

        transport.release(transport.batches[1])  # b1 done: a2 must still wait for a1
        await transport.wait_for(lambda: len(transport.in_flight) == 1)
        assert transport.sent_keys() == ["a1", "b1"]

        transport.release(transport.batches[0])
        await transport.wait_for(lambda: len(transport.batches) == 3)
        assert transport.batches[2][0].key == "a2"
        world.sender.idle.clear()
        transport.release(transport.batches[2])
        await settled(world.sender)
    finally:
        await stop(world.sender, runner)
    assert transport.overlaps == []
    assert await world.states() == {"a1": "sent", "a2": "sent", "b1": "sent"}


async def test_the_running_sender_sends_what_is_written_after_it_started(world: World) -> None:
    runner = asyncio.create_task(world.sender.run())
    try:
        await settled(world.sender)
        await world.add(message("late", person(OTHER)))
        world.sender.idle.clear()
        world.outbox.wake()  # what the pipeline does after its commit
        await settled(world.sender)
    finally:
        await stop(world.sender, runner)
    assert world.transport.sent_keys() == ["late"]
    assert await world.states() == {"late": "sent"}


async def test_a_sender_cancelled_as_it_is_woken_stops(world: World) -> None:
    sender = world.sender
    runner = asyncio.create_task(sender.run())
    parked_again: asyncio.Task[bool] | None = None
    try:
        await settled(sender)
        sender.idle.clear()
        sender.wake()  # say the pipeline's last batch committed as serve() shuts down
        runner.cancel()
        parked_again = asyncio.create_task(sender.idle.wait())
        done, _ = await asyncio.wait(
            {runner, parked_again}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        assert runner in done, "the cancelled sender went on looping"
    finally:
        if parked_again is not None:
            parked_again.cancel()
        await stop(sender, runner)


async def test_a_retry_backs_off_holds_its_lane_and_later_succeeds(world: World) -> None:
    world.transport.script("a1", Result(Outcome.RETRY, error="VK error 10"))
    await world.add(message("a1", person(HEAD)), message("a2", person(HEAD)))
    await world.add(message("b1", person(OTHER)))

    assert await world.sender.drain() == 2

    a1 = await world.row("a1")
    assert (a1.state, a1.attempts, a1.error) == ("pending", 1, "VK error 10")
    assert a1.not_before == NOW + dt.timedelta(seconds=0.5)
    assert await world.states() == {"a1": "pending", "a2": "pending", "b1": "sent"}
    assert world.transport.sent_keys() == ["a1", "b1"]

    world.wall.advance(0.4)
    assert await world.sender.drain() == 0  # not yet: and a2 waits behind a1

    world.wall.advance(0.1)
    assert await world.sender.drain() == 2
    assert world.transport.sent_keys() == ["a1", "b1", "a1", "a2"]
    assert await world.states() == {"a1": "sent", "a2": "sent", "b1": "sent"}
    assert (await world.row("a1")).attempts == 2


async def test_a_transport_that_raises_is_a_retry_of_its_batch(world: World) -> None:
    world.transport.script("a1", ConnectionResetError("gone"))
    await world.add(message("a1", person(HEAD)), message("b1", person(OTHER)))

    assert await world.sender.drain() == 2

    rows = {r.key: r for r in await world.rows()}
    assert {k: (r.state, r.attempts) for k, r in rows.items()} == {
        "a1": ("pending", 1),
        "b1": ("pending", 1),
    }
    assert rows["a1"].error == "ConnectionResetError"
    world.wall.advance(1)
    assert await world.sender.drain() == 2
    assert await world.states() == {"a1": "sent", "b1": "sent"}


async def test_a_message_failing_never_blocks_others(world: World) -> None:
    world.transport.script("a1", Result(Outcome.FAILED, error="VK error 100"))
    world.transport.script("b1", Result(Outcome.RETRY, error="VK error 9"))
    await world.add(
        message("a1", person(HEAD)),
        message("b1", person(OTHER)),
        message("c1", chat(CHAT)),
        message("a2", person(HEAD)),
        message("c2", chat(CHAT)),
    )

    assert await world.sender.drain() == 5  # b1's retry is handled too

    assert await world.states() == {
        "a1": "failed",
        "b1": "pending",
        "c1": "sent",
        "a2": "sent",  # a message that failed for good does not hold its lane
        "c2": "sent",
    }
    assert await world.repo.errors() == [("a1", "VK error 100")]


async def test_retries_back_off_up_to_the_cap_and_give_up_after_max_attempts(
    world: World,
) -> None:
    world.transport.script("a1", *[Result(Outcome.RETRY, error="VK error 6")] * MAX_ATTEMPTS)
    await world.add(message("a1", person(HEAD)), message("a2", person(HEAD)))
    delays: list[float] = []

    for _ in range(MAX_ATTEMPTS - 1):
        assert await world.sender.drain() == 1
        row = await world.row("a1")
        assert row.state == "pending"
        delay = (row.not_before - world.wall.now).total_seconds()
        delays.append(delay)
        world.wall.advance(delay)
    assert await world.sender.drain() == 2  # the last attempt, then a2 at last

    assert delays == [min(MAX_BACKOFF, 0.5 * 2**n) for n in range(MAX_ATTEMPTS - 1)]
    assert delays[-1] == MAX_BACKOFF
    row = await world.row("a1")
    assert (row.state, row.attempts, row.error) == ("failed", MAX_ATTEMPTS, "VK error 6")
    assert world.transport.sent_keys().count("a1") == MAX_ATTEMPTS
    assert (await world.row("a2")).state == "sent"


async def test_a_message_waiting_for_its_messenger_is_never_given_up(world: World) -> None:
    """MAX not reached since start-up (or its token refused): the message waits as long as it
    takes, tried every WAIT_SECONDS, and goes once the messenger is there (issue 16)."""
    waits = MAX_ATTEMPTS * 3
    world.transport.waiting = True
    world.transport.script(
        "a1", *[Result(Outcome.WAIT, error="MAX has not been reached yet")] * (waits + 1)
    )
    await world.add(message("a1", person(HEAD)))
    for _ in range(waits):
        assert await world.sender.drain() == 1
        row = await world.row("a1")
        assert (row.state, row.attempts) == ("pending", 1)
        assert (row.not_before - world.wall.now).total_seconds() == WAIT_SECONDS
        assert await world.sender.drain() == 0  # not due before its time
        world.wall.advance(WAIT_SECONDS)
    # The messenger is back while a try is on its way: that try's WAIT leaves the row due.
    world.transport.waiting = False
    assert await world.sender.drain() == 2  # the stale WAIT, then the send
    assert (await world.row("a1")).state == "sent"
    assert world.transport.sent_keys().count("a1") == waits + 2


async def test_a_messenger_back_makes_what_waited_for_it_due_at_once(world: World) -> None:
    world.transport.waiting = True
    world.transport.script("a1", Result(Outcome.WAIT, error="MAX has not been reached yet"))
    await world.add(message("a1", person(HEAD)))
    assert await world.sender.drain() == 1
    assert await world.sender.drain() == 0  # waits its half-minute
    world.transport.waiting = False
    await world.sender.messenger_back("vk")
    assert await world.sender.drain() == 1
    assert (await world.row("a1")).state == "sent"


async def test_refused_people_are_marked_unreachable_and_mentioned_in_the_fallback(
    world: World,
) -> None:
    world.transport.script("card", Result(Outcome.SENT, refused=(DEPUTY,), error="VK error 901"))
    await world.add(
        message("card", person(DEPUTY), text="карточка", buttons=BUTTONS,
                fallback=(chat(HEADS_CHAT),))
    )  # fmt: skip

    assert await world.sender.drain() == 2  # the card, then its fallback in the next round

    assert await world.conversations.is_unreachable(DEPUTY)
    fallback = await world.row("card:fallback")
    mention: Outgoing = fallback.message
    assert (fallback.state, mention.to) == ("sent", (chat(HEADS_CHAT),))
    assert mention.text == texts.ask_to_write("Петров Пётр", DEPUTY) + "\n\nкарточка"
    assert mention.buttons == BUTTONS
    assert mention.fallback == ()
    assert (await world.row("card")).state == "sent"
    assert world.transport.sent_keys() == ["card", "card:fallback"]

    # The next private message to them goes to the chat straight away.
    rows = await write(world, a_message(), Private(DEPUTY, "снова", fallback_peer=HEADS_CHAT))
    assert rows[-1].to == (chat(HEADS_CHAT),)
    assert "напишите сообществу" in rows[-1].text


async def test_one_fallback_per_refused_row_naming_everyone_refused(world: World) -> None:
    world.transport.script("many", Result(Outcome.SENT, refused=(HEAD, DEPUTY)))
    world.transport.script("alone", Result(Outcome.SENT, refused=(OTHER,)))
    await world.add(
        message("many", person(HEAD), person(DEPUTY), person(OTHER),
                fallback=(chat(HEADS_CHAT), chat(CHAT))),
        message("alone", person(OTHER)),  # no fallback: only remembered
    )  # fmt: skip

    await world.sender.drain()

    assert await world.conversations.unreachable() == {HEAD, DEPUTY, OTHER}
    assert [r.key for r in await world.rows()] == ["many", "alone", "many:fallback"]
    mention: Outgoing = (await world.row("many:fallback")).message
    assert mention.to == (chat(HEADS_CHAT), chat(CHAT))
    assert mention.text.startswith(
        texts.ask_to_write("Иванова Анна", HEAD)
        + "\n"
        + texts.ask_to_write("Петров Пётр", DEPUTY)
        + "\n\n"
    )
    assert f"id{OTHER}" not in mention.text


async def test_a_refused_row_sent_again_writes_no_second_fallback(world: World) -> None:
    refused = Result(Outcome.SENT, refused=(DEPUTY,))
    await world.add(message("card", person(DEPUTY), fallback=(chat(HEADS_CHAT),)))
    world.transport.script("card", refused)
    await world.sender.drain()
    # As after a crash before the row was marked: the same row refused once more.
    await world.db.execute("UPDATE outbox SET state = 'pending' WHERE key = 'card'")
    world.transport.script("card", refused)

    await world.sender.drain()

    assert [r.key for r in await world.rows()] == ["card", "card:fallback"]
    assert world.transport.sent_keys().count("card:fallback") == 1


async def test_each_refused_part_of_a_long_message_gets_its_fallback(world: World) -> None:
    text = "\n".join("ж" * 3000 for _ in range(2))
    await world.add(message("long", person(DEPUTY), text=text, fallback=(chat(HEADS_CHAT),)))
    world.transport.script("long/0", Result(Outcome.SENT, refused=(DEPUTY,)))
    world.transport.script("long/1", Result(Outcome.SENT, refused=(DEPUTY,)))

    await world.sender.drain()

    assert await world.states() == {
        "long/0": "sent",
        "long/1": "sent",
        "long/0:fallback": "sent",
        "long/1:fallback": "sent",
    }


async def test_a_lost_chat_is_skipped_until_the_bot_is_back(world: World) -> None:
    world.transport.script("c1", Result(Outcome.SKIPPED, lost=(CHAT,), error="VK error 917"))
    await world.add(message("c1", chat(CHAT)), message("p1", person(HEAD)))

    assert await world.sender.drain() == 2
    assert await world.repo.lost("vk") == {CHAT}
    assert (await world.row("c1")).error == "VK error 917"

    await world.add(
        message("c2", chat(CHAT)),
        message("both", chat(CHAT), chat(HEADS_CHAT)),  # one chat left: still sent
        message("p2", person(HEAD)),
    )
    await world.sender.drain()
    assert await world.states() == {
        "c1": "skipped",
        "p1": "sent",
        "c2": "skipped",
        "both": "sent",
        "p2": "sent",
    }
    assert "c2" not in world.transport.sent_keys()

    async with world.db.transaction():
        await world.repo.restore("vk", CHAT)
    await world.add(message("c3", chat(CHAT)))
    await world.sender.drain()
    assert await world.repo.lost("vk") == set()
    assert (await world.row("c3")).state == "sent"
    assert world.transport.sent_keys()[-1] == "c3"


async def test_a_chat_lost_in_a_message_to_many_is_remembered(world: World) -> None:
    world.transport.script("both", Result(Outcome.SENT, lost=(CHAT,), error="VK error 7"))
    await world.add(message("both", chat(CHAT), chat(HEADS_CHAT)))
    await world.sender.drain()
    await world.add(message("later", chat(CHAT)), message("still", chat(HEADS_CHAT)))

    await world.sender.drain()

    assert await world.repo.lost("vk") == {CHAT}
    assert await world.states() == {"both": "sent", "later": "skipped", "still": "sent"}


async def test_an_impossible_edit_is_sent_as_a_new_message_next_round(world: World) -> None:
    world.transport.script("card", Result(Outcome.EDIT_IMPOSSIBLE, error="VK error 909"))
    await world.add(
        message("card", chat(CHAT), kind=OutKind.EDIT, edit=7, text="карточка", buttons=BUTTONS),
        message("next", chat(CHAT)),
    )

    assert await world.sender.drain() == 3

    edit, send, following = (b[0] for b in world.transport.batches)
    assert (edit.kind, edit.edit) == (OutKind.EDIT, 7)
    assert (send.key, send.kind, send.edit, send.text) == ("card", OutKind.SEND, None, "карточка")
    assert (send.buttons, send.to) == (BUTTONS, (chat(CHAT),))
    assert following.key == "next"  # the lane kept its order
    row = await world.row("card")
    assert (row.kind, row.state) == ("send", "sent")


def test_the_dedupe_id_is_stable_and_a_valid_random_id() -> None:
    keys = [f"{EVENT}:{n}" for n in range(2000)] + ["x", "ключ", "k" * 200]
    ids = [message(key).dedupe_id() for key in keys]

    assert ids == [message(key, text="другой текст").dedupe_id() for key in keys]
    assert all(1 <= i <= 2**31 - 1 for i in ids)
    assert len(set(ids)) == len(ids)


async def test_send_files_sends_the_upload_or_says_it_failed(world: World) -> None:
    class Uploader:
        async def upload(self, to: Address, filename: str, data: bytes, kind: FileKind) -> str:
            if filename == "bad.xlsx":
                raise UploadFailed("refused")
            return "doc-1_2"

    world.sender.uploader = Uploader()
    async with world.db.transaction():
        jobs = await world.outbox.write(
            a_message(),
            [
                SendFile(CHAT, "report.xlsx", b"x", "Отчёт"),
                SendFile(CHAT, "bad.xlsx", b"x", "Отчёт", on_failure="Не вышло"),
                SendFile(CHAT, "bad.xlsx", b"x", "Молча", kind=FileKind.PHOTO),
            ],
        )
    assert await world.rows() == []  # files are uploaded after the commit

    await world.sender.send_files(jobs)

    assert [(m.key, m.text, m.attachment) for m in [r.message for r in await world.rows()]] == [
        (f"{EVENT}:0", "Отчёт", "doc-1_2"),
        (f"{EVENT}:1", "Не вышло", None),
    ]


# --------------------------------------------------------- the window of rows looked at

# More rows than the sender's window holds for a batch size of 1.
MANY = 150


async def test_a_backed_off_lane_does_not_starve_other_recipients(db: Database) -> None:
    """The sender looks at a window of the oldest pending rows (batch_size * 20, now * 40); a
    lane in back-off with more rows than that must not hide messages to others behind it."""
    transport = FakeTransport(batch_size=1)
    world = build(db, transport)
    transport.script("a0", Result(Outcome.RETRY, error="VK error 10"))
    await world.add(*(message(f"a{n}", person(HEAD)) for n in range(MANY)))
    await world.add(message("b1", person(OTHER)))

    await world.sender.drain()
    await world.sender.drain()  # a0 is backing off: everything else due should leave now

    assert (await world.row("b1")).state == "sent"


async def test_drain_goes_past_a_window_of_rows_to_a_lost_chat(db: Database) -> None:
    """drain() sends everything due: rows to a lost chat, closed as skipped, must not make it
    stop before the rows after them."""
    transport = FakeTransport(batch_size=1)
    world = build(db, transport)
    async with db.transaction():
        await world.repo.mark_lost("vk", CHAT, "VK error 917", NOW)
    await world.add(*(message(f"c{n}", chat(CHAT)) for n in range(MANY)))
    await world.add(message("b1", person(OTHER)))

    await world.sender.drain()

    assert (await world.row("b1")).state == "sent"
    assert (await world.repo.counts()).skipped == MANY


def test_buttons_survive_the_row() -> None:
    card = message("k", buttons=BUTTONS, callback=False)
    assert Outgoing.model_validate_json(card.model_dump_json()) == card
    assert card.buttons is not None
    assert isinstance(card.buttons[0][0], Button)
