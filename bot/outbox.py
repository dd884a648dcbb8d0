"""The outgoing path: actions become outbox rows inside the caller's transaction; one sender
drains them.

Writing (`Outbox`) happens in the transaction of the update or the scheduled slot that wants the
messages, so a crash can neither lose nor double them. Sending (`Sender`) packs what is due into
the messenger's batches (VK: up to 25 calls in one `execute`), keeps each recipient's messages in
order, and handles each message's own refusal without holding up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot import texts
from bot.actions import (
    Action,
    Edit,
    FileKind,
    Incoming,
    Reply,
    SendFile,
    SendTo,
    Snackbar,
)
from bot.clock import Clock
from bot.keyboards import Keyboard
from bot.messages import Address, AddressKind, Outcome, Outgoing, OutKind, Result, buttons_of
from storage.db import Database
from storage.outbox import OutboxRepository, OutboxRow, OutboxSlot
from storage.repositories import ConversationRepository, RosterRepository

log = logging.getLogger(__name__)

# A passing failure is tried again with back-off for about half an hour, then given up.
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300.0
# How often a message waiting for its messenger (Outcome.WAIT) is tried again.
WAIT_SECONDS = 30.0


class UploadFailed(Exception):
    """The messenger did not take a file: its upload server or its API refused, or failed."""


class Transport(Protocol):
    """The messenger's side of the outbox (VK: `execute`; MAX: its own calls)."""

    platform: str
    batch_size: int

    async def send_batch(self, messages: Sequence[Outgoing]) -> list[Result]:
        """Send the messages in order; one result each, in the same order."""
        ...


def ready_for(transport: object, platform: str) -> bool:
    """Whether the transport can send for `platform` now: a transport that may have to wait
    for its messenger (MAX before it is reached) says so with `ready(platform)`; others can."""
    ready = getattr(transport, "ready", None)
    return True if ready is None else bool(ready(platform))


class Transports:
    """One transport per messenger behind one sender: each message goes by its address's
    platform, each file upload too; one outbox, one order per recipient."""

    platform = ""  # any

    def __init__(self, transports: Sequence[Transport], uploaders: dict[str, Uploader]) -> None:
        self.by_platform = {t.platform: t for t in transports}
        self.uploaders = uploaders
        self.batch_size = min(t.batch_size for t in transports)

    async def send_batch(self, messages: Sequence[Outgoing]) -> list[Result]:
        groups: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            groups.setdefault(message.to[0].platform, []).append(index)
        results: list[Result] = [Result(Outcome.FAILED, error="no such messenger")] * len(messages)

        async def send(platform: str, indexes: list[int]) -> None:
            transport = self.by_platform.get(platform)
            if transport is None:
                log.error("no transport for platform %r", platform)
                return
            answered = await transport.send_batch([messages[i] for i in indexes])
            for index, result in zip(indexes, answered, strict=True):
                results[index] = result

        await asyncio.gather(*(send(p, i) for p, i in groups.items()))
        return results

    def ready(self, platform: str) -> bool:
        transport = self.by_platform.get(platform)
        return transport is not None and ready_for(transport, platform)

    async def upload(self, to: Address, filename: str, data: bytes, kind: FileKind) -> str:
        uploader = self.uploaders.get(to.platform)
        if uploader is None:
            raise UploadFailed(f"no uploader for {to.platform}")
        return await uploader.upload(to, filename, data, kind)


class Uploader(Protocol):
    async def upload(self, to: Address, filename: str, data: bytes, kind: FileKind) -> str:
        """Upload a file for a conversation; the attachment to send it with.

        Raise UploadFailed if the messenger does not take it.
        """
        ...


@dataclass(frozen=True)
class FileJob:
    """A file to upload after the transaction commits, then sent through the outbox."""

    key: str
    to: Address
    filename: str
    data: bytes = field(repr=False)
    text: str
    kind: FileKind
    on_failure: str


