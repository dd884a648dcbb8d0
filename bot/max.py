"""The MAX adapter: the outbox's messages as MAX calls, and MAX's updates as the core's Incoming.

MAX has no `execute`: each message is its own request, so a batch is sent in parallel within
MAX's limits (bot/max_api.py's rate limit for the bot, and here two messages a second to any
one chat or person). MAX has no `random_id` either, so a message that reached MAX but whose
answer did not reach us would be sent twice by a plain retry. Each new message therefore
carries an invisible marker made from its outbox key, and a message whose earlier attempt may
have run (a time-out, a dropped connection, a 5xx, or a row left pending by a process that
died) is first looked for in the conversation's latest messages; found, it counts as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from bot import mentions
from bot.actions import FileKind, Incoming
from bot.max_api import (
    BUTTON_TEXT_LIMIT,
    CHAT_RATE,
    SECRET_HEADER,
    TEXT_LIMIT,
    MaxAPIError,
    MaxClient,
    MaxMessage,
    MaxUnreachable,
    Update,
)
from bot.messages import Address, AddressKind, Button, Outcome, Outgoing, OutKind, Result
from bot.outbox import UploadFailed
from bot.ratelimit import RateLimiter
from storage.accounts import AccountRepository, Linked

log = logging.getLogger(__name__)

PLATFORM: Final = "max"
# No execute on MAX: this many messages leave side by side, each its own request.
BATCH_SIZE: Final = 25
# How many of a conversation's latest messages are searched for a message's marker.
CHECK_DEPTH: Final = 50
# bot_started.payload is cut like VK's `ref` (bot/vk.py update_ref): a registration code.
START_CODE_LIMIT: Final = 32

# The marker: U+2063 (invisible separator), then 24 base-4 digits of the key's SHA-256 as
# zero-width characters. Invisible in MAX's clients; whether MAX keeps them verbatim is to be
# checked on the real API (docs/MAX.md): if it strips them, the check finds nothing and the
# message is sent again, i.e. at least once, never lost.
_MARK: Final = "\u2063"
_DIGITS: Final = ("\u200b", "\u200c", "\u200d", "\u2060")
_MARK_DIGITS: Final = 24


def key_marker(key: str) -> str:
    number = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:6], "big")
    digits = []
    for _ in range(_MARK_DIGITS):
        number, digit = divmod(number, 4)
        digits.append(_DIGITS[digit])
    return _MARK + "".join(digits)


def strip_marker(text: str) -> str:
    """The text without a marker at its end (what a person sees)."""
    at = text.rfind(_MARK)
    if at >= 0 and len(text) - at == _MARK_DIGITS + 1:
        return text[:at]
    return text


# MAX's refusals (docs/MAX.md): a person who never opened the dialog (404, "dialog.not.found")
# or who stopped the bot (403 chat.denied, "error.dialog.suspended") does not take private
# messages (VK 901's part); a chat the bot left or never was in (403 chat.denied, 404
# chat.not.found) is lost to it.
DIALOG_NOT_FOUND: Final = "dialog.not.found"
CHAT_DENIED: Final = "chat.denied"
CHAT_NOT_FOUND: Final = "chat.not.found"
NOT_READY: Final = "attachment.not.ready"


def _is_refusal_of_person(error: MaxAPIError) -> bool:
    return error.says(DIALOG_NOT_FOUND) or (error.status == 403 and error.code == CHAT_DENIED)


def _is_chat_lost(error: MaxAPIError) -> bool:
    return error.code in (CHAT_DENIED, CHAT_NOT_FOUND) and error.status in (403, 404)


# ---------------------------------------------------------------------------------- accounts


class MaxAccounts:
    """MAX user ids <-> the product's person ids, cached in memory: an account never changes
    person. Accounts of a batch's people are made (`learn`) in a transaction of their own
    before the batch's, so the cache never holds a person id that a rollback took back."""

    def __init__(self, repo: AccountRepository) -> None:
        self.repo = repo
        self._persons: dict[int, int] = {}
        self._users: dict[int, int] = {}

    def _remember(self, user_id: int, person_id: int) -> None:
        self._persons[user_id] = person_id
        self._users[person_id] = user_id

    async def load(self) -> None:
        for external, person in (await self.repo.all(PLATFORM)).items():
            with contextlib.suppress(ValueError):
                self._remember(int(external), person)

    async def load_dialogs(self, directory: MaxDirectory) -> None:
        for external, chat in (await self.repo.dialogs(PLATFORM)).items():
            with contextlib.suppress(ValueError):
                directory.dialogs.setdefault(int(external), chat)

    async def keep_dialogs(self, updates: Iterable[Update]) -> None:
        """Keep the dialogs these updates show, so a restart can still read them back."""
        found: dict[str, int] = {}
        for update in updates:
            if update.update_type == "bot_started" and update.user and update.chat_id:
                found[str(update.user.user_id)] = update.chat_id
            message = update.message
            if update.update_type == "message_created" and message is not None:
                recipient, sender = message.recipient, message.sender
                if recipient.chat_type == "dialog" and recipient.chat_id and sender:
                    found[str(sender.user_id)] = recipient.chat_id
        await self.repo.save_dialogs(PLATFORM, found)

    async def learn(self, user_ids: Iterable[int]) -> None:
        unknown = [u for u in dict.fromkeys(user_ids) if u not in self._persons]
        if unknown:
            found = await self.repo.persons_of(PLATFORM, (str(u) for u in unknown))
            for external, person in found.items():
                self._remember(int(external), person)

    async def link(self, user_id: int, code: str, now: dt.datetime) -> Linked:
        """Give this account to the person whose link code it presents (migration 0021)."""
        outcome, person = await self.repo.link(PLATFORM, str(user_id), code, now)
        if outcome is Linked.LINKED and person is not None:
            old = self._persons.get(user_id)
            if old is not None:
                self._users.pop(old, None)
            self._remember(user_id, person)
        return outcome

    def person(self, user_id: int) -> int | None:
        return self._persons.get(user_id)

    def user(self, person_id: int) -> int | None:
        return self._users.get(person_id)


