"""An emulator of the MAX Bot API over loopback HTTP, for tests and `confirmbot demo`.

The wire format is MAX's (docs/MAX.md has the sources): the token in the `Authorization`
header as it is; JSON bodies; a refusal as an HTTP status with `{"code", "message"}`; a sent
message answered as `{"message": Message}` with a string `body.mid` and a number `body.seq`;
`GET /updates` with a `marker` that commits what came before it; webhooks posted with the
`X-Max-Bot-Api-Secret` header and tried again until the bot answers 200.

MAX's refusals, as the bot meets them:

- over ``rate`` requests in any ``window`` seconds per bot (MAX: 30/s), or over ``chat_rate``
  messages and button answers to one chat or person (MAX: 2/s, documented for POST /answers):
  429 ``too.many.requests``, nothing sent;
- a person who never started the bot (never opened the dialog): 404 ``chat.not.found`` with
  the message ``dialog.not.found``; a person who stopped the bot: 403 ``chat.denied``
  (``error.dialog.suspended``); a chat the bot was removed from: 403 ``chat.denied``; a chat
  that does not exist: 404 ``chat.not.found``;
- a body MAX cannot read (text over 4000 characters, a keyboard over 30 rows or 7 buttons a
  row, a label over 128, a callback payload over 1024, no text and no attachment): 400
  ``proto.payload``;
- a file sent before MAX has processed it: 400 ``attachment.not.ready`` (``not_ready_times``).

There is no ``random_id``: every POST /messages that reaches the emulator is a new message.

Test hooks are plain methods: shape the world (``add_user``, ``start_bot``, ``stop_bot``,
``add_chat``, ``remove_bot``), push updates (``write``, ``press``, ``push``), misbehave
(``fail_next``, ``faults``, ``duplicate_next``) and read what the bot did (``calls``,
``sent``, ``answers``, ``deliveries``, ``wait_for``). Webhook mode: the bot's ``POST
/subscriptions`` names a URL; the emulator posts each update there (http on loopback is
allowed here; MAX itself takes only https on port 443).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

TEXT_LIMIT: Final = 4000
MAX_ROWS: Final = 30
MAX_ROW_SIZE: Final = 7
BUTTON_TEXT_LIMIT: Final = 128
CALLBACK_PAYLOAD_LIMIT: Final = 1024
DEEP_LINK_LIMIT: Final = 128
BUTTON_TYPES: Final = frozenset(
    {"callback", "link", "request_contact", "request_geo_location", "message", "open_app"}
)
SECRET_RE: Final = re.compile(r"^[A-Za-z0-9_-]{5,256}$")
SECRET_HEADER: Final = "X-Max-Bot-Api-Secret"  # noqa: S105  (a header name)
_WAIT_POLL_INTERVAL: Final = 0.05
# Group chats have negative ids on MAX; dialogs positive ones.
FIRST_DIALOG_ID: Final = 80_000_000


class Faults(BaseModel):
    """How the emulator misbehaves on purpose; ``Faults()`` misbehaves in no way.

    ``drop_after_rate`` is the case that matters without ``random_id``: the call runs (the
    message is sent), then the connection is closed, so the bot does not know it was sent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    latency: float = Field(default=0.0, ge=0.0)
    http_5xx_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_after_rate: float = Field(default=0.0, ge=0.0, le=1.0)