def split(message: Outgoing) -> list[Outgoing]:
    """A long text as several messages under the limit; buttons and attachment on the last."""
    if message.kind is not OutKind.SEND or len(message.text) <= texts.MESSAGE_LIMIT:
        return [message]
    parts = texts.split_message(message.text)
    last = len(parts) - 1
    return [
        message.model_copy(
            update={
                "key": f"{message.key}/{index}",
                "text": part,
                "buttons": message.buttons if index == last else None,
                "attachment": message.attachment if index == last else None,
            }
        )
        for index, part in enumerate(parts)
    ]


def per_platform(message: Outgoing) -> list[Outgoing]:
    """A message to people on several messengers as one message per messenger (a reminder to
    a school's heads on VK and on MAX), each with the fallback chats of its own messenger."""
    if len(message.to) == 1 and not message.fallback:
        return [message]  # nearly every message: a reply to one conversation
    platforms = list(dict.fromkeys(a.platform for a in message.to))
    if len(platforms) == 1 and all(a.platform == platforms[0] for a in message.fallback):
        return [message]
    return [
        message.model_copy(
            update={
                "key": message.key if len(platforms) == 1 else f"{message.key}@{platform}",
                "to": tuple(a for a in message.to if a.platform == platform),
                "fallback": tuple(a for a in message.fallback if a.platform == platform),
            }
        )
        for platform in platforms
    ]


@dataclass
class _Deferred:
    rows: list[Outgoing] = field(default_factory=list)
    open: bool = True  # a task outliving the block writes its rows itself


# Rows added while a group of updates is handled: written together at its end (`deferred`).
_DEFERRED: contextvars.ContextVar[_Deferred | None] = contextvars.ContextVar(
    "confirmbot_outbox_deferred", default=None
)