# --------------------------------------------------------------------------------- directory


@dataclass
class MaxDirectory:
    """What the adapter learns from the wire and the core does not keep yet: each person's
    dialog chat id (to read a dialog back), each message's string `mid` by (conversation,
    seq) (the core edits by a number), and people's names from their updates."""

    dialogs: dict[int, int] = field(default_factory=dict)  # user id -> dialog chat id
    mids: dict[tuple[int, int], str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def learn(self, message: MaxMessage, *, bot_id: int, person: int | None = None) -> None:
        """Remember a message; `person` is the other side of a dialog when we know it better
        than the message says (the bot's own messages may not name their recipient)."""
        where = conversation_of(message, bot_id=bot_id)
        recipient = message.recipient
        if recipient.chat_type == "dialog" and person is not None:
            where = person
        if not where:
            return
        self.mids[(where, message.body.seq)] = message.body.mid
        if recipient.chat_type == "dialog" and recipient.chat_id is not None:
            self.dialogs[where] = recipient.chat_id
        if message.sender is not None and not message.sender.is_bot:
            self.names[message.sender.user_id] = message.sender.full_name

    def learn_update(self, update: Update, *, bot_id: int) -> None:
        if update.message is not None:
            # The pressed message is the bot's: in a dialog, the presser is the other side.
            presser = update.callback.user.user_id if update.callback is not None else None
            self.learn(update.message, bot_id=bot_id, person=presser)
        started = update.update_type in ("bot_started", "bot_stopped")
        if started and update.user is not None and update.chat_id is not None:
            self.dialogs[update.user.user_id] = update.chat_id
        for user in (update.user, update.callback.user if update.callback else None):
            if user is not None and not user.is_bot:
                self.names[user.user_id] = user.full_name


def conversation_of(message: MaxMessage, *, bot_id: int) -> int:
    """The core's peer id of a message's conversation: the chat id of a group chat, the
    person's user id for a dialog (MAX sends and the core addresses people by user id)."""
    recipient = message.recipient
    if recipient.chat_type != "dialog":
        return recipient.chat_id or 0
    sender = message.sender
    if sender is not None and sender.user_id != bot_id:
        return sender.user_id
    return recipient.user_id or 0


# ------------------------------------------------------------------------------- wire bodies


def max_mention(person_id: int, name: str) -> str:
    """The schema's markdown mention is [name](max://user/<id>); the same link in HTML. The
    name comes already escaped with the rest of the text."""
    return f'<a href="max://user/{person_id}">{name}</a>'


def message_body(
    message: Outgoing,
    *,
    marker: bool,
    user_of: Callable[[int], int | None] = lambda person_id: person_id,
) -> dict[str, Any]:
    """NewMessageBody for a SEND or an EDIT: the text (HTML only where a mention needs it),
    the inline keyboard, an uploaded file, and for a new message the key's marker. A mention
    names a person by their MAX user id (`user_of`); one without a MAX account is their name."""
    body: dict[str, Any] = {}
    text = message.text
    if mentions.plain(text) != text:

        def mention(person_id: int, name: str) -> str:
            user = user_of(person_id)
            return name if user is None else max_mention(user, name)

        text = mentions.render(html.escape(text, quote=False), mention)
        body["format"] = "html"
    if marker and len(text) + _MARK_DIGITS + 1 <= TEXT_LIMIT:
        text += key_marker(message.key)
    elif marker:
        log.info("message %s is too long for its marker; sent without", message.key)
    body["text"] = text
    attachments: list[dict[str, Any]] = []
    if message.attachment:
        attachments.append(json.loads(message.attachment))
    if message.buttons is not None:
        attachments.append(keyboard(message.buttons))
    if attachments or message.kind is OutKind.EDIT:
        # An edit with [] removes the old keyboard; null would keep it (PUT /messages).
        body["attachments"] = attachments
    return body


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
    """An inline keyboard of callback buttons. MAX buttons have no colour, and every MAX
    client has callback buttons, so `Outgoing.callback` does not matter here."""
    rows = [
        [
            {"type": "callback", "text": b.label[:BUTTON_TEXT_LIMIT], "payload": b.payload}
            for b in row
        ]
        for row in buttons
        if row
    ]
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


# --------------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class _Delivery:
    """What happened to one message to one address."""

    address: Address
    sent: bool = False
    refused: bool = False  # a person who does not take private messages
    lost: bool = False  # a chat the bot is not in
    retry: str = ""  # a passing failure
    failed: str = ""  # refused for good


class MaxTransport:
    """The outbox's messages as MAX calls, side by side within MAX's limits."""

    platform = PLATFORM
    batch_size = BATCH_SIZE

    def __init__(
        self,
        client: MaxClient,
        directory: MaxDirectory,
        *,
        bot_id: int | None,
        chat_rate: float = CHAT_RATE,
        check_depth: int = CHECK_DEPTH,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        user_of: Callable[[int], int | None] = lambda person_id: person_id,
    ) -> None:
        self.client = client
        self.directory = directory
        # None until MAX has answered GET /me (bot/app.py's MaxRunner): until then nothing is
        # sent, as a message could not be told from the bot's own when read back.
        self.bot_id = bot_id
        # A person's MAX user id (the core addresses people by their person id).
        self.user_of = user_of
        self.chat_rate = chat_rate
        self.check_depth = check_depth
        self._sleep = sleep
        self._pacers: dict[str, RateLimiter] = {}
        # Keys whose earlier attempt may have reached MAX: look before sending again.
        self._suspects: set[str] = set()
        # (key, lane) already delivered by this process: never sent again.
        self._delivered: set[tuple[str, str]] = set()
        self.checks = 0  # how many conversations were read back, for logs and tests
        self.found = 0  # how many messages were found already sent

    @property
    def _me(self) -> int:
        if self.bot_id is None:
            raise RuntimeError("MAX has not been reached yet")
        return self.bot_id

    def suspect(self, keys: Iterable[str]) -> None:
        """Messages that may have been sent by a process that died before recording it: the
        rows pending when this process starts. Each is looked for before it is sent."""
        self._suspects.update(keys)

    def ready(self, platform: str) -> bool:
        """MAX can be sent to: reached since start-up and the token not refused."""
        return self.bot_id is not None and not self.client.token_rejected.is_set()

    async def send_batch(self, messages: Sequence[Outgoing]) -> list[Result]:
        return list(await asyncio.gather(*(self._one(m) for m in messages)))

    async def _one(self, message: Outgoing) -> Result:
        if self.client.token_rejected.is_set():
            return Result(Outcome.WAIT, error="MAX rejected the token")
        if self.bot_id is None:
            return Result(Outcome.WAIT, error="MAX has not been reached yet")
        try:
            if message.kind is OutKind.ANSWER:
                return await self._answer(message)
            if message.kind is OutKind.EDIT:
                return await self._edit(message)
            return await self._send(message)
        except Exception as error:  # a bug here must not take the whole batch down
            log.exception("sending %s failed", message.key)
            return Result(Outcome.RETRY, error=type(error).__name__)

    async def _pace(self, address: Address) -> None:
        pacer = self._pacers.get(address.lane)
        if pacer is None:
            pacer = self._pacers[address.lane] = (
                RateLimiter(self.chat_rate)
                if self._sleep is None
                else RateLimiter(self.chat_rate, sleep=self._sleep)
            )
        await pacer.acquire()

    # -- new messages ------------------------------------------------------------------------

    async def _send(self, message: Outgoing) -> Result:
        deliveries = await asyncio.gather(*(self._send_to(message, a) for a in message.to))
        retry = next((d.retry for d in deliveries if d.retry), "")
        if retry:
            # The others are remembered in _delivered and not sent again.
            return Result(Outcome.RETRY, error=retry)
        self._suspects.discard(message.key)
        # Final: the outbox will not hand this message back.
        self._delivered.difference_update((message.key, a.lane) for a in message.to)
        refused = tuple(d.address.id for d in deliveries if d.refused)
        lost = tuple(d.address.id for d in deliveries if d.lost)
        failed = [d.failed for d in deliveries if d.failed]
        if failed and len(message.to) == 1:
            return Result(Outcome.FAILED, error=failed[0])
        if failed:
            log.warning("message %s to %d: %s", message.key, len(message.to), "; ".join(failed))
        if lost and len(lost) == len(message.to):
            return Result(Outcome.SKIPPED, lost=lost, error="chat lost")
        error = "dialog not found or bot stopped" if refused else ""
        return Result(Outcome.SENT, refused=refused, lost=lost, error=error)

    def _wire_id(self, address: Address) -> int | None:
        """The MAX id of an address: a chat's own, a person's MAX user id."""
        if address.kind is AddressKind.CHAT:
            return address.id
        return self.user_of(address.id)

    async def _send_to(self, message: Outgoing, address: Address) -> _Delivery:
        done = (message.key, address.lane)
        if done in self._delivered:
            return _Delivery(address, sent=True)
        wire = self._wire_id(address)
        if wire is None:
            return _Delivery(address, failed=f"person {address.id} has no MAX account")
        if message.key in self._suspects:
            found = await self._already_sent(message, address, wire)
            if found is None:
                return _Delivery(address, retry="cannot read the conversation back yet")
            if found:
                self._delivered.add(done)
                return _Delivery(address, sent=True)
        person = address.kind is AddressKind.PERSON
        await self._pace(address)
        try:
            sent = await self.client.send_message(
                message_body(message, marker=True, user_of=self.user_of),
                user_id=wire if person else None,
                chat_id=None if person else wire,
            )
        except MaxUnreachable as error:
            self._suspects.add(message.key)  # it may have been sent
            return _Delivery(address, retry=str(error))
        except MaxAPIError as error:
            if error.status >= 500:
                self._suspects.add(message.key)  # it may have been sent
            return self._refusal(address, error)
        except ValidationError:
            # 200 with a body we cannot read: MAX took the message.
            log.warning("MAX answered POST /messages with an unreadable body")
            self._delivered.add(done)
            return _Delivery(address, sent=True)
        self.directory.learn(sent, bot_id=self._me, person=wire if person else None)
        self._delivered.add(done)
        return _Delivery(address, sent=True)

    @staticmethod
    def _refusal(address: Address, error: MaxAPIError) -> _Delivery:
        reason = f"MAX {error.status} {error.code}: {error.message}"[:300]
        if error.transient or error.code == NOT_READY or error.token_rejected:
            # Too many requests, MAX's failure, a file MAX is still processing, or a token
            # refused (kept for the start with a new one).
            return _Delivery(address, retry=reason)
        if address.kind is AddressKind.PERSON and _is_refusal_of_person(error):
            return _Delivery(address, refused=True)
        if address.kind is AddressKind.CHAT and _is_chat_lost(error):
            return _Delivery(address, lost=True)
        return _Delivery(address, failed=reason)

    async def _already_sent(self, message: Outgoing, address: Address, wire: int) -> bool | None:
        """Is a message with this key's marker among the conversation's latest messages? None
        when MAX cannot tell us now (a time-out, a 5xx, 429): sending blindly then could be
        the second copy, so the message waits for the next try instead."""
        if address.kind is AddressKind.CHAT:
            chat_id: int | None = wire
        else:
            chat_id = self.directory.dialogs.get(wire)
        if chat_id is None:
            log.info(
                "cannot read back the dialog of %s: %s is sent again", address.id, message.key
            )
            return False
        self.checks += 1
        try:
            latest = await self.client.messages(chat_id, count=self.check_depth)
        except (MaxAPIError, MaxUnreachable) as error:
            if isinstance(error, MaxUnreachable) or error.transient or error.token_rejected:
                log.info("reading back chat %s failed (%s): tried later", chat_id, error)
                return None
            log.info(
                "reading back chat %s refused (%s): %s is sent again", chat_id, error, message.key
            )
            return False
        except ValidationError:
            log.info("chat %s read back unreadable: %s is sent again", chat_id, message.key)
            return False
        marker = key_marker(message.key)
        for item in latest:
            sender = item.sender
            if (
                sender is not None
                and sender.user_id == self._me
                and marker in (item.body.text or "")
            ):
                log.info(
                    "message %s was already sent (%s): not sent again", message.key, item.body.mid
                )
                person = wire if address.kind is AddressKind.PERSON else None
                self.directory.learn(item, bot_id=self._me, person=person)
                self.found += 1
                return True
        return False

    # -- edits and answers -------------------------------------------------------------------

    async def _edit(self, message: Outgoing) -> Result:
        where = message.to[0]
        mid = self.directory.mids.get((self._wire_id(where) or 0, message.edit or 0))
        if mid is None:
            return Result(Outcome.EDIT_IMPOSSIBLE, error="the message's mid is not known")
        await self._pace(where)
        try:
            body = message_body(message, marker=False, user_of=self.user_of)
            answer = await self.client.edit_message(mid, body)
        except MaxUnreachable as error:
            return Result(Outcome.RETRY, error=str(error))  # an edit twice is the same edit
        except MaxAPIError as error:
            if error.transient or error.token_rejected:
                return Result(Outcome.RETRY, error=f"MAX {error.status} {error.code}")
            if where.kind is AddressKind.CHAT and _is_chat_lost(error):
                return Result(Outcome.SKIPPED, lost=(where.id,), error=error.code)
            return Result(Outcome.EDIT_IMPOSSIBLE, error=f"MAX {error.status} {error.code}")
        if not answer.success:
            return Result(Outcome.EDIT_IMPOSSIBLE, error=answer.message or "not edited")
        return Result(Outcome.SENT)

    async def _answer(self, message: Outgoing) -> Result:
        # Two answers a second to one dialog or chat (POST /answers, dev.max.ru), paced with
        # the messages to it.
        await self._pace(message.where or message.to[0])
        try:
            await self.client.answer_callback(
                message.event or "", notification=message.text or None
            )
        except MaxUnreachable as error:
            return Result(Outcome.RETRY, error=str(error))
        except MaxAPIError as error:
            passing = error.transient or error.token_rejected
            outcome = Outcome.RETRY if passing else Outcome.FAILED
            return Result(outcome, error=f"MAX {error.status} {error.code}")
        return Result(Outcome.SENT)


# ------------------------------------------------------------------------ files and members


class MaxMessenger:
    """What the bot reads from MAX (chat members) and its file uploads (`Uploader`)."""

    def __init__(
        self, client: MaxClient, directory: MaxDirectory, accounts: MaxAccounts | None = None
    ) -> None:
        self.client = client
        self.directory = directory
        # With accounts: people as the core names them (person ids); without, MAX user ids.
        self.accounts = accounts

    async def chat_members(self, chat_id: int) -> list[int] | None:
        """The people in a chat; MAX shows them to a bot that is an admin of it."""
        try:
            members = await self.client.chat_members(chat_id)
        except (MaxAPIError, MaxUnreachable, ValidationError) as error:
            log.info("cannot read the members of chat %s (%s)", chat_id, error)
            return None
        for member in members:
            if not member.is_bot:
                self.directory.names[member.user_id] = member.full_name
        users = [m.user_id for m in members if not m.is_bot]
        if self.accounts is None:
            return users
        # Someone never seen by the bot is no one the rules know (nor the roster).
        return [p for u in users if (p := self.accounts.person(u)) is not None]

    async def user_name(self, user_id: int) -> str | None:
        # MAX has no users.get: names come with the person's updates and chat members.
        if self.accounts is not None:
            found = self.accounts.user(user_id)
            if found is None:
                return None
            user_id = found
        return self.directory.names.get(user_id)

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        return None  # MAX has no such look-up; the roster names people by VK id

    async def upload(self, to: Address, filename: str, data: bytes, kind: FileKind) -> str:
        """POST /uploads, then the file to the URL it gives; the attachment as JSON."""
        upload_type = "image" if kind is FileKind.PHOTO else "file"
        try:
            endpoint = await self.client.upload_url(upload_type)
            answer = await self.client.post_file(endpoint.url, filename, data)
        except (MaxAPIError, MaxUnreachable, ValidationError) as error:
            raise UploadFailed(f"upload: {error}") from error
        if upload_type == "image":
            photos = answer.get("photos")
            if not isinstance(photos, dict) or not photos:
                raise UploadFailed("the upload answered no photos")
            payload: dict[str, Any] = {"photos": photos}
        else:
            token = answer.get("token") or endpoint.token
            if not isinstance(token, str) or not token:
                raise UploadFailed("the upload answered no token")
            payload = {"token": token}
        return json.dumps({"type": upload_type, "payload": payload}, ensure_ascii=False)


# ----------------------------------------------------------------------------- incoming side


def max_address(peer_id: int) -> Address:
    """A MAX conversation in the product's terms: group chats have negative ids on MAX; any
    other peer is a person (the core names a dialog by its person's id)."""
    kind = AddressKind.CHAT if peer_id < 0 else AddressKind.PERSON
    return Address(platform=PLATFORM, kind=kind, id=peer_id)


@dataclass(frozen=True)
class ChatEvent:
    """bot_added, bot_removed, user_added, user_removed: the chat membership the core tracks."""

    kind: str
    chat_id: int
    user_id: int  # who was added or removed (for bot_*: who added or removed the bot)
    by: int | None = None


def event_id(update: Update) -> str:
    """A stable id of an update, so a webhook delivered twice is counted once. MAX's updates
    carry no id of their own: the message's mid, the press's callback_id, else the kind,
    chat, person and time."""
    if update.update_type == "message_callback" and update.callback is not None:
        return f"max:cb:{update.callback.callback_id}"
    if update.message is not None:
        return f"max:{update.update_type}:{update.message.body.mid}"
    who = update.user.user_id if update.user is not None else 0
    return f"max:{update.update_type}:{update.chat_id}:{who}:{update.timestamp}"


def incoming(
    update: Update, directory: MaxDirectory, *, bot_id: int, bot_username: str | None = None
) -> Incoming | None:
    """A message, a button press or a deep-link start as the flow sees it; None otherwise."""
    directory.learn_update(update, bot_id=bot_id)
    if update.update_type == "message_created" and update.message is not None:
        message = update.message
        sender = message.sender
        if sender is None or sender.is_bot:
            return None
        text = message.body.text or ""
        peer = conversation_of(message, bot_id=bot_id)
        in_chat = message.recipient.chat_type != "dialog"
        stripped = text.lstrip()
        addressed = (
            not in_chat
            or stripped.startswith("/")
            or (bot_username is not None and f"@{bot_username}" in text)
        )
        return Incoming(
            platform=PLATFORM,
            user_id=sender.user_id,
            peer_id=peer,
            text=text,
            event_id=event_id(update),
            conversation_message_id=message.body.seq,
            addressed=addressed,
        )
    if update.update_type == "message_callback" and update.callback is not None:
        callback = update.callback
        pressed = update.message
        in_chat = pressed is not None and pressed.recipient.chat_type != "dialog"
        peer = (
            conversation_of(pressed, bot_id=bot_id)
            if pressed is not None and in_chat
            else callback.user.user_id
        )
        return Incoming(
            platform=PLATFORM,
            user_id=callback.user.user_id,
            peer_id=peer,
            payload=_payload(callback.payload),
            event_id=event_id(update),
            callback_id=callback.callback_id,
            is_callback=True,
            conversation_message_id=pressed.body.seq if pressed is not None else None,
        )
    if update.update_type == "bot_started" and update.user is not None:
        code = (update.payload or "").strip()[:START_CODE_LIMIT] or None
        return Incoming(
            platform=PLATFORM,
            user_id=update.user.user_id,
            peer_id=update.user.user_id,
            event_id=event_id(update),
            ref=code,
        )
    return None


def _payload(raw: str | None) -> Any:
    """A button's payload as the rules read it: the JSON the core encoded, else the string."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def chat_event(update: Update) -> ChatEvent | None:
    if update.update_type not in ("bot_added", "bot_removed", "user_added", "user_removed"):
        return None
    if update.chat_id is None or update.user is None:
        return None
    by = update.inviter_id if update.update_type == "user_added" else update.admin_id
    return ChatEvent(update.update_type, update.chat_id, update.user.user_id, by)


def update_author(update: Update) -> int | None:
    """Who sent a message or pressed a button, so one person's updates stay in order."""
    if update.update_type == "message_callback" and update.callback is not None:
        return update.callback.user.user_id
    if update.update_type == "message_created" and update.message is not None:
        sender = update.message.sender
        return None if sender is None or sender.is_bot else sender.user_id
    if update.update_type == "bot_started" and update.user is not None:
        return update.user.user_id
    return None


# ------------------------------------------------------------------------ receiving updates


def webhook_update(headers: Mapping[str, str], body: bytes, secret: str | None) -> Update | None:
    """The update of a webhook POST, or None if it does not carry our secret or is not an
    update (answer 200 either way for a malformed one, or MAX retries it for hours)."""
    if secret is not None:
        given = headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return None
    try:
        return Update.model_validate_json(body)
    except ValidationError:
        log.warning("a webhook body that is not an update (%d bytes)", len(body))
        return None


def webhook_handler(
    secret: str | None, handle: Callable[[Update], Awaitable[None]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler for MAX's webhook POSTs: 403 without our secret; otherwise the update
    is handed on and answered 200 (a body that is no update too: MAX would retry it for hours).
    A duplicate delivery is handed on again; the pipeline counts it once by `event_id`."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if secret is not None and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, "").encode(), secret.encode()
        ):
            log.warning("a webhook POST without our secret from %s", request.remote)
            return web.Response(status=403)
        update = webhook_update(request.headers, body, secret)
        if update is not None:
            await handle(update)
        return web.Response(status=200)

    return receive


async def poll(
    client: MaxClient,
    *,
    marker: int | None = None,
    timeout: int = 30,  # noqa: ASYNC109  (MAX's long-poll parameter, passed on)
    types: tuple[str, ...] = (),
    on_error: Callable[[Exception], Awaitable[None]] | None = None,
) -> AsyncGenerator[list[Update], None]:
    """Long polling: each answer's updates, passing back the marker so MAX commits them."""
    while True:
        try:
            page = await client.updates(marker, timeout=timeout, types=types)
        except (MaxAPIError, MaxUnreachable, ValidationError) as error:
            if on_error is None:
                raise
            await on_error(error)
            continue
        if page.marker is not None:
            marker = page.marker
        if page.updates:
            yield page.updates