@dataclass
class Call:
    """One request as the emulator saw it (never the token)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 200
    answer: Any = None
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.fault is None

    @property
    def code(self) -> str | None:
        return self.answer.get("code") if isinstance(self.answer, dict) and not self.ok else None


@dataclass
class SentMessage:
    """A message the bot sent, as MAX keeps it (edits replace text and attachments)."""

    mid: str
    seq: int
    chat_id: int
    chat_type: str
    user_id: int | None  # the person, for a dialog
    text: str
    attachments: list[dict[str, Any]]
    timestamp: int
    format: str | None = None
    versions: list[str] = field(default_factory=list)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                rows = attachment.get("payload", {}).get("buttons", [])
                return [button for row in rows for button in row]
        return []

    @property
    def labels(self) -> list[str]:
        return [str(b.get("text")) for b in self.buttons]


@dataclass
class _User:
    user_id: int
    first_name: str
    last_name: str
    started: bool = False
    stopped: bool = False

    def wire(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "name": f"{self.first_name} {self.last_name}".strip(),
            "username": None,
            "is_bot": False,
            "last_activity_time": 0,
        }


@dataclass
class _Chat:
    chat_id: int
    title: str
    members: list[int]
    bot_is_admin: bool = True
    bot_in_chat: bool = True
    owner_id: int | None = None


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")


def _proto(message: str) -> _Refusal:
    return _Refusal(400, "proto.payload", message)


@dataclass
class _Subscription:
    url: str
    secret: str | None
    types: tuple[str, ...]
    time: int


class MaxEmulator:
    """The far side of the wire: MAX's Bot API on loopback."""

    def __init__(
        self,
        token: str = "max-emulator-token",  # noqa: S107  (a fake token for a fake server)
        *,
        bot_id: int = 7_000_001,
        bot_name: str = "Управление образования",
        host: str = "127.0.0.1",
        port: int = 0,
        rate: int = 30,
        chat_rate: int = 2,
        window: float = 1.0,
        webhook_retry_base: float = 0.05,
        webhook_retry_max: float = 2.0,
        webhook_attempts: int = 20,
        monotonic: Callable[[], float] | None = None,
        faults: Faults | None = None,
    ) -> None:
        """``monotonic`` is the clock of the rate limits' windows (default: the event loop's);
        webhook retries wait ``webhook_retry_base`` doubling up to ``webhook_retry_max``
        (MAX: growing intervals for up to 8 hours), at most ``webhook_attempts`` times."""
        self.token = token
        self.bot_id = bot_id
        self.bot_name = bot_name
        # Long polls begun (a poll is recorded in `calls` only when it is answered).
        self.polls_started = 0
        self.host = host
        self.port = port
        self.rate = rate
        self.chat_rate = chat_rate
        self.window = window
        self.webhook_retry_base = webhook_retry_base
        self.webhook_retry_max = webhook_retry_max
        self.webhook_attempts = webhook_attempts
        self.monotonic = monotonic
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)  # noqa: S311  (faults, not secrets)

        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.answers: list[dict[str, Any]] = []
        # Every webhook POST: (the update's sequence number, the bot's HTTP status or 0).
        self.deliveries: list[tuple[int, int]] = []
        self.refused_429 = 0

        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._dialogs: dict[int, int] = {}  # user id -> dialog chat id
        self._dialog_ids = itertools.count(FIRST_DIALOG_ID)
        self._mids = itertools.count(1)
        self._seqs: dict[int, int] = {}
        self._by_mid: dict[str, SentMessage] = {}
        self._chat_log: dict[int, list[dict[str, Any]]] = {}  # chat id -> wire messages
        self._callbacks: dict[str, dict[str, Any]] = {}  # open presses
        self._callback_ids = itertools.count(1)
        self._injected: dict[str, deque[_Refusal]] = {}
        self._not_ready: dict[str, int] = {}
        self._drop_after: dict[tuple[str, str], int] = {}
        self._uploads = itertools.count(1)
        self.uploads: dict[str, tuple[str, str, bytes]] = {}  # token -> (kind, name, data)

        self._updates: list[dict[str, Any]] = []
        self._committed = 0
        self._subscription: _Subscription | None = None
        self._delivered = 0
        self._duplicates = 0
        self._deliverer: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None

        self._window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/me", self._route(self._me))
        app.router.add_post("/messages", self._route(self._send))
        app.router.add_put("/messages", self._route(self._edit))
        app.router.add_get("/messages", self._route(self._messages))
        app.router.add_post("/answers", self._route(self._answer))
        app.router.add_get("/updates", self._route(self._poll, limited=False))
        app.router.add_get("/subscriptions", self._route(self._subscriptions))
        app.router.add_post("/subscriptions", self._route(self._subscribe))
        app.router.add_delete("/subscriptions", self._route(self._unsubscribe))
        app.router.add_get("/chats/{chat_id}/members", self._route(self._members))
        app.router.add_post("/uploads", self._route(self._upload_url))
        app.router.add_post("/_upload/{kind}/{n}", self._upload)
        app.router.add_get("/_emulator/stats", self._stats)
        app.router.add_get("/_emulator/sent", self._control_sent)
        app.router.add_post("/_emulator/start", self._control_start)
        app.router.add_post("/_emulator/write", self._control_write)
        app.router.add_post("/_emulator/press", self._control_press)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        self._client = aiohttp.ClientSession()
        logger.info("MAX emulator listening on %s", self.api_url)

    async def stop(self) -> None:
        if self._runner is None:
            return
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._bound_port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """What to configure as `[max] api_url`."""
        if self._bound_port is None:
            raise RuntimeError("MaxEmulator is not started")
        return f"http://{self.host}:{self._bound_port}"

    # ----------------------------------------------------------------------- world set-up

    def add_user(self, user_id: int, first_name: str = "", last_name: str = "") -> None:
        self._users[user_id] = _User(
            user_id, first_name or f"Имя{user_id}", last_name or f"Фамилия{user_id}"
        )

    def dialog_of(self, user_id: int) -> int | None:
        """The chat id of the person's dialog with the bot, once they started it."""
        return self._dialogs.get(user_id)

    def start_bot(self, user_id: int, payload: str | None = None) -> dict[str, Any]:
        """The person presses «Start» (or opens `max.ru/<bot>?start=<payload>`)."""
        user = self._user(user_id)
        user.started, user.stopped = True, False
        chat_id = self._dialogs.setdefault(user_id, next(self._dialog_ids))
        update: dict[str, Any] = {
            "update_type": "bot_started",
            "chat_id": chat_id,
            "user": user.wire(),
            "user_locale": "ru",
        }
        # A start code over 128 characters is not passed to the bot (schema: Deep linking).
        if payload is not None and len(payload) <= DEEP_LINK_LIMIT:
            update["payload"] = payload
        return self.push(update)

    def stop_bot(self, user_id: int) -> dict[str, Any]:
        """The person stops (blocks) the bot: messages to them are refused from now on."""
        user = self._user(user_id)
        user.stopped = True
        chat_id = self._dialogs.setdefault(user_id, next(self._dialog_ids))
        return self.push({"update_type": "bot_stopped", "chat_id": chat_id, "user": user.wire()})

    def add_chat(
        self,
        chat_id: int,
        members: list[int],
        *,
        title: str = "Беседа",
        bot_is_admin: bool = True,
        added_by: int | None = None,
    ) -> dict[str, Any] | None:
        """A group chat with the bot in it; with `added_by`, the `bot_added` update too."""
        if chat_id >= 0:
            raise ValueError("group chats have negative ids on MAX")
        for member in members:
            self._user(member)
        self._chats[chat_id] = _Chat(
            chat_id, title, list(members), bot_is_admin, True, members[0] if members else None
        )
        if added_by is None:
            return None
        return self.push(
            {
                "update_type": "bot_added",
                "chat_id": chat_id,
                "user": self._user(added_by).wire(),
                "is_channel": False,
            }
        )

    def set_bot_is_admin(self, chat_id: int, is_admin: bool) -> None:
        """Without admin rights the bot does not see the chat's members (403 chat.denied)."""
        self._chats[chat_id].bot_is_admin = is_admin

    def remove_bot(self, chat_id: int, by: int) -> dict[str, Any]:
        self._chats[chat_id].bot_in_chat = False
        return self.push(
            {
                "update_type": "bot_removed",
                "chat_id": chat_id,
                "user": self._user(by).wire(),
                "is_channel": False,
            }
        )

    def add_member(self, chat_id: int, user_id: int, by: int | None = None) -> dict[str, Any]:
        self._chats[chat_id].members.append(user_id)
        return self.push(
            {
                "update_type": "user_added",
                "chat_id": chat_id,
                "user": self._user(user_id).wire(),
                "inviter_id": by,
                "is_channel": False,
            }
        )

    def remove_member(self, chat_id: int, user_id: int, by: int | None = None) -> dict[str, Any]:
        chat = self._chats[chat_id]
        chat.members = [m for m in chat.members if m != user_id]
        return self.push(
            {
                "update_type": "user_removed",
                "chat_id": chat_id,
                "user": self._user(user_id).wire(),
                "admin_id": by,
                "is_channel": False,
            }
        )

    def fail_next(
        self, path: str, status: int, code: str, message: str = "", times: int = 1
    ) -> None:
        """Refuse the next `times` requests to `path` (e.g. "/messages") with this error."""
        queue = self._injected.setdefault(path, deque())
        queue.extend(_Refusal(status, code, message or code) for _ in range(times))

    def drop_after_next(self, method: str, path: str, times: int = 1) -> None:
        """Run the next `times` requests `method path`, then close the connection unanswered:
        e.g. a message sent whose answer the bot never gets."""
        key = (method.upper(), path)
        self._drop_after[key] = self._drop_after.get(key, 0) + times

    def clear_failures(self, path: str) -> None:
        """Forget what `fail_next` left unused for `path`."""
        self._injected.pop(path, None)

    def not_ready_times(self, token: str, times: int) -> None:
        """A message with this uploaded file is refused `times` times: MAX still processes it."""
        self._not_ready[token] = times

    def duplicate_next(self, times: int = 1) -> None:
        """Deliver the next `times` webhook updates twice (MAX: "duplicates possible")."""
        self._duplicates += times

    # --------------------------------------------------------------------------- updates

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update as given; its `timestamp` is set if missing."""
        update.setdefault("timestamp", self._now_ms())
        self._updates.append(update)
        self._notify()
        return update

    def write(self, user_id: int, text: str, *, chat_id: int | None = None) -> dict[str, Any]:
        """A `message_created`: the person writes to the bot, or in a chat."""
        user = self._user(user_id)
        if chat_id is None:
            dialog = self._dialogs.setdefault(user_id, next(self._dialog_ids))
            user.started = True  # writing opens the dialog
            recipient = {"chat_id": dialog, "chat_type": "dialog", "user_id": self.bot_id}
            where = dialog
        else:
            recipient = {"chat_id": chat_id, "chat_type": "chat", "user_id": None}
            where = chat_id
        message = {
            "sender": user.wire(),
            "recipient": recipient,
            "timestamp": self._now_ms(),
            "body": {
                "mid": self._next_mid(),
                "seq": self._next_seq(where),
                "text": text,
                "attachments": None,
            },
        }
        self._chat_log.setdefault(where, []).append(message)
        return self.push({"update_type": "message_created", "message": message})

    def press(self, user_id: int, message: SentMessage, label: str) -> dict[str, Any]:
        """Press the callback button labelled `label` on `message` as `user_id`."""
        current = self._by_mid.get(message.mid, message)
        matches = [b for b in current.buttons if b.get("text") == label]
        if not matches:
            raise LookupError(f"no button {label!r} on {current.mid}; buttons: {current.labels}")
        button = matches[0]
        if button.get("type") != "callback":
            raise ValueError(f"button {label!r} is of type {button.get('type')!r}")
        callback_id = f"cb.{next(self._callback_ids)}.{self._rng.getrandbits(32):08x}"
        self._callbacks[callback_id] = {"mid": current.mid, "user_id": user_id}
        return self.push(
            {
                "update_type": "message_callback",
                "callback": {
                    "timestamp": self._now_ms(),
                    "callback_id": callback_id,
                    "payload": button.get("payload"),
                    "user": self._user(user_id).wire(),
                },
                "message": self._wire_message(current),
                "user_locale": "ru",
            }
        )

    # ------------------------------------------------------------------------ inspection

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def messages_to_user(self, user_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_type == "dialog" and m.user_id == user_id]

    def messages_in_chat(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    @property
    def updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    @property
    def committed(self) -> int:
        """How many updates the bot has committed by passing a later marker (long polling):
        once it equals ``len(updates)``, the bot has handled everything pushed so far."""
        return self._committed

    async def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,  # noqa: ASYNC109  (the tests' spelling; enforced below)
        *,
        description: str | None = None,
    ) -> None:
        """Wait until ``predicate()`` is truthy, re-checking on every change to the emulator."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = description or getattr(predicate, "__name__", repr(predicate))
                recent = [f"{c.method} {c.path}->{c.status}" for c in self.calls[-10:]]
                raise TimeoutError(f"{what} still false after {timeout}s; last calls: {recent}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, _WAIT_POLL_INTERVAL)):
                    await self._changed.wait()

    # ------------------------------------------------------------------------- internals

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _now(self) -> float:
        return (
            self.monotonic() if self.monotonic is not None else asyncio.get_running_loop().time()
        )

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    def _user(self, user_id: int) -> _User:
        if user_id not in self._users:
            self.add_user(user_id)
        return self._users[user_id]

    def _next_mid(self) -> str:
        return f"mid.{next(self._mids):016x}"

    def _next_seq(self, chat_id: int) -> int:
        self._seqs[chat_id] = self._seqs.get(chat_id, 0) + 1
        return self._seqs[chat_id]

    def _over(self, window: deque[float], limit: int) -> bool:
        now = self._now()
        while window and now - window[0] >= self.window:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def _roll(self, rate: float) -> bool:
        return rate > 0.0 and self._rng.random() < rate

    def _wire_message(self, message: SentMessage) -> dict[str, Any]:
        return {
            "sender": {
                "user_id": self.bot_id,
                "first_name": self.bot_name,
                "name": self.bot_name,
                "username": None,
                "is_bot": True,
            },
            "recipient": {
                "chat_id": message.chat_id,
                "chat_type": message.chat_type,
                "user_id": message.user_id,
            },
            "timestamp": message.timestamp,
            "body": {
                "mid": message.mid,
                "seq": message.seq,
                "text": message.text,
                "attachments": message.attachments or None,
            },
        }

    def _route(
        self, handler: Callable[[web.Request, Any], Any], *, limited: bool = True
    ) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: Any = None
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    body = "<not json>"
            call = Call(request.method, request.path, dict(request.query), body)
            faults = self.faults
            try:
                if faults.latency:
                    await asyncio.sleep(faults.latency)
                token = request.headers.get("Authorization", "")
                if "access_token" in request.query or token != self.token:
                    # The token in a query "is no longer supported" (api-schema README).
                    raise _Refusal(401, "verify.token", "Invalid access_token")
                if self._roll(faults.drop_rate):
                    call.fault = "drop"
                    return self._drop(request, call)
                if self._roll(faults.http_5xx_rate):
                    call.fault = "http_5xx"
                    call.status = 502
                    self._record(call)
                    return web.Response(status=502, text="<html>502 Bad Gateway</html>")
                if limited and self._over(self._window, self.rate):
                    self.refused_429 += 1
                    raise _Refusal(429, "too.many.requests", "Too many requests")
                injected = self._injected.get(request.path)
                if injected:
                    raise injected.popleft()
                if body == "<not json>":
                    raise _proto("Can't deserialize body")
                answer = await handler(request, body)
            except _Refusal as refusal:
                call.status = refusal.status
                call.answer = {"code": refusal.code, "message": refusal.message}
                self._record(call)
                return web.json_response(call.answer, status=refusal.status)
            call.answer = answer
            planned = self._drop_after.get((request.method, request.path), 0)
            if planned:
                self._drop_after[(request.method, request.path)] = planned - 1
            if planned or self._roll(faults.drop_after_rate):
                call.fault = "drop_after"
                return self._drop(request, call)
            self._record(call)
            return web.json_response(answer, dumps=lambda o: json.dumps(o, ensure_ascii=False))

        return handle

    def _drop(self, request: web.Request, call: Call) -> web.Response:
        self._record(call)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=HTTPStatus.NO_CONTENT)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    # --------------------------------------------------------------------------- methods

    async def _me(self, request: web.Request, body: Any) -> Any:
        return {"user_id": self.bot_id, "first_name": self.bot_name, "is_bot": True}

    def _target(self, query: dict[str, str]) -> tuple[int, str, int | None]:
        """(chat id, chat type, person) of POST /messages, or the refusal MAX gives."""
        user_id, chat_id = query.get("user_id"), query.get("chat_id")
        if (user_id is None) == (chat_id is None):
            raise _proto("Unknown recipient")
        try:
            number = int(user_id if user_id is not None else chat_id or "")
        except ValueError:
            raise _proto("Unknown recipient") from None
        if user_id is not None:
            user = self._users.get(number)
            if user is None or not user.started or number not in self._dialogs:
                raise _Refusal(404, "chat.not.found", "dialog.not.found")
            if user.stopped:
                raise _Refusal(
                    403, "chat.denied", f"Key: error.dialog.suspended, args: [{number},]."
                )
            return self._dialogs[number], "dialog", number
        if number in self._dialogs.values():
            owner = next(u for u, c in self._dialogs.items() if c == number)
            if self._user(owner).stopped:
                raise _Refusal(
                    403, "chat.denied", f"Key: error.dialog.suspended, args: [{owner},]."
                )
            return number, "dialog", owner
        chat = self._chats.get(number)
        if chat is None:
            raise _Refusal(404, "chat.not.found", f"Chat {number} not found")
        if not chat.bot_in_chat:
            raise _Refusal(403, "chat.denied", "Bot is not a member of the chat")
        return number, "chat", None

    def _check_body(self, body: Any, *, edit: bool = False) -> tuple[str, list[dict[str, Any]]]:
        if not isinstance(body, dict):
            raise _proto("Can't deserialize body")
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise _proto("text is a string")
        if text is not None and len(text) > TEXT_LIMIT:
            raise _proto(f"text: size must be between 0 and {TEXT_LIMIT}")
        attachments = body.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _proto("attachments is a list")
        fmt = body.get("format")
        if fmt is not None and str(fmt).lower() not in ("markdown", "html"):
            raise _proto(f"Unknown format {fmt}")
        for attachment in attachments or []:
            self._check_attachment(attachment)
        if not edit and not (text or "").strip() and not attachments:
            raise _proto("Message has no text and no attachments")
        return text or "", list(attachments or [])

    def _check_attachment(self, attachment: Any) -> None:
        if not isinstance(attachment, dict) or "type" not in attachment:
            raise _proto("attachment has no type")
        kind = attachment["type"]
        payload = attachment.get("payload")
        if kind == "inline_keyboard":
            rows = payload.get("buttons") if isinstance(payload, dict) else None
            if (
                not isinstance(rows, list)
                or not rows
                or not all(isinstance(r, list) for r in rows)
            ):
                raise _proto("Can't deserialize body: buttons is a list of rows")
            if len(rows) > MAX_ROWS:
                raise _proto("errors.maxRows")
            for row in rows:
                if len(row) > MAX_ROW_SIZE:
                    raise _proto("errors.maxRowSize")
                for button in row:
                    self._check_button(button)
        elif kind in ("file", "image", "video", "audio"):
            token = payload.get("token") if isinstance(payload, dict) else None
            photos = payload.get("photos") if isinstance(payload, dict) else None
            if isinstance(photos, dict):
                tokens = [p.get("token") for p in photos.values() if isinstance(p, dict)]
            else:
                tokens = [token]
            for one in tokens:
                if not isinstance(one, str) or one not in self.uploads:
                    raise _proto(f"unknown {kind} token")
                left = self._not_ready.get(one, 0)
                if left > 0:
                    self._not_ready[one] = left - 1
                    raise _Refusal(
                        400,
                        "attachment.not.ready",
                        "Key: errors.process.attachment.file.not.processed",
                    )
        else:
            raise _proto(f"attachment type {kind!r} is not emulated")

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
            raise _proto("unknown button type")
        text = button.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= BUTTON_TEXT_LIMIT:
            raise _proto(f"button text: size must be between 1 and {BUTTON_TEXT_LIMIT}")
        if button["type"] == "callback":
            payload = button.get("payload")
            if not isinstance(payload, str) or len(payload) > CALLBACK_PAYLOAD_LIMIT:
                raise _proto(f"payload: size must be between 0 and {CALLBACK_PAYLOAD_LIMIT}")

    async def _send(self, request: web.Request, body: Any) -> Any:
        chat_id, chat_type, person = self._target(dict(request.query))
        text, attachments = self._check_body(body)
        if self._over(self._chat_windows.setdefault(chat_id, deque()), self.chat_rate):
            self.refused_429 += 1
            raise _Refusal(429, "too.many.requests", "Too many messages to this chat")
        message = SentMessage(
            mid=self._next_mid(),
            seq=self._next_seq(chat_id),
            chat_id=chat_id,
            chat_type=chat_type,
            user_id=person,
            text=text,
            attachments=attachments,
            timestamp=self._now_ms(),
            format=body.get("format"),
        )
        self.sent.append(message)
        self._by_mid[message.mid] = message
        wire = self._wire_message(message)
        self._chat_log.setdefault(chat_id, []).append(wire)
        return {"message": wire}

    async def _edit(self, request: web.Request, body: Any) -> Any:
        mid = request.query.get("message_id", "")
        message = self._by_mid.get(mid)
        if message is None:
            raise _Refusal(404, "not.found", "Message not found")
        self._target(
            {"chat_id": str(message.chat_id)}
            if message.chat_type == "chat"
            else {"user_id": str(message.user_id)}
        )
        text, attachments = self._check_body(body, edit=True)
        message.versions.append(message.text)
        if body.get("text") is not None:
            message.text = text
        if body.get("attachments") is not None:  # null keeps them, [] removes them
            message.attachments = attachments
        for wire in self._chat_log.get(message.chat_id, []):
            if wire["body"]["mid"] == mid:
                wire["body"] = self._wire_message(message)["body"]
        self._notify()
        return {"success": True}

    async def _messages(self, request: web.Request, body: Any) -> Any:
        try:
            chat_id = int(request.query["chat_id"])
            count = int(request.query.get("count", "50"))
        except (KeyError, ValueError):
            raise _proto("chat_id is required") from None
        if not 1 <= count <= 100:
            raise _proto("count: must be between 1 and 100")
        if chat_id in self._chats and not self._chats[chat_id].bot_in_chat:
            raise _Refusal(403, "chat.denied", "Bot is not a member of the chat")
        if chat_id not in self._chats and chat_id not in self._dialogs.values():
            raise _Refusal(404, "chat.not.found", f"Chat {chat_id} not found")
        log = self._chat_log.get(chat_id, [])
        return {"messages": list(reversed(log[-count:]))}

    async def _answer(self, request: web.Request, body: Any) -> Any:
        callback_id = request.query.get("callback_id", "")
        if not callback_id.strip():
            raise _proto("callback_id is required")
        press = self._callbacks.get(callback_id)
        if press is None:
            raise _Refusal(404, "not.found", "Callback not found")
        if not isinstance(body, dict):
            raise _proto("Can't deserialize body")
        # "Не более двух ответов в секунду в один диалог, групповой чат или канал" (POST
        # /answers on dev.max.ru): counted with the messages to that chat.
        pressed = self._by_mid.get(str(press["mid"]))
        if pressed is not None and self._over(
            self._chat_windows.setdefault(pressed.chat_id, deque()), self.chat_rate
        ):
            self.refused_429 += 1
            raise _Refusal(429, "too.many.requests", "Too many answers to this chat")
        self.answers.append({"callback_id": callback_id, **body, **press})
        self._notify()
        return {"success": True}

    async def _poll(self, request: web.Request, body: Any) -> Any:
        if self._subscription is not None:
            # "Both methods cannot be used simultaneously" (schema, Receiving notifications).
            raise _Refusal(405, "method.not.allowed", "Bot is subscribed to webhook")
        query = request.query
        try:
            marker = int(query["marker"]) if query.get("marker") else None
            timeout = int(query.get("timeout", "30"))
            limit = int(query.get("limit", "100"))
        except ValueError:
            raise _proto("marker, timeout and limit are numbers") from None
        if not 0 <= timeout <= 90 or not 1 <= limit <= 1000:
            raise _proto("timeout is 0..90, limit 1..1000")
        self.polls_started += 1
        self._notify()
        types = {t for t in query.get("types", "").split(",") if t}
        if marker is not None:
            # Every update before the marker is committed (GET /updates description).
            self._committed = max(self._committed, min(marker, len(self._updates)))
        start = self._committed if marker is None else max(marker, 0)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            chosen = [
                (n, u)
                for n, u in enumerate(self._updates[start:], start)
                if not types or u["update_type"] in types
            ][:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if chosen or remaining <= 0 or self._runner is None:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._changed.wait()
        nxt = chosen[-1][0] + 1 if chosen else start
        return {"updates": [u for _, u in chosen], "marker": nxt}

    async def _subscriptions(self, request: web.Request, body: Any) -> Any:
        sub = self._subscription
        if sub is None:
            return {"subscriptions": []}
        return {
            "subscriptions": [
                {"url": sub.url, "time": sub.time, "update_types": list(sub.types) or None}
            ]
        }

    async def _subscribe(self, request: web.Request, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise _proto("url is required")
        url: str = body["url"]
        secret = body.get("secret")
        if secret is not None and (not isinstance(secret, str) or not SECRET_RE.match(secret)):
            raise _proto("secret: 5-256 characters of A-Z, a-z, 0-9, _ and -")
        # MAX takes https only; the emulator also takes http on loopback, where the tests are.
        if not (url.startswith("https://") or url.startswith(f"http://{self.host}")):
            raise _proto("url must start with https://")
        self._subscription = _Subscription(
            url, secret, tuple(body.get("update_types") or ()), self._now_ms()
        )
        self._delivered = self._committed
        if self._deliverer is None or self._deliverer.done():
            self._deliverer = asyncio.create_task(self._deliver())
        self._notify()
        return {"success": True}

    async def _unsubscribe(self, request: web.Request, body: Any) -> Any:
        sub = self._subscription
        if sub is not None and sub.url == request.query.get("url"):
            self._subscription = None
            self._committed = self._delivered
        return {"success": True}

    async def _members(self, request: web.Request, body: Any) -> Any:
        try:
            chat = self._chats[int(request.match_info["chat_id"])]
        except (KeyError, ValueError):
            raise _Refusal(404, "chat.not.found", "Chat not found") from None
        if not chat.bot_in_chat or not chat.bot_is_admin:
            raise _Refusal(403, "chat.denied", "Bot is not an administrator of the chat")
        count = int(request.query.get("count", "20"))
        offset = int(request.query.get("marker", "0") or 0)
        page = chat.members[offset : offset + count]
        nxt = offset + count if offset + count < len(chat.members) else None
        members = [
            {
                **self._user(m).wire(),
                "is_owner": m == chat.owner_id,
                "is_admin": m == chat.owner_id,
                "last_access_time": 0,
                "join_time": 0,
            }
            for m in page
        ]
        return {"members": members, "marker": nxt}

    async def _upload_url(self, request: web.Request, body: Any) -> Any:
        kind = request.query.get("type")
        if kind not in ("image", "video", "audio", "file"):
            raise _proto("type: image, video, audio or file")
        return {"url": f"{self.api_url}/_upload/{kind}/{next(self._uploads)}"}

    async def _upload(self, request: web.Request) -> web.Response:
        # The upload URL is MAX's own signed address: no Authorization here.
        kind = request.match_info["kind"]
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, aiohttp.BodyPartReader) or part.name != "data":
            return web.json_response({"error": "no data"}, status=400)
        data = await part.read()
        token = f"{kind}-{request.match_info['n']}-{self._rng.getrandbits(48):012x}"
        self.uploads[token] = (kind, part.filename or "", bytes(data))
        self._notify()
        if kind == "image":
            return web.json_response({"photos": {request.match_info["n"]: {"token": token}}})
        return web.json_response({"token": token})

    async def _stats(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.token:
            raise web.HTTPUnauthorized()
        by_path: dict[str, int] = {}
        for call in self.calls:
            name = f"{call.method} {call.path}"
            by_path[name] = by_path.get(name, 0) + 1
        return web.json_response(
            {
                "calls": by_path,
                "sent": len(self.sent),
                "answers": len(self.answers),
                "updates": len(self._updates),
                "deliveries": len(self.deliveries),
                "refused_429": self.refused_429,
            }
        )

    # ------------------------------------------------------------------- control endpoints
    #
    # For the demo and load scripts in another process: the same hooks as the methods above,
    # over HTTP, behind the bot's token.

    async def _control_body(self, request: web.Request) -> dict[str, Any]:
        if request.headers.get("Authorization") != self.token:
            raise web.HTTPUnauthorized()
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="the body is a JSON object")
        return body

    async def _control_sent(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.token:
            raise web.HTTPUnauthorized()
        return web.json_response([self._wire_message(m) for m in self.sent])

    async def _control_start(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        try:
            update = self.start_bot(int(body["user_id"]), body.get("payload"))
        except (KeyError, TypeError, ValueError) as error:
            raise web.HTTPBadRequest(text=repr(error)) from None
        return web.json_response(update)

    async def _control_write(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        try:
            chat = body.get("chat_id")
            update = self.write(
                int(body["user_id"]),
                str(body["text"]),
                chat_id=None if chat is None else int(chat),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise web.HTTPBadRequest(text=repr(error)) from None
        return web.json_response(update)

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        message = self._by_mid.get(str(body.get("mid")))
        if message is None:
            raise web.HTTPNotFound(text="no such message")
        try:
            update = self.press(int(body["user_id"]), message, str(body["label"]))
        except (KeyError, TypeError, ValueError, LookupError) as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response(update)

    # --------------------------------------------------------------------------- webhook

    async def _deliver(self) -> None:
        """Post each update to the subscription in order; retry each until 200."""
        while True:
            sub = self._subscription
            if sub is None or self._delivered >= len(self._updates):
                await self._changed.wait()
                continue
            number = self._delivered
            update = self._updates[number]
            if sub.types and update["update_type"] not in sub.types:
                self._delivered += 1
                continue
            copies = 2 if self._duplicates > 0 else 1
            self._duplicates = max(0, self._duplicates - 1)
            for _ in range(copies):
                await self._post_until_taken(sub, number, update)
            self._delivered = max(self._delivered, number + 1)
            self._notify()

    async def _post_until_taken(self, sub: _Subscription, number: int, update: Any) -> None:
        if self._client is None:
            return
        delay = self.webhook_retry_base
        for _ in range(self.webhook_attempts):
            headers = {SECRET_HEADER: sub.secret} if sub.secret else {}
            try:
                async with self._client.post(
                    sub.url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.deliveries.append((number, status))
            self._notify()
            # "Any non 200-response from server" is a failed delivery (schema, Webhook).
            if status == 200:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.webhook_retry_max)
        logger.warning("update %s not taken by %s; given up", number, sub.url)