class Outbox:
    """Turns the rules' actions into outbox rows, in the caller's transaction."""

    def __init__(
        self,
        repo: OutboxRepository,
        conversations: ConversationRepository,
        roster: RosterRepository,
        clock: Clock,
        *,
        platform: str,
        address: Callable[[int], Address],
    ) -> None:
        self.repo = repo
        self.conversations = conversations
        self.roster = roster
        self.clock = clock
        # A conversation's address: the messenger adapter knows which ids are chats.
        self.address = address
        self.platform = platform
        self._wake: Callable[[], None] = lambda: None

    def on_commit(self, wake: Callable[[], None]) -> None:
        """Who to tell that there is something new to send (the sender)."""
        self._wake = wake

    def wake(self) -> None:
        self._wake()

    async def chat_regained(self, peer_id: int) -> None:
        """The bot was added to a chat again: messages to it are sent from now on."""
        await self.repo.restore(self.address(peer_id).platform, peer_id)

    async def add(self, messages: Sequence[Outgoing]) -> None:
        parts = [
            part for message in messages for one in per_platform(message) for part in split(one)
        ]
        deferred = _DEFERRED.get()
        if deferred is not None and deferred.open:
            deferred.rows.extend(parts)
            return
        await self.repo.enqueue(parts, self.clock.now())

    @contextlib.asynccontextmanager
    async def deferred(self, closing: Callable[[], Sequence[int]] = tuple) -> AsyncIterator[None]:
        """Collect the rows added in the block (and in the tasks it starts) and write them in
        one trip as it ends, inside the caller's transaction; if the block raises, none. The
        rows `closing()` names as sent are closed in the same trip.

        A group of updates writes its messages this way: one trip for all, not one each.
        Rows keep the order they were added in, so each lane's order is what the rules made.
        """
        deferred = _Deferred()
        token = _DEFERRED.set(deferred)
        try:
            yield
        finally:
            deferred.open = False
            _DEFERRED.reset(token)
        await self.repo.enqueue(deferred.rows, self.clock.now(), sent=closing())

    async def write(self, incoming: Incoming, actions: Sequence[Action]) -> list[FileJob]:
        """The rows for what the rules answered to `incoming`; files come back as jobs."""
        base = incoming.event_id or f"local-{uuid.uuid4().hex}"
        here = self._on(incoming, incoming.peer_id)
        messages: list[Outgoing] = []
        jobs: list[FileJob] = []
        answered = False

        def send(key: str, to: Address, text: str, keyboard: Keyboard | None) -> Outgoing:
            return Outgoing(
                key=key,
                to=(to,),
                text=text,
                buttons=buttons_of(keyboard),
                callback=incoming.supports_callback,
            )

        for index, action in enumerate(actions):
            key = f"{base}:{index}"
            if isinstance(action, Snackbar):
                if incoming.is_callback and not answered:
                    messages.append(self._answer(key, incoming, action.text))
                    answered = True
                elif not incoming.is_callback:
                    messages.append(send(key, here, action.text, None))
            elif isinstance(action, Reply):
                messages.append(send(key, here, action.text, action.keyboard))
            elif isinstance(action, SendTo):
                messages.append(
                    send(key, self.address(action.peer_id), action.text, action.keyboard)
                )
            elif isinstance(action, SendFile):
                jobs.append(
                    FileJob(
                        key,
                        self.address(action.peer_id),
                        action.filename,
                        action.data,
                        action.text,
                        action.kind,
                        action.on_failure,
                    )
                )
            elif isinstance(action, Edit):
                cmid = incoming.conversation_message_id
                if incoming.is_callback and cmid and len(action.text) <= texts.MESSAGE_LIMIT:
                    messages.append(
                        Outgoing(
                            key=key,
                            kind=OutKind.EDIT,
                            to=(here,),
                            text=action.text,
                            buttons=buttons_of(action.keyboard),
                            edit=cmid,
                        )
                    )
                else:
                    messages.append(send(key, here, action.text, action.keyboard))
            else:
                messages.append(
                    await self.private(
                        key,
                        action.user_id,
                        action.text,
                        action.keyboard,
                        fallback=() if action.fallback_peer is None else (action.fallback_peer,),
                        callback=incoming.supports_callback,
                    )
                )
        if incoming.is_callback and not answered:
            # The client shows a spinner on the button until the press is answered.
            messages.append(self._answer(f"{base}:answer", incoming, ""))
        await self.add(messages)
        return jobs

    def _answer(self, key: str, incoming: Incoming, text: str) -> Outgoing:
        return Outgoing(
            key=key,
            kind=OutKind.ANSWER,
            to=(self._on(incoming, incoming.user_id),),
            text=text,
            event=incoming.callback_id,
            where=self._on(incoming, incoming.peer_id),
        )

    def _on(self, incoming: Incoming, peer_id: int) -> Address:
        """A conversation of the update, on the messenger it came on (a person known on two
        messengers is answered where they wrote)."""
        address = self.address(peer_id)
        if incoming.platform is None or incoming.platform == address.platform:
            return address
        return address.model_copy(update={"platform": incoming.platform})

    async def private(
        self,
        key: str,
        user_id: int,
        text: str,
        keyboard: Keyboard | None,
        *,
        fallback: Sequence[int],
        callback: bool = True,
    ) -> Outgoing:
        """A private message; to someone known to refuse them, a mention in `fallback` chats."""
        chats = tuple(self.address(peer) for peer in fallback)
        if chats and await self.conversations.is_unreachable(user_id):
            return await self.mention_instead(key, [user_id], text, keyboard, chats, callback)
        person = self.address(user_id)  # a person's id is their private conversation's
        return Outgoing(
            key=key,
            to=(person,),
            text=text,
            buttons=buttons_of(keyboard),
            callback=callback,
            fallback=chats,
        )

    async def mention_instead(
        self,
        key: str,
        people: Sequence[int],
        text: str,
        keyboard: Keyboard | None,
        chats: Sequence[Address],
        callback: bool,
    ) -> Outgoing:
        asks = [texts.ask_to_write(await self._name(person), person) for person in people]
        return Outgoing(
            key=key,
            to=tuple(chats),
            text="\n".join(asks) + f"\n\n{text}",
            buttons=buttons_of(keyboard),
            callback=callback,
        )

    async def _name(self, person_id: int) -> str | None:
        memberships = await self.roster.memberships(person_id)
        return memberships[0].full_name if memberships else None


class Sender:
    """The one loop that drains the outbox through a transport."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        transport: Transport,
        *,
        uploader: Uploader | None = None,
        parallel: int = 8,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.repo = outbox.repo
        self.transport = transport
        self.uploader = uploader
        self.parallel = max(1, parallel)
        # Back-off is the messenger's real time, whatever the campaign's clock says.
        self._wall = wall
        self._jitter = jitter
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()
        self._busy_lanes: set[str] = set()
        # Batches on their way with fewer rows than the messenger takes at once.
        self._short: set[asyncio.Task[int]] = set()
        # Batches of updates being handled whose commits close our rows (`carried`).
        self._carriers = 0
        # Batches sent whose rows are not closed yet: the next claim closes them.
        self._done: list[tuple[OutboxRow, Result]] = []
        outbox.on_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def messenger_back(self, platform: str) -> None:
        """A messenger the bot waited for is reachable: what waited for it (Outcome.WAIT)
        goes now, not at its next try."""
        await self.repo.due_now(platform, self._wall())
        self.wake()

    @property
    def busy(self) -> bool:
        """A batch is on its way to the messenger."""
        return bool(self._inflight)

    def _finished(self, task: asyncio.Task[int]) -> None:
        """A batch is done: its lanes are free, so look again."""
        if not task.cancelled() and task.exception() is not None:
            log.error("the sender's batch failed", exc_info=task.exception())
        self.wake()

    async def run(self) -> None:
        """Send until cancelled; a failed round is logged and tried again."""
        tasks: set[asyncio.Task[int]] = set()
        size = self.transport.batch_size
        try:
            while True:
                self._wake.clear()
                while self._closing_due() or len(tasks) < self.parallel:
                    wanted = self.parallel - len(tasks)
                    # One trip closes the batches sent and claims every free one: the
                    # database's one connection is often held by a group of updates, and
                    # each trip waits for its commit. A batch short of full goes only while
                    # no other short one is on its way: under VK's limit, rows arriving one
                    # by one then fill the next request instead of taking one each.
                    batches = await self._claim(wanted, short=not self._short)
                    for batch in batches:
                        task = asyncio.create_task(self._send(batch))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        task.add_done_callback(self._finished)
                        if len(batch) < size:
                            self._short.add(task)
                            task.add_done_callback(self._short.discard)
                    if len(batches) < wanted or (batches and len(batches[-1]) < size):
                        break  # all that is due now is on its way
                # Not asyncio.wait_for: on Python 3.11 it can swallow a cancel that arrives as
                # the event is set (cpython gh-86296), and the bot would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(await self._idle_wait()):
                        await self._wake.wait()
        finally:
            running = list(tasks)
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def drain(self) -> int:
        """Send everything due now, in rounds, until nothing is left to try; for the CLI and
        tests that run without the loop. Returns how many rows were handled."""
        handled = 0
        while batches := await self._claim(1):
            handled += await self._send(batches[0])
        return handled

    async def _idle_wait(self) -> float:
        """How long to wait for news when nothing is due: a second, so a message whose back-off
        ends is tried within a second of it (a commit or a finished batch wakes us sooner)."""
        return 1.0

    async def _claim(self, batches: int, *, short: bool = True) -> list[list[OutboxRow]]:
        """Close what was sent, then up to `batches` next batches: due rows, one per lane, none
        to a chat the bot has lost; button answers in the first; the last short of the
        messenger's batch size only if `short`."""
        while True:
            rows, skipped = await self._choose(batches, short=short)
            if rows or not skipped:
                size = self.transport.batch_size
                return [rows[start : start + size] for start in range(0, len(rows), size)]

    async def _choose(self, batches: int, *, short: bool = True) -> tuple[list[OutboxRow], int]:
        now = self._wall()
        done, self._done = self._done, []
        others = [(row, result) for row, result in done if not _plainly_sent(result)]
        if others:
            # Rare: refusals, lost chats, retries, failures; each has its own writes.
            try:
                async with self.db.transaction():
                    for row, result in others:
                        await self._apply(row, result)
            finally:
                self._release(row for row, _ in others)
        sent = [row for row, result in done if _plainly_sent(result)]
        if self._carriers:
            # A group of updates is being handled: its commit closes these (`take_sent`),
            # one commit and one fsync fewer than a transaction of our own.
            self._done.extend((row, Result(Outcome.SENT)) for row in sent)
            sent = []
        if batches < 1:
            try:
                if sent:
                    await self.repo.mark_sent([row.id for row in sent], now)
            finally:
                self._release(sent)
            return [], 0
        size = self.transport.batch_size
        wanted = size * batches
        # Copies: `pick` runs on the database's thread while batches finish here; the rows
        # closed in the same trip no longer hold their lanes.
        inflight = frozenset(self._inflight.difference(row.id for row in sent))
        busy = frozenset(self._busy_lanes.difference(row.lane for row in sent))

        def pick(slots: list[OutboxSlot]) -> list[OutboxSlot]:
            picked: list[OutboxSlot] = []
            blocked = set(busy)
            for slot in slots:
                if slot.id in inflight or slot.lane in blocked:
                    continue
                blocked.add(slot.lane)  # one message per lane in flight keeps them in order
                if slot.attempts and slot.not_before > now:
                    continue
                picked.append(slot)
                if len(picked) >= wanted:
                    break
            return picked if short else picked[: len(picked) // size * size]

        # Chat ids of different messengers never meet (VK's from 2e9 on, MAX's negative):
        # a transport for several asks for the lost chats of all (platform "").
        try:
            found, lost = await self.repo.due(
                now,
                size * (batches + 7),
                pick,
                self.transport.platform or None,
                sent=[row.id for row in sent],
            )
        finally:
            # Closed, or (if the trip failed) still pending and sent again: either way free.
            self._release(sent)
        if not found:
            return [], 0
        rows = [
            # Built from our own rows and a validated message: no need to validate again.
            OutboxRow.model_construct(
                id=slot.id,
                lane=slot.lane,
                attempts=slot.attempts,
                not_before=slot.not_before,
                message=message,
            )
            for slot, message in found
        ]
        skipped = [row for row in rows if _all_lost(row.message, lost)]
        if skipped:
            async with self.db.transaction():
                for row in skipped:
                    await self.repo.finish(row.id, "skipped", "the bot is not in that chat", now)
        chosen = [row for row in rows if row not in skipped]
        for row in chosen:
            self._inflight.add(row.id)
            self._busy_lanes.add(row.lane)
        return chosen, len(skipped)

    @contextlib.contextmanager
    def carried(self) -> Iterator[None]:
        """While the block runs, rows sent are left for its transactions to close
        (`take_sent`); after it, the sender closes them itself again."""
        self._carriers += 1
        try:
            yield
        finally:
            self._carriers -= 1
            self.wake()

    def _closing_due(self) -> bool:
        """Rows sent wait to be closed, and no transaction will do it for us."""
        if self._carriers:
            return any(not _plainly_sent(result) for _, result in self._done)
        return bool(self._done)

    def take_sent(self) -> list[OutboxRow]:
        """The rows sent plainly and not closed yet, for a transaction that commits anyway to
        close (the pipeline's group: one commit, one fsync, fewer). Hand them back to `settle`
        once it has committed or failed."""
        sent = [row for row, result in self._done if _plainly_sent(result)]
        if sent:
            self._done = [(row, result) for row, result in self._done if not _plainly_sent(result)]
        return sent

    def settle(self, rows: Sequence[OutboxRow], *, closed: bool) -> None:
        """Rows from `take_sent`: closed by a commit (their lanes are free), or not (closed by
        the next claim)."""
        if closed:
            self._release(rows)
        else:
            self._done.extend((row, Result(Outcome.SENT)) for row in rows)

    def _release(self, rows: Iterable[OutboxRow]) -> None:
        for row in rows:
            self._inflight.discard(row.id)
            self._busy_lanes.discard(row.lane)

    async def _send(self, batch: list[OutboxRow]) -> int:
        """Send a batch; its results wait for the next claim, which closes them in its trip
        (the batch's lanes stay held until then)."""
        try:
            results = await self.transport.send_batch([row.message for row in batch])
        except asyncio.CancelledError:
            self._release(batch)  # still pending: sent again, deduplicated by its key
            raise
        except Exception as error:  # the transport should not raise; if it does, retry
            log.exception("sending a batch of %d failed", len(batch))
            results = [Result(Outcome.RETRY, error=type(error).__name__)] * len(batch)
        if len(results) != len(batch):
            self._release(batch)
            raise RuntimeError("the transport answered a different number of results")
        self._done.extend(zip(batch, results, strict=True))
        return len(batch)

    async def _apply(self, row: OutboxRow, result: Result) -> None:
        now = self._wall()
        message = row.message
        platform = message.to[0].platform
        for chat in result.lost:
            if await self.repo.mark_lost(platform, chat, result.error, now):
                log.warning(
                    "the bot is no longer in chat %s (%s); messages to it are skipped until "
                    "it is added again",
                    chat,
                    result.error,
                )
        if result.outcome is Outcome.SENT:
            await self.repo.mark_sent([row.id], now)
            if result.refused:
                await self._refused(message, result.refused)
        elif result.outcome is Outcome.SKIPPED:
            await self.repo.finish(row.id, "skipped", result.error, now)
        elif result.outcome is Outcome.EDIT_IMPOSSIBLE:
            log.info("edit refused (%s): sending the card as a new message", result.error)
            await self.repo.replace(
                row.id, message.model_copy(update={"kind": OutKind.SEND, "edit": None})
            )
        elif result.outcome is Outcome.WAIT:
            # Not the message's fault: it waits for its messenger, however long that takes; if
            # the messenger came back while this answer was on its way, it goes now.
            back = ready_for(self.transport, message.to[0].platform)
            delay = 0.0 if back else WAIT_SECONDS
            await self.repo.wait(row.id, now + dt.timedelta(seconds=delay), result.error)
        elif result.outcome is Outcome.RETRY and row.attempts + 1 < MAX_ATTEMPTS:
            delay = min(MAX_BACKOFF, 0.5 * 2**row.attempts) * (0.5 + self._jitter())
            await self.repo.retry(row.id, now + dt.timedelta(seconds=delay), result.error)
        else:
            if message.kind is OutKind.ANSWER:
                log.info("button answer %s not taken (%s)", message.key, result.error)
            else:
                log.warning("message %s not sent: %s", message.key, result.error)
            await self.repo.finish(row.id, "failed", result.error, now)

    async def _refused(self, message: Outgoing, people: Sequence[int]) -> None:
        """People who refuse private messages: remember it, and mention them in the fallback."""
        now = self._wall()
        for person in people:
            log.info("private message refused: user=%s, falling back to chat", person)
            await self.outbox.conversations.mark_unreachable(person, now)
        if not message.fallback:
            return
        mention = await self.outbox.mention_instead(
            f"{message.key}:fallback",
            people,
            message.text,
            None,
            message.fallback,
            message.callback,
        )
        await self.outbox.add([mention.model_copy(update={"buttons": message.buttons})])

    async def send_files(self, jobs: Sequence[FileJob]) -> None:
        """Upload each file and send it through the outbox; a refused one is said instead."""
        for job in jobs:
            message = Outgoing(key=job.key, to=(job.to,), text=job.text)
            try:
                if self.uploader is None:
                    raise UploadFailed("no uploader")
                attachment = await self.uploader.upload(job.to, job.filename, job.data, job.kind)
            except UploadFailed as error:
                log.warning(
                    "%s %s (%d bytes) to %s not taken: %s",
                    job.kind.value,
                    job.filename,
                    len(job.data),
                    job.to.id,
                    error,
                )
                if not job.on_failure:
                    continue
                message = message.model_copy(update={"text": job.on_failure})
            else:
                log.info(
                    "%s %s (%d bytes) uploaded for %s",
                    job.kind.value,
                    job.filename,
                    len(job.data),
                    job.to.id,
                )
                message = message.model_copy(update={"attachment": attachment})
            async with self.db.transaction():
                await self.outbox.add([message])
            self.wake()


def _plainly_sent(result: Result) -> bool:
    """Sent to everyone, and nothing learnt about chats or people on the way."""
    return result.outcome is Outcome.SENT and not result.refused and not result.lost


def _all_lost(message: Outgoing, lost: set[int]) -> bool:
    targets = message.to if message.kind is not OutKind.ANSWER else ()
    return bool(targets) and all(a.kind is AddressKind.CHAT and a.id in lost for a in targets)
