"""An emulator of the VK API (v5.199) and Bots Long Poll over loopback HTTP.

The real vkbottle ``Bot`` runs against it unchanged (``api.API_URL = emulator.api_url``), so
the end-to-end tests and ``confirmbot demo`` exercise the wire format the bot sees on VK:
form-encoded ``POST /method/<name>``, ``{"response": ...}`` / ``{"error": {...}}`` bodies with
HTTP 200, string ``ts`` in long-poll answers, ``payload`` as a JSON string in ``message_new``
and as an object in ``message_event``. Shapes follow ``/work/shared/vk-wire/samples.json``.

``execute`` runs the VKScript a batching client sends, ``return [API.a.b({...}),...];`` or
``return API.a.b({...});`` with JSON objects as arguments (``parse_execute_code``): one request
for the rate limit and the request faults, each call inside through the same method handler and
per-method faults as a direct call, a failed one answered ``false`` with an entry in
``execute_errors`` beside ``response``, as VK does. Other code is error 12, more than 25 calls
error 13. Calls made inside an ``execute`` are in ``calls`` with ``via_execute`` set.

Test hooks are plain methods: push updates (``push_message_new``, ``push_message_event``,
``push_raw``, ``press``), shape the world (``add_user``, ``add_chat``, ``force_failed``,
``fail_next``) and read what the bot did (``calls``, ``sent``, ``event_answers``, ``uploads``,
``wait_for``). Files in messages go through ``bot.vk_emulator_uploads``.

VK's own refusals come from the world, as on VK: 901 for someone who has not allowed the
community's messages, 902 for privacy settings (``set_privacy_closed``), 900 for a blacklist
(``set_blacklisted``), 7 in a chat the community was kicked out of (``remove_community``), 909
for an edit of a message older than a day by the ``wall`` clock, 5 once ``revoke_token`` is
called. ``getConversationMembers`` pages as VK does (20 by default, ``count`` up to 1000,
``offset``); a message's VK mention markup is in ``SentMessage.pings`` unless it was sent with
``disable_mentions``; a lone surrogate in an update is escaped in JSON as VK does.

It can also misbehave on purpose, as VK and the proxies in front of it do: random errors per
method, latency, HTTP 5xx pages, dropped connections, ``failed`` long-poll answers and VK's
per-second request limit. See ``Faults``, ``set_faults`` and ``using_faults``.

Run standalone with ``python -m bot.vk_emulator --port 8080 --token T --group-id 1``; add
``--error-rate 0.05 --rate-limit 20 --seed 1`` and the like to misbehave (``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import random
import re
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Annotated, Any, Final, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.vk_emulator_uploads import MAX_DOC_BYTES, Upload, UploadServer

__all__ = [
    "API_VERSION",
    "CHAT_PEER_OFFSET",
    "FAULT_DROPPED",
    "FAULT_DROPPED_AFTER",
    "FAULT_KINDS",
    "MAX_EXECUTE_CALLS",
    "Call",
    "ExecuteScript",
    "Faults",
    "MessageVersion",
    "SentMessage",
    "Upload",
    "VKEmulator",
    "VKError",
    "VKScriptError",
    "build_parser",
    "faults_from_args",
    "main",
    "parse_execute_code",
]

logger = logging.getLogger(__name__)

API_VERSION: Final = "5.199"
# peer_id of a chat is 2000000000 + chat_id (dev.vk.com/method/messages.send, peer_id).
CHAT_PEER_OFFSET: Final = 2_000_000_000

# dev.vk.com/method/messages.send documents "Max. length = 9000" for `message`, yet VK answers
# error 914 "Message is too long" above 4096 characters in practice, and vkbottle 4.11 itself
# cuts `message.answer()` into 4096-character chunks (tools/mini_types/base/message.py). The
# emulator enforces the stricter figure: a bot that fits here fits on VK.
MAX_MESSAGE_LENGTH: Final = 4096

# Keyboard limits, dev.vk.com/api/bots/development/keyboard: a regular keyboard is at most 5 x 10
# with 40 buttons, an inline one 5 x 6 with 10 buttons; a malformed keyboard gets error 911
# "Keyboard format is invalid". Label <= 40 and payload <= 255 characters: the same page's data
# structure section, restated by vk-io's Keyboard reference (negezor/vk-io, keyboard guide).
MAX_BUTTONS_PER_ROW: Final = 5
MAX_ROWS_INLINE: Final = 6
MAX_BUTTONS_INLINE: Final = 10
MAX_ROWS_REGULAR: Final = 10
MAX_BUTTONS_REGULAR: Final = 40
MAX_LABEL_LENGTH: Final = 40
MAX_PAYLOAD_LENGTH: Final = 255
# messages.send with peer_ids takes at most 100 recipients (dev.vk.com/method/messages.send).
MAX_PEER_IDS: Final = 100

# execute runs at most 25 API calls (dev.vk.com/method/execute; vk_api's VkRequestsPool and
# vk-io's apiExecuteCount batch 25 a request for that reason); one more is error 13.
EXECUTE_METHOD: Final = "execute"
MAX_EXECUTE_CALLS: Final = 25

BUTTON_TYPES: Final = frozenset(
    {
        "text",
        "callback",
        "open_link",
        "location",
        "vkpay",
        "open_app",
        "intent_subscribe",
        "intent_unsubscribe",
    }
)
BUTTON_COLORS: Final = frozenset({"primary", "secondary", "negative", "positive"})
LABELLED_BUTTONS: Final = frozenset({"text", "callback", "open_link", "open_app"})

# client_info.button_actions as VK sends them, samples.json (long_poll_ok and
# long_poll_private_with_text_button_payload).
BUTTON_ACTIONS_WITH_CALLBACK: Final = (
    "text",
    "vkpay",
    "open_app",
    "location",
    "open_link",
    "callback",
    "intent_subscribe",
    "intent_unsubscribe",
)
BUTTON_ACTIONS_WITHOUT_CALLBACK: Final = ("text", "open_link", "location", "vkpay", "open_app")

ERROR_MESSAGES: Final[dict[int, str]] = {
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    # What messages.send answers in a chat the community was removed from (VKCOM/vk-api-schema
    # errors.json, "Permission to perform this action is denied"; VK adds why).
    7: "Permission to perform this action is denied: the community was kicked out of the chat",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    # VKCOM/vk-api-schema errors.json; VK appends a detail after a colon, e.g. "Runtime error
    # occurred during code invocation: Method slice requires an array" (python273/vk_api#286).
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    900: "Can't send messages for users from blacklist",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    909: "Can't edit this message, because it's too old",
    911: "Keyboard format is invalid",
    914: "Message is too long",
    917: "You don't have access to this chat",
    920: "Can't edit this kind of message",
}

# messages.edit refuses a message older than a day with error 909 (dev.vk.com/method/
# messages.edit, "errors": 909 "Can't edit this message, because it's too old").
EDIT_WINDOW_SECONDS: Final = 24 * 60 * 60

# messages.getConversationMembers: `count` defaults to 20 and is at most 1000, `offset` pages
# (VKCOM/vk-api-schema methods.json); `count` in the answer is every member, not the page.
MEMBERS_DEFAULT_COUNT: Final = 20
MEMBERS_MAX_COUNT: Final = 1000

DEFAULT_MAX_WAIT: Final = 25.0
_WAIT_POLL_INTERVAL: Final = 0.05

# The error_code a Call records for an answer the client never got as JSON (not VK codes; VK's
# are positive): a connection dropped before the method ran, one dropped after it ran, and an
# HTTP 5xx page, recorded as minus its status (-500, -502, -503).
FAULT_DROPPED: Final = -1
FAULT_DROPPED_AFTER: Final = -2

# The kinds of fault counted in VKEmulator.fault_counts.
FAULT_KINDS: Final = (
    "error",
    "rate_limit",
    "http_5xx",
    "drop",
    "drop_after",
    "failed",
    "poll_5xx",
    "poll_drop",
)

# What nginx in front of VK answers when the backend is down or slow: an HTML page, not JSON.
_PROXY_PAGE: Final = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

Json = Any
MethodHandler = Callable[[dict[str, str]], Json]


class VKError(Exception):
    """A VK API error answered as ``{"error": {...}}``; raise it from a method handler."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Unknown error occurred")
        super().__init__(f"[{code}] {self.message}")


def _param_error(detail: str) -> VKError:
    return VKError(100, f"{ERROR_MESSAGES[100]}: {detail}")


class KeyboardFormatError(ValueError):
    """The ``keyboard`` parameter breaks VK's format or limits (answered as error 911)."""


Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]


class Faults(BaseModel):
    """How the emulator misbehaves on purpose; ``Faults()`` misbehaves in no way.

    Every rate is a probability per request, drawn from ``random.Random(seed)`` (reseeded by
    each ``set_faults``), so the same calls in the same order meet the same faults.

    API calls (``POST /method/<name>``), in the order the faults strike:

    - ``latency`` seconds, plus up to ``jitter`` more, before the call is looked at;
    - ``drop_rate``: the connection is closed before the method runs (nothing happened);
    - ``http_5xx_rate``: an HTML page with a status from ``http_5xx_statuses``, as a proxy
      in front of VK answers (nothing happened);
    - ``rate_limit``: VK's limit per token, at most this many calls in any ``rate_window``
      seconds (VK: one second); calls above it get error 6 "Too many requests per second" and
      do not count towards the window. Long polls never count: VK's long-poll server is apart;
    - ``error_rate``: per method name, or ``"*"`` for every method without its own rate, the
      share answered with an error from ``error_codes`` (nothing happened);
    - ``drop_after_rate``: the method runs, then the connection is closed before the answer
      (the case that duplicates a message whose send is retried without a random_id).

    An ``execute`` is one request: latency, drops, 5xx pages, the rate limit and
    ``drop_after_rate`` strike it once, as a whole. ``error_rate`` and ``fail_next`` strike it
    under the name ``"execute"`` (``"*"`` included: nothing inside runs), and then each call
    inside it under the call's own name, as if it had come alone: that call is answered
    ``false`` and listed in ``execute_errors``, the others run.

    Long polls: ``failed_rate`` answers ``{"failed": code}`` with a code from
    ``failed_codes``. Codes 2 and 3 expire every key, as ``force_failed`` does; code 1 hands back
    the ts the client asked for, when valid: the emulator keeps all history, so a spurious
    failure costs a round trip and loses nothing (``force_failed(1)`` instead models history
    that really went out of date). Then ``poll_latency`` delays the answer, and ``poll_5xx_rate``
    or ``poll_drop_rate`` replace it with an HTML page (a status from ``http_5xx_statuses``) or
    a closed connection. Long-poll faults are counted in ``fault_counts``, not kept in ``calls``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    error_rate: dict[str, Rate] = Field(default_factory=dict)
    error_codes: tuple[int, ...] = Field(default=(10,), min_length=1)
    latency: Seconds = 0.0
    jitter: Seconds = 0.0
    http_5xx_rate: Rate = 0.0
    http_5xx_statuses: tuple[int, ...] = Field(default=(500, 502, 503), min_length=1)
    drop_rate: Rate = 0.0
    drop_after_rate: Rate = 0.0
    rate_limit: Annotated[int, Field(gt=0)] | None = None
    rate_window: Annotated[float, Field(gt=0.0)] = 1.0
    failed_rate: Rate = 0.0
    failed_codes: tuple[int, ...] = Field(default=(1, 2, 3), min_length=1)
    poll_latency: Seconds = 0.0
    poll_5xx_rate: Rate = 0.0
    poll_drop_rate: Rate = 0.0

    @field_validator("http_5xx_statuses")
    @classmethod
    def _server_errors_only(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        if not all(500 <= status <= 599 for status in statuses):
            msg = "http_5xx_statuses must lie in 500..599"
            raise ValueError(msg)
        return statuses

    @field_validator("failed_codes")
    @classmethod
    def _known_failures(cls, codes: tuple[int, ...]) -> tuple[int, ...]:
        if not set(codes) <= {1, 2, 3}:
            msg = "failed_codes must be among 1, 2 and 3"
            raise ValueError(msg)
        return codes

    @property
    def active(self) -> bool:
        """Whether any fault is on (the seed alone is not one)."""
        return bool(self.model_dump(exclude_defaults=True, exclude={"seed"}))

    def error_rate_for(self, method: str) -> float:
        return self.error_rate.get(method, self.error_rate.get("*", 0.0))

    def describe(self) -> str:
        """One line naming what differs from no faults, e.g. for the CLI's banner."""
        if not self.active:
            return "none"
        changed = self.model_dump(exclude_defaults=True)
        if "error_rate" in changed:
            # The codes matter whenever errors are on, default or not.
            changed.setdefault("error_codes", self.error_codes)
        if changed.get("rate_limit") is not None:
            changed.setdefault("rate_window", self.rate_window)
        if "failed_rate" in changed:
            changed.setdefault("failed_codes", self.failed_codes)
        changed.setdefault("seed", self.seed)
        return ", ".join(f"{name}={value}" for name, value in changed.items())


@dataclass
class Call:
    """One API call as the emulator saw it; ``params`` never holds the access token.

    A call that met a fault names it in ``fault`` (one of ``FAULT_KINDS``). Injected VK errors
    and the rate limit's error 6 are recorded like any VK error. An answer the client never got
    as JSON is recorded with a negative ``error_code``: ``FAULT_DROPPED`` (-1) for a connection
    closed before the method ran, ``FAULT_DROPPED_AFTER`` (-2) for one closed after it ran
    (``response`` then holds what the method returned, ``error["dropped_answer"]`` the whole
    body the client lost), and ``-status`` for an HTTP 5xx page (-500, -502, -503).

    A call made inside an ``execute`` is a Call of its own with ``via_execute`` set, recorded
    as it runs and before the ``execute`` request's Call; its ``params`` are the VKScript
    arguments in the string form a direct call's would have, and its ``error`` is the entry it
    put in ``execute_errors`` (``method``, ``error_code``, ``error_msg``).
    """

    method: str
    params: dict[str, str]
    response: Json = None
    error: dict[str, Any] | None = None
    fault: str | None = None
    via_execute: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_code(self) -> int | None:
        return None if self.error is None else int(self.error["error_code"])


@dataclass
class MessageVersion:
    """An earlier state of an edited message."""

    text: str
    keyboard: dict[str, Any] | None
    attachment: str | None


@dataclass
class SentMessage:
    """A message the community sent, as currently stored (``messages.edit`` updates it)."""

    message_id: int
    conversation_message_id: int
    peer_id: int
    text: str
    keyboard: dict[str, Any] | None
    random_id: int
    attachment: str | None = None
    payload: str | None = None
    date: int = 0
    edited: bool = False
    # Whom VK notifies of this message: `all` and `online` for the whole chat, `id123` and the
    # like for a person or community mentioned; none with `disable_mentions=1` (the markup
    # still shows as a link, `mentions_in`).
    pings: list[str] = field(default_factory=list)
    history: list[MessageVersion] = field(default_factory=list)
    # time.monotonic() when it was stored: the system-wide clock on Linux, so a benchmark in
    # another process can measure from an update it pushed to the reply.
    sent_at: float = 0.0

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button of the keyboard, row by row."""
        if self.keyboard is None:
            return []
        return [button for row in self.keyboard.get("buttons", []) for button in row]

    @property
    def labels(self) -> list[str]:
        return [str(b["action"].get("label", "")) for b in self.buttons]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _User:
    id: int
    first_name: str
    last_name: str
    allows_messages: bool = True
    privacy_closed: bool = False  # their privacy settings forbid messages: 902
    blacklisted: bool = False  # they put the community on their blacklist: 900

    def refusal(self) -> int | None:
        """The error VK answers a private message to this user with, if any."""
        if self.blacklisted:
            return 900
        if self.privacy_closed:
            return 902
        if not self.allows_messages:
            return 901
        return None


@dataclass
class _Chat:
    peer_id: int
    member_ids: list[int]
    bot_is_admin: bool
    owner_id: int
    community_removed: bool = False  # the community was kicked out: error 7 on send


def _now_ts() -> float:
    return datetime.now(UTC).timestamp()


# VK's mention markup (dev.vk.com/ru/api/bots/development/messages, "Упоминания"): `[id1|Имя]`,
# `[club1|Имя]`, `@id1`, `*id1`, a screen name `@durov`, and `@all` / `@online` for a chat.
_BRACKET_MENTION: Final = re.compile(r"\[((?:id|club|public)\d+)\|[^\]\n]*\]")
_AT_MENTION: Final = re.compile(r"(?<![\w@*])[@*]([A-Za-z0-9_.]*[A-Za-z0-9_])")


def mentions_in(text: str) -> list[str]:
    """What VK would render as a mention in ``text``: `all`, `online`, `id1`, `club1`,
    screen names; in order of appearance."""
    found = [(m.start(), m.group(1)) for m in _BRACKET_MENTION.finditer(text)]
    found += [(m.start(), m.group(1)) for m in _AT_MENTION.finditer(text)]
    return [target for _, target in sorted(found)]


# A lone UTF-16 surrogate cannot be written as UTF-8: VK sends it as a `\udXXX` escape.
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _dumps(value: Json) -> str:
    """JSON as VK writes it: UTF-8 text, and a lone surrogate in a string (a broken emoji from
    a client) as its escape, so that one bad message cannot make an answer unwritable."""
    text = json.dumps(value, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _compact_json(value: Json) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_int(params: dict[str, str], name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _param_error(f"{name} is a required parameter")
        return None
    try:
        return int(raw)
    except ValueError:
        raise _param_error(f"{name} not integer") from None


def parse_keyboard(raw: str) -> dict[str, Any]:
    """Parse and check a ``keyboard`` parameter the way VK does; raise KeyboardFormatError."""
    try:
        keyboard = json.loads(raw)
    except ValueError:
        raise KeyboardFormatError("keyboard is not valid JSON") from None
    if not isinstance(keyboard, dict):
        raise KeyboardFormatError("keyboard must be an object")
    rows = keyboard.get("buttons")
    if not isinstance(rows, list):
        raise KeyboardFormatError("buttons must be an array of arrays")
    inline = keyboard.get("inline", False)
    if not isinstance(inline, bool) or not isinstance(keyboard.get("one_time", False), bool):
        raise KeyboardFormatError("inline and one_time must be booleans")
    max_rows, max_buttons = (
        (MAX_ROWS_INLINE, MAX_BUTTONS_INLINE)
        if inline
        else (MAX_ROWS_REGULAR, MAX_BUTTONS_REGULAR)
    )
    kind = "inline" if inline else "regular"
    if len(rows) > max_rows:
        raise KeyboardFormatError(f"{kind} keyboard has {len(rows)} rows, max {max_rows}")
    total = 0
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            raise KeyboardFormatError(f"buttons[{r}] must be a non-empty array")
        if len(row) > MAX_BUTTONS_PER_ROW:
            raise KeyboardFormatError(
                f"buttons[{r}] has {len(row)} buttons, max {MAX_BUTTONS_PER_ROW}"
            )
        for c, button in enumerate(row):
            _check_button(button, f"buttons[{r}][{c}]")
        total += len(row)
    if total > max_buttons:
        raise KeyboardFormatError(f"{kind} keyboard has {total} buttons, max {max_buttons}")
    return keyboard


def _check_button(button: Json, where: str) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("action"), dict):
        raise KeyboardFormatError(f"{where}.action must be an object")
    action: dict[str, Any] = button["action"]
    kind = action.get("type")
    if kind not in BUTTON_TYPES:
        raise KeyboardFormatError(f"{where}.action.type {kind!r} is unknown")
    if kind in LABELLED_BUTTONS:
        label = action.get("label")
        if not isinstance(label, str) or not label:
            raise KeyboardFormatError(f"{where}.action.label is required")
        if len(label) > MAX_LABEL_LENGTH:
            raise KeyboardFormatError(
                f"{where}.action.label is {len(label)} characters, max {MAX_LABEL_LENGTH}"
            )
    if kind == "open_link" and not isinstance(action.get("link"), str):
        raise KeyboardFormatError(f"{where}.action.link is required")
    if "payload" in action:
        payload = action["payload"]
        # VK takes the payload as a JSON *string* (the keyboard page's examples); an object
        # in its place is a format error.
        if not isinstance(payload, str):
            raise KeyboardFormatError(f"{where}.action.payload must be a JSON string")
        if len(payload) > MAX_PAYLOAD_LENGTH:
            raise KeyboardFormatError(
                f"{where}.action.payload is {len(payload)} characters, max {MAX_PAYLOAD_LENGTH}"
            )
        try:
            json.loads(payload)
        except ValueError:
            raise KeyboardFormatError(f"{where}.action.payload is not valid JSON") from None
    color = button.get("color")
    if color is not None and color not in BUTTON_COLORS:
        raise KeyboardFormatError(f"{where}.color {color!r} is unknown")


class VKScriptError(ValueError):
    """``execute`` code outside the VKScript the emulator runs (answered as error 12)."""


@dataclass(frozen=True)
class ExecuteScript:
    """A parsed ``execute`` code: its API calls in order, and whether it returns a list."""

    calls: tuple[tuple[str, dict[str, Json]], ...]
    returns_list: bool


_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE: Final = re.compile(r"\s*")


def _reject_constant(name: str) -> Json:
    raise ValueError(f"{name} is not a VKScript value")


# Plain JSON, without the NaN and Infinity that Python's decoder takes by default.
_ARGUMENTS_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


class _CodeReader:
    """A cursor over ``execute`` code; every method skips whitespace before its token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, expected: str) -> VKScriptError:
        self._skip_space()
        found = self.text[self.pos : self.pos + 20]
        where = f"at position {self.pos}, found {found!r}" if found else "at the end of the code"
        return VKScriptError(f"{expected} expected {where}")

    def take(self, token: str) -> bool:
        self._skip_space()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise self.error(repr(token))

    def identifier(self) -> str:
        self._skip_space()
        match = _IDENTIFIER.match(self.text, self.pos)
        if match is None:
            raise self.error("a name")
        self.pos = match.end()
        return match.group()

    def keyword(self, word: str) -> None:
        start = self.pos
        if self.identifier() != word:
            self.pos = start
            raise self.error(repr(word))

    def api_call(self) -> tuple[str, dict[str, Json]]:
        """``API.group.method(...)`` with a JSON object, or nothing, between the brackets."""
        self.keyword("API")
        self.expect(".")
        group = self.identifier()
        self.expect(".")
        name = self.identifier()
        self.expect("(")
        arguments: dict[str, Json] = {}
        if not self.take(")"):
            self._skip_space()
            try:
                value, end = _ARGUMENTS_DECODER.raw_decode(self.text, self.pos)
            except ValueError:  # json.JSONDecodeError, or NaN and the like
                raise self.error("a JSON object of arguments") from None
            if not isinstance(value, dict):
                raise self.error("a JSON object of arguments")
            self.pos = end
            arguments = value
            self.expect(")")
        return f"{group}.{name}", arguments

    def end(self) -> None:
        self._skip_space()
        if self.pos != len(self.text):
            raise self.error("the end of the code")

    def _skip_space(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        if match is not None:  # always: \s* matches the empty string
            self.pos = match.end()


def parse_execute_code(code: str) -> ExecuteScript:
    """Parse the VKScript a batching client sends to ``execute``; raise VKScriptError if not.

    The subset is ``return [API.group.method({...}), ...];`` (any number of calls, none
    included) or ``return API.group.method({...});``: each argument list a JSON object literal
    or empty, strings in it free to hold any character, whitespace allowed between tokens, the
    final ``;`` optional. VK runs far more (variables, loops, ``@.``, unquoted keys); the
    emulator answers that with error 12, as VK does code it cannot compile.
    """
    reader = _CodeReader(code)
    reader.keyword("return")
    calls: list[tuple[str, dict[str, Json]]] = []
    returns_list = reader.take("[")
    if not returns_list:
        calls.append(reader.api_call())
    elif not reader.take("]"):
        calls.append(reader.api_call())
        while reader.take(","):
            calls.append(reader.api_call())
        reader.expect("]")
    reader.take(";")
    reader.end()
    return ExecuteScript(tuple(calls), returns_list)


def _vkscript_param(value: Json) -> str | None:
    """A VKScript argument as the string a form-encoded call would carry (None: left out).

    As vkbottle's request validator turns parameters into a form: true/false as 1/0, a list
    joined with commas, an object as JSON; null leaves the parameter out.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list):
        parts = (_vkscript_param(item) for item in value)
        return ",".join(part for part in parts if part is not None)
    return _compact_json(value)


class VKEmulator:
    """The far side of the wire: a VK API and Bots Long Poll server on loopback."""

    def __init__(
        self,
        token: str = "emulator-token",  # noqa: S107  (a fake token for a fake server)
        group_id: int = 1,
        group_name: str = "Управление образования",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_message_length: int = MAX_MESSAGE_LENGTH,
        faults: Faults | None = None,
        monotonic: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        """``monotonic`` is the clock of the rate limit's window (default: the event loop's);
        ``wall`` the Unix time of messages' ``date`` and of the 24 hours after which a message
        cannot be edited (default: the system's), e.g. a test's fake clock."""
        self.token = token
        self.group_id = group_id
        self.group_name = group_name
        self.host = host
        self.port = port
        self.max_wait = max_wait
        self.max_message_length = max_message_length

        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.event_answers: list[dict[str, Any]] = []
        self.poll_requests: list[dict[str, str]] = []
        self._tallies: dict[str | None, _CallTally] = {}  # for GET /_emulator/stats

        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._methods: dict[str, MethodHandler] = {
            "groups.getById": self._groups_get_by_id,
            "groups.getLongPollServer": self._groups_get_long_poll_server,
            "messages.send": self._messages_send,
            "messages.edit": self._messages_edit,
            "messages.sendMessageEventAnswer": self._messages_send_message_event_answer,
            "messages.getConversationMembers": self._messages_get_conversation_members,
            "users.get": self._users_get,
        }
        # docs.* and photos.* for files in messages, and the upload servers behind them.
        self.upload_server = UploadServer(
            group_id, lambda: self.base_url, lambda code, message: VKError(code, message)
        )
        self._methods.update(self.upload_server.methods())
        self._injected: dict[str, deque[VKError]] = {}

        self._message_ids = itertools.count(1001)
        self._versions = itertools.count(10_000_001)
        self._cmids: dict[int, int] = {}
        self._by_random_id: dict[tuple[int, int], SentMessage] = {}
        self._incoming: set[tuple[int, int]] = set()
        self._open_events: dict[str, dict[str, Any]] = {}
        self._answered_events: set[str] = set()

        self._updates: list[dict[str, Any]] = []
        self._first_ts = 1
        self._keys: set[str] = set()
        self._forced: deque[int] = deque()
        self._released = False
        self._closing = False
        self._changed = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

        # How many faults of each kind were injected, since creation or reset_fault_counts().
        self.fault_counts: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self._faults = Faults()
        self._fault_rng = random.Random(0)  # noqa: S311  (reproducible faults, not secrets)
        self._window: deque[float] = deque()
        self.monotonic = monotonic
        self.wall = wall or _now_ts
        self.set_faults(faults)

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind the HTTP server; with ``port=0`` the OS picks a free port."""
        if self._runner is not None:
            return
        # Uploads come in one request each; VK takes documents up to 200 MB.
        app = web.Application(client_max_size=MAX_DOC_BYTES + 1024 * 1024)
        app.router.add_route("*", "/method/{name}", self._handle_method)
        app.router.add_route("*", self._long_poll_path, self._handle_long_poll)
        app.router.add_post("/_emulator/message_new", self._handle_control_message_new)
        app.router.add_post("/_emulator/press", self._handle_control_press)
        app.router.add_get("/_emulator/sent", self._handle_control_sent)
        self.upload_server.add_routes(app)
        app.router.add_post("/_emulator/updates", self._handle_control_updates)
        app.router.add_get("/_emulator/stats", self._handle_control_stats)
        # access_log=None: vkbottle puts access_token in the query string, and aiohttp's access
        # log would write the request line with it.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self._closing = False
        address = runner.addresses[0]
        self._bound_port = int(address[1])
        logger.info("VK emulator for group %s listening on %s", self.group_id, self.api_url)

    async def stop(self) -> None:
        """Release pending long polls and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._bound_port = None
        logger.info("VK emulator stopped")

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
    def base_url(self) -> str:
        if self._bound_port is None:
            msg = "VKEmulator is not started"
            raise RuntimeError(msg)
        return f"http://{self.host}:{self._bound_port}"

    @property
    def api_url(self) -> str:
        """What to assign to ``API.API_URL``: vkbottle appends the method name to it."""
        return f"{self.base_url}/method/"

    @property
    def long_poll_server(self) -> str:
        return f"{self.base_url}{self._long_poll_path}"

    @property
    def _long_poll_path(self) -> str:
        # VK's server looks like https://lp.vk.com/wh123456789 (samples.json).
        return f"/wh{self.group_id}"

    # ----------------------------------------------------------------------- world set-up

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str,
        *,
        allows_messages: bool = True,
        privacy_closed: bool = False,
    ) -> None:
        self._users[user_id] = _User(
            user_id, first_name, last_name, allows_messages, privacy_closed
        )

    def set_allows_messages(self, user_id: int, allowed: bool) -> None:
        """Whether the user allowed the community's messages (901 if not); writing to the
        community allows them."""
        self._user(user_id).allows_messages = allowed

    def set_privacy_closed(self, user_id: int, closed: bool = True) -> None:
        """The user's privacy settings forbid messages: 902, whatever they wrote before."""
        self._user(user_id).privacy_closed = closed

    def set_blacklisted(self, user_id: int, blacklisted: bool = True) -> None:
        """The user put the community on their blacklist: 900."""
        self._user(user_id).blacklisted = blacklisted

    def add_chat(
        self,
        peer_id: int,
        member_ids: list[int],
        *,
        bot_is_admin: bool = True,
        owner_id: int | None = None,
    ) -> None:
        """Register a chat the community is in; the owner defaults to the first member."""
        if peer_id < CHAT_PEER_OFFSET:
            msg = f"a chat peer_id is >= {CHAT_PEER_OFFSET}, got {peer_id}"
            raise ValueError(msg)
        if not member_ids and owner_id is None:
            msg = "a chat needs at least one member"
            raise ValueError(msg)
        owner = owner_id if owner_id is not None else member_ids[0]
        members = list(dict.fromkeys([owner, *member_ids]))
        self._chats[peer_id] = _Chat(peer_id, members, bot_is_admin, owner)

    def set_bot_is_admin(self, peer_id: int, is_admin: bool) -> None:
        self._chats[peer_id].bot_is_admin = is_admin

    def remove_community(self, peer_id: int) -> None:
        """Someone kicked the community out of the chat: messages.send there is error 7, its
        members are hidden (917), until ``return_community``."""
        self._chats[peer_id].community_removed = True

    def return_community(self, peer_id: int) -> None:
        """The community was added to the chat again."""
        self._chats[peer_id].community_removed = False

    def revoke_token(self) -> None:
        """The community's owner revoked the token: every API call is error 5 from now on, and
        the long-poll keys it got stop working (the poll in flight answers failed 2)."""
        self.token = f"revoked-{secrets.token_hex(8)}"
        self._keys.clear()
        self._notify()

    def add_method(self, name: str, handler: MethodHandler) -> None:
        """Serve another API method: ``handler(params)`` returns the response or raises VKError."""
        self._methods[name] = handler

    def fail_next(
        self, method: str, code: int, message: str | None = None, *, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with error ``code`` (e.g. 6 or 10)."""
        queue = self._injected.setdefault(method, deque())
        queue.extend(VKError(code, message) for _ in range(times))

    @property
    def faults(self) -> Faults:
        """The faults in force (``Faults()`` when the emulator behaves)."""
        return self._faults

    def set_faults(self, faults: Faults | None) -> None:
        """Misbehave as ``faults`` say from the next request on (None: behave).

        The random sequence starts again from ``faults.seed``; counts and the rate limit's
        window of recent calls carry on.
        """
        self._faults = faults or Faults()
        self._fault_rng = random.Random(self._faults.seed)  # noqa: S311  (not for secrets)
        if self._faults.active:
            logger.info("VK emulator faults: %s", self._faults.describe())

    @contextlib.contextmanager
    def using_faults(self, faults: Faults) -> Iterator[Faults]:
        """Misbehave as ``faults`` say inside the block, then go back to the faults before."""
        before = self._faults
        self.set_faults(faults)
        try:
            yield faults
        finally:
            self.set_faults(before)

    @property
    def rate_limited(self) -> int:
        """How many calls the rate limit answered with error 6."""
        return self.fault_counts["rate_limit"]

    def reset_fault_counts(self) -> None:
        self.fault_counts = dict.fromkeys(FAULT_KINDS, 0)

    def force_failed(self, code: int) -> None:
        """Answer the next long poll with ``{"failed": code}`` (1, 2 or 3).

        Codes 2 and 3 also expire every issued key, as on VK, so the bot has to call
        ``groups.getLongPollServer`` again. A poll waiting right now returns the failure at once.
        """
        if code not in (1, 2, 3):
            msg = f"failed code must be 1, 2 or 3, got {code}"
            raise ValueError(msg)
        self._forced.append(code)
        self._notify()

    def release_pollers(self) -> None:
        """Answer pending and later long polls at once, without waiting, until hold_pollers().

        vkbottle's ``polling.stop()`` only sets a flag checked between polls; with this the
        poll in flight returns and ``bot.run_polling()`` finishes. The release stays in force
        because a poll already sent may reach the server only after this call.
        """
        self._released = True
        self._notify()

    def hold_pollers(self) -> None:
        """Undo release_pollers(): long polls wait for updates again."""
        self._released = False

    # --------------------------------------------------------------------------- updates

    @property
    def ts(self) -> int:
        """The ts the next update will get; a poll with this ts waits for new updates."""
        return self._first_ts + len(self._updates)

    @property
    def updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    def push_message_new(
        self,
        *,
        from_id: int,
        peer_id: int,
        text: str,
        payload: dict[str, Any] | None = None,
        action: dict[str, Any] | None = None,
        callback_supported: bool = True,
        attachments: list[dict[str, Any]] | None = None,
        date: int | None = None,
    ) -> dict[str, Any]:
        """Queue a ``message_new`` exactly as VK sends it (payload as a JSON string).

        ``date`` is when the person wrote it (default: now by ``wall``), for a message that
        reaches the bot late.
        """
        raw_payload = None if payload is None else _compact_json(payload)
        return self._push_message_new(
            from_id=from_id,
            peer_id=peer_id,
            text=text,
            raw_payload=raw_payload,
            action=action,
            callback_supported=callback_supported,
            attachments=attachments,
            date=date,
        )

    def push_message_event(
        self,
        *,
        user_id: int,
        peer_id: int,
        payload: dict[str, Any],
        conversation_message_id: int,
    ) -> dict[str, Any]:
        """Queue a ``message_event`` (a callback button press); payload is an object."""
        return self._push_message_event(
            user_id=user_id,
            peer_id=peer_id,
            payload=payload,
            conversation_message_id=conversation_message_id,
        )

    def push_message_allow(self, user_id: int) -> dict[str, Any]:
        """The user allowed messages from the community."""
        self.set_allows_messages(user_id, True)
        return self.push_raw(self._envelope("message_allow", {"user_id": user_id, "key": ""}))

    def push_message_deny(self, user_id: int) -> dict[str, Any]:
        """The user forbade messages from the community."""
        self.set_allows_messages(user_id, False)
        return self.push_raw(self._envelope("message_deny", {"user_id": user_id}))

    def push_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update as given (pushing the same one twice replays it); anything at all,
        to see what a client makes of an entry that is not an update."""
        if isinstance(update, dict) and update.get("type") == "message_event":
            obj = update.get("object", {})
            self._open_events.setdefault(str(obj.get("event_id")), obj)
        self._updates.append(update)
        kind = update.get("type") if isinstance(update, dict) else type(update).__name__
        logger.debug("queued update %s at ts %s", kind, self.ts - 1)
        self._notify()
        return update

    def press(
        self,
        user_id: int,
        message: SentMessage,
        label: str,
        *,
        callback_supported: bool = True,
    ) -> dict[str, Any]:
        """Press the button labelled ``label`` on ``message`` as ``user_id``'s client would.

        A callback button gives a ``message_event``; a text button, or a callback button on a
        client without callback support, gives a ``message_new`` with the label as text and the
        button's payload string.
        """
        current = self._find_sent(message.peer_id, message.conversation_message_id) or message
        if current.keyboard is None:
            msg = f"message {current.conversation_message_id} to {current.peer_id} has no keyboard"
            raise LookupError(msg)
        matches = [b for b in current.buttons if b["action"].get("label") == label]
        if not matches:
            msg = (
                f"no button {label!r} on message {current.conversation_message_id} "
                f"to {current.peer_id}; buttons: {current.labels}"
            )
            raise LookupError(msg)
        action: dict[str, Any] = matches[0]["action"]
        kind = action["type"]
        raw_payload: str | None = action.get("payload")
        if kind == "callback" and callback_supported:
            return self._push_message_event(
                user_id=user_id,
                peer_id=current.peer_id,
                payload=None if raw_payload is None else json.loads(raw_payload),
                conversation_message_id=current.conversation_message_id,
            )
        if kind in ("text", "callback"):
            return self._push_message_new(
                from_id=user_id,
                peer_id=current.peer_id,
                text=label,
                raw_payload=raw_payload,
                action=None,
                callback_supported=callback_supported,
                attachments=None,
            )
        msg = f"button {label!r} is of type {kind!r}; only text and callback can be pressed"
        raise ValueError(msg)

    # ------------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def uploads(self) -> list[Upload]:
        """Every file the bot uploaded (documents and photos), in order."""
        return self.upload_server.uploads

    def upload_of(self, message: SentMessage) -> Upload | None:
        """The uploaded file a sent message carries as its attachment, if any."""
        return self.upload_server.find(message.attachment)

    def messages_to(self, peer_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.peer_id == peer_id]

    def last_message_to(self, peer_id: int) -> SentMessage | None:
        messages = self.messages_to(peer_id)
        return messages[-1] if messages else None

    def user_name(self, user_id: int) -> tuple[str, str]:
        user = self._user(user_id)
        return user.first_name, user.last_name

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
                recent = [
                    f"{c.method}->{'ok' if c.ok else c.error_code}" for c in self.calls[-10:]
                ]
                msg = (
                    f"{what} still false after {timeout}s; last API calls: {recent}; "
                    f"messages sent: {[(m.peer_id, m.text[:60]) for m in self.sent[-10:]]}"
                )
                raise TimeoutError(msg)
            # Also wake periodically: the predicate may look at state outside the emulator.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait(), timeout=min(remaining, _WAIT_POLL_INTERVAL)
                )

    async def wait_for_message(
        self,
        peer_id: int,
        *,
        contains: str | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109  (the tests' spelling; enforced by wait_for)
    ) -> SentMessage:
        """Wait for the ``count``-th message to ``peer_id`` matching ``contains``; return it."""

        def matching() -> list[SentMessage]:
            return [m for m in self.messages_to(peer_id) if contains is None or contains in m.text]

        description = f"message #{count} to {peer_id}" + (
            f" containing {contains!r}" if contains is not None else ""
        )
        await self.wait_for(lambda: len(matching()) >= count, timeout, description=description)
        return matching()[count - 1]

    # ------------------------------------------------------------------------- internals

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _user(self, user_id: int) -> _User:
        user = self._users.get(user_id)
        if user is None:
            user = _User(user_id, f"Имя{user_id}", f"Фамилия{user_id}")
            self._users[user_id] = user
        return user

    def _next_cmid(self, peer_id: int) -> int:
        self._cmids[peer_id] = self._cmids.get(peer_id, 0) + 1
        return self._cmids[peer_id]

    def _envelope(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": kind,
            "v": API_VERSION,
            "group_id": self.group_id,
            "event_id": secrets.token_hex(20),
            "object": obj,
        }

    def _push_message_new(
        self,
        *,
        from_id: int,
        peer_id: int,
        text: str,
        raw_payload: str | None,
        action: dict[str, Any] | None,
        callback_supported: bool,
        attachments: list[dict[str, Any]] | None,
        date: int | None = None,
    ) -> dict[str, Any]:
        is_chat = peer_id >= CHAT_PEER_OFFSET
        cmid = self._next_cmid(peer_id)
        message: dict[str, Any] = {
            "date": int(self.wall()) if date is None else date,
            "from_id": from_id,
            # A community sees id 0 for chat messages (vk-wire README).
            "id": 0 if is_chat else next(self._message_ids),
            "out": 0,
            "version": next(self._versions),
        }
        if action is not None:
            message["action"] = action
        message.update(
            {
                "attachments": attachments or [],
                "conversation_message_id": cmid,
                "fwd_messages": [],
                "important": False,
                "is_hidden": False,
                "peer_id": peer_id,
                "random_id": 0,
                "text": text,
            }
        )
        if raw_payload is not None:
            message["payload"] = raw_payload
        client_info = {
            "button_actions": list(
                BUTTON_ACTIONS_WITH_CALLBACK
                if callback_supported
                else BUTTON_ACTIONS_WITHOUT_CALLBACK
            ),
            "keyboard": True,
            "inline_keyboard": True,
            "carousel": callback_supported,
            "lang_id": 0,
        }
        self._incoming.add((peer_id, cmid))
        if not is_chat and from_id > 0:
            # A user who writes to the community lets it answer.
            self._user(from_id).allows_messages = True
        update = self._envelope("message_new", {"message": message, "client_info": client_info})
        return self.push_raw(update)

    def _push_message_event(
        self,
        *,
        user_id: int,
        peer_id: int,
        payload: Json,
        conversation_message_id: int,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "user_id": user_id,
            "peer_id": peer_id,
            "event_id": secrets.token_hex(6),
        }
        if payload is not None:
            obj["payload"] = payload
        obj["conversation_message_id"] = conversation_message_id
        return self.push_raw(self._envelope("message_event", obj))

    def _find_sent(self, peer_id: int, cmid: int) -> SentMessage | None:
        for message in self.sent:
            if message.peer_id == peer_id and message.conversation_message_id == cmid:
                return message
        return None

    # ------------------------------------------------------------------------------ HTTP

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, str]:
        params: dict[str, str] = {k: v for k, v in request.query.items()}
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
        return params

    @staticmethod
    def _json_response(body: Json) -> web.Response:
        return web.json_response(body, dumps=_dumps)

    def _roll(self, rate: float) -> bool:
        # A fault that is off draws nothing; the same Faults and the same order of requests
        # always meet the same faults.
        return rate > 0.0 and self._fault_rng.random() < rate

    def _count(self, kind: str) -> None:
        self.fault_counts[kind] += 1

    def _over_rate_limit(self) -> bool:
        """Count a call against VK's per-token limit; True if it is one too many."""
        limit = self._faults.rate_limit
        if limit is None:
            return False
        now = self.monotonic() if self.monotonic is not None else asyncio.get_running_loop().time()
        while self._window and now - self._window[0] >= self._faults.rate_window:
            self._window.popleft()
        if len(self._window) >= limit:
            return True
        self._window.append(now)
        return False

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        # Closing the socket under aiohttp makes the client see ServerDisconnectedError (or
        # ClientOSError); the response returned here is never written.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=HTTPStatus.NO_CONTENT)

    def _proxy_error(self, statuses: tuple[int, ...]) -> tuple[int, web.Response]:
        status = self._fault_rng.choice(statuses)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Server Error"
        page = _PROXY_PAGE.format(status=status, phrase=phrase)
        return status, web.Response(status=status, text=page, content_type="text/html")

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    async def _handle_method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = await self._read_params(request)
        token = params.pop("access_token", None)
        authorization = request.headers.get("Authorization", "")
        if token is None and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
        call = Call(method=name, params=params)
        faults = self._faults
        if faults.latency or faults.jitter:
            await asyncio.sleep(faults.latency + self._fault_rng.uniform(0.0, faults.jitter))
        if self._roll(faults.drop_rate):
            self._count("drop")
            call.fault = "drop"
            call.error = {
                "error_code": FAULT_DROPPED,
                "error_msg": "connection dropped before the method ran (injected)",
            }
            self._record(call)
            logger.debug("%s -> dropped", name)
            return self._drop(request)
        if self._roll(faults.http_5xx_rate):
            self._count("http_5xx")
            status, page = self._proxy_error(faults.http_5xx_statuses)
            call.fault = "http_5xx"
            call.error = {"error_code": -status, "error_msg": f"HTTP {status} (injected)"}
            self._record(call)
            logger.debug("%s -> HTTP %s", name, status)
            return page
        try:
            if token != self.token:
                raise VKError(5)
            if self._over_rate_limit():
                self._count("rate_limit")
                call.fault = "rate_limit"
                raise VKError(6)
            if "v" not in params:
                raise VKError(8)
            execute_errors: list[dict[str, Any]] = []
            if name == EXECUTE_METHOD:
                self._method_fault(name, call)
                call.response, execute_errors = self._execute(params)
            else:
                call.response = self._invoke(name, params, call)
            body: dict[str, Any] = {"response": call.response}
            if execute_errors:
                body["execute_errors"] = execute_errors
        except VKError as error:
            request_params = [
                {"key": "method", "value": name},
                {"key": "oauth", "value": "1"},
                *({"key": k, "value": v} for k, v in params.items()),
            ]
            call.error = {
                "error_code": error.code,
                "error_msg": error.message,
                "request_params": request_params,
            }
            body = {"error": call.error}
            logger.debug("%s -> error %s %s", name, error.code, error.message)
        else:
            logger.debug("%s -> ok", name)
        if self._roll(faults.drop_after_rate):
            self._count("drop_after")
            call.fault = "drop_after"
            call.error = {
                "error_code": FAULT_DROPPED_AFTER,
                "error_msg": "connection dropped after the method ran (injected)",
                "dropped_answer": body,
            }
            self._record(call)
            logger.debug("%s -> ran, then dropped", name)
            return self._drop(request)
        self._record(call)
        return self._json_response(body)

    def _method_fault(self, name: str, call: Call) -> None:
        """Raise the VKError ``fail_next`` queued for ``name``, or one ``error_rate`` draws."""
        injected = self._injected.get(name)
        if injected:
            raise injected.popleft()
        faults = self._faults
        if self._roll(faults.error_rate_for(name)):
            self._count("error")
            call.fault = "error"
            raise VKError(self._fault_rng.choice(faults.error_codes))

    def _invoke(self, name: str, params: dict[str, str], call: Call) -> Json:
        """Run method ``name`` once its request has passed the token, rate and version checks.

        The same for a direct call and a call inside ``execute``: error 3 for an unknown method,
        then the per-method faults, then the handler. Raise VKError.
        """
        handler = self._methods.get(name)
        if handler is None:
            raise VKError(3)
        self._method_fault(name, call)
        return handler(params)

    def _execute(self, params: dict[str, str]) -> tuple[Json, list[dict[str, Any]]]:
        """Run ``execute``'s code; return its response and its ``execute_errors``.

        Each call runs in order through ``_invoke`` and is recorded as a Call with
        ``via_execute``; one that raises VKError is ``false`` in the response and an entry
        ``{"method", "error_code", "error_msg"}`` in ``execute_errors``, and the rest still run.
        Code outside ``parse_execute_code``'s subset is error 12, more than
        ``MAX_EXECUTE_CALLS`` calls error 13 (before any of them runs).
        """
        code = params.get("code")
        if not code:
            raise _param_error("code is a required parameter")
        try:
            script = parse_execute_code(code)
        except VKScriptError as error:
            raise VKError(12, f"{ERROR_MESSAGES[12]}: {error}") from None
        if len(script.calls) > MAX_EXECUTE_CALLS:
            raise VKError(13, f"{ERROR_MESSAGES[13]}: Too many API calls")
        results: list[Json] = []
        errors: list[dict[str, Any]] = []
        for name, arguments in script.calls:
            inner_params = {
                key: text
                for key, value in arguments.items()
                if (text := _vkscript_param(value)) is not None
            }
            inner = Call(method=name, params=inner_params, via_execute=True)
            try:
                inner.response = self._invoke(name, inner_params, inner)
            except VKError as error:
                inner.error = {
                    "method": name,
                    "error_code": error.code,
                    "error_msg": error.message,
                }
                errors.append(dict(inner.error))
                results.append(False)
                logger.debug("execute: %s -> error %s %s", name, error.code, error.message)
            else:
                results.append(inner.response)
                logger.debug("execute: %s -> ok", name)
            self._record(inner)
        return (results if script.returns_list else results[0]), errors

    async def _handle_long_poll(self, request: web.Request) -> web.Response:
        params = await self._read_params(request)
        self.poll_requests.append(params)
        self._notify()
        faults = self._faults
        # Every fault is drawn on arrival, so a poll's faults do not depend on how long it waits.
        failed = (
            self._fault_rng.choice(faults.failed_codes) if self._roll(faults.failed_rate) else 0
        )
        proxy_error = self._roll(faults.poll_5xx_rate)
        drop = self._roll(faults.poll_drop_rate)
        if failed:
            self._count("failed")
            answer = self._injected_failed(failed, params)
            logger.debug("long poll -> failed %s (injected)", failed)
        else:
            answer = await self._long_poll(params)
        if faults.poll_latency:
            await asyncio.sleep(faults.poll_latency)
        if proxy_error:
            self._count("poll_5xx")
            status, page = self._proxy_error(faults.http_5xx_statuses)
            logger.debug("long poll -> HTTP %s (injected)", status)
            return page
        if drop:
            self._count("poll_drop")
            logger.debug("long poll -> dropped (injected)")
            return self._drop(request)
        return self._json_response(answer)

    def _injected_failed(self, code: int, params: dict[str, str]) -> dict[str, Any]:
        if code in (2, 3):
            self._keys.clear()
            return {"failed": code}
        try:
            ts = int(params.get("ts", ""))
        except ValueError:
            ts = self.ts
        if not self._first_ts <= ts <= self.ts:
            ts = self.ts
        return {"failed": 1, "ts": str(ts)}

    async def _long_poll(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            wait = float(params.get("wait", DEFAULT_MAX_WAIT))
        except ValueError:
            wait = DEFAULT_MAX_WAIT
        wait = min(max(wait, 0.0), self.max_wait)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if self._forced:
                code = self._forced.popleft()
                if code in (2, 3):
                    self._keys.clear()
                return {"failed": 1, "ts": str(self.ts)} if code == 1 else {"failed": code}
            if params.get("act") != "a_check" or params.get("key") not in self._keys:
                return {"failed": 2}
            try:
                ts = int(params.get("ts", ""))
            except ValueError:
                return {"failed": 1, "ts": str(self.ts)}
            if ts < self._first_ts or ts > self.ts:
                return {"failed": 1, "ts": str(self.ts)}
            pending = self._updates[ts - self._first_ts :]
            remaining = deadline - loop.time()
            if pending or remaining <= 0 or self._closing or self._released:
                return {"ts": str(self.ts), "updates": pending}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)

    # Control endpoints for standalone use (`python -m bot.vk_emulator`): push updates and read
    # what the bot sent with curl. They take the same access_token as the API.

    def _check_control_token(self, request: web.Request) -> None:
        if request.query.get("access_token") != self.token:
            raise web.HTTPForbidden(text="access_token required")

    async def _handle_control_message_new(self, request: web.Request) -> web.Response:
        self._check_control_token(request)
        body = await request.json()
        update = self.push_message_new(
            from_id=int(body["from_id"]),
            peer_id=int(body.get("peer_id", body["from_id"])),
            text=str(body.get("text", "")),
            payload=body.get("payload"),
            action=body.get("action"),
            callback_supported=bool(body.get("callback_supported", True)),
        )
        return self._json_response(update)

    async def _handle_control_press(self, request: web.Request) -> web.Response:
        self._check_control_token(request)
        body = await request.json()
        message = self._find_sent(int(body["peer_id"]), int(body["conversation_message_id"]))
        if message is None:
            raise web.HTTPNotFound(text="no such message")
        try:
            update = self.press(
                int(body["user_id"]),
                message,
                str(body["label"]),
                callback_supported=bool(body.get("callback_supported", True)),
            )
        except (LookupError, ValueError) as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return self._json_response(update)

    async def _handle_control_sent(self, request: web.Request) -> web.Response:
        self._check_control_token(request)
        peer = request.query.get("peer_id")
        messages = self.sent if peer is None else self.messages_to(int(peer))
        return self._json_response([m.to_dict() for m in messages])

    # Bulk control endpoints, for load tests (`make bench`): queue many updates in one request,
    # and count what the bot did, optionally waiting until it did enough.

    async def _handle_control_updates(self, request: web.Request) -> web.Response:
        """POST a JSON list of updates; all are queued, or none if one is malformed.

        An item is ``{"type": "message_new", "from_id": 1, "peer_id": 1, "text": "...",
        "payload": {...}, "callback_supported": true}`` or ``{"type": "message_event",
        "user_id": 1, "peer_id": 1, "payload": {...}, "conversation_message_id": 5}``; without
        ``conversation_message_id`` the button is on the last message sent to ``peer_id``.
        """
        self._check_control_token(request)
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not JSON") from None
        if not isinstance(body, list) or len(body) > MAX_CONTROL_BATCH:
            raise web.HTTPBadRequest(
                text=f"expected a JSON list of at most {MAX_CONTROL_BATCH} updates"
            )
        last_cmid: dict[int, int] | None = None
        pushes: list[Callable[[], dict[str, Any]]] = []
        for index, item in enumerate(body):
            try:
                if not isinstance(item, dict):
                    raise TypeError("an update is a JSON object")
                if item.get("type") == "message_event" and "conversation_message_id" not in item:
                    if last_cmid is None:
                        last_cmid = {m.peer_id: m.conversation_message_id for m in self.sent}
                    peer = int(item["peer_id"] if "peer_id" in item else item["user_id"])
                    if peer not in last_cmid:
                        raise LookupError(f"nothing was sent to {peer} to press a button on")
                    item = {**item, "conversation_message_id": last_cmid[peer]}
                pushes.append(self._control_push(item))
            except (KeyError, TypeError, ValueError, LookupError) as error:
                raise web.HTTPBadRequest(text=f"update {index}: {error!r}") from None
        for push in pushes:
            push()
        return self._json_response({"queued": len(pushes), "ts": str(self.ts)})

    def _control_push(self, item: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        """Check one item of POST /_emulator/updates; return what queues it."""
        kind = item.get("type")
        if kind == "message_new":
            from_id = int(item["from_id"])
            peer_id = int(item.get("peer_id", from_id))
            text = str(item.get("text", ""))
            payload = item.get("payload")
            if payload is not None and not isinstance(payload, dict):
                raise TypeError("payload must be an object")
            callback = bool(item.get("callback_supported", True))
            return lambda: self.push_message_new(
                from_id=from_id,
                peer_id=peer_id,
                text=text,
                payload=payload,
                callback_supported=callback,
            )
        if kind == "message_event":
            user_id = int(item["user_id"])
            peer_id = int(item.get("peer_id", user_id))
            cmid = int(item["conversation_message_id"])
            event_payload = item["payload"]
            return lambda: self.push_message_event(
                user_id=user_id,
                peer_id=peer_id,
                payload=event_payload,
                conversation_message_id=cmid,
            )
        raise ValueError(f"type must be message_new or message_event, got {kind!r}")

    async def _handle_control_stats(self, request: web.Request) -> web.Response:
        """GET what the bot did: API calls by method, VK error codes, faults, messages.

        ``calls`` counts every API call by method, the calls made inside an ``execute``
        included (so ``calls["messages.send"]`` is every send); ``requests`` counts the HTTP
        requests by method, an ``execute`` once (what VK's rate limit counts). ``errors``
        counts VK error codes over ``calls``, those answered inside ``execute_errors`` included.

        With ``contains=TEXT``, ``matching`` counts the successful calls whose ``message`` or
        snackbar text (``event_data``) contains TEXT; with ``until=N`` as well, the answer waits
        (at most ``timeout`` seconds, default 30, at most 600) until ``matching`` reaches N.
        """
        self._check_control_token(request)
        query = request.query
        needle = query.get("contains") or None
        try:
            until = int(query["until"]) if "until" in query else None
            timeout = min(max(float(query.get("timeout", "30")), 0.0), 600.0)
        except ValueError:
            raise web.HTTPBadRequest(text="until and timeout must be numbers") from None
        if until is not None and needle is None:
            raise web.HTTPBadRequest(text="until needs contains")
        timed_out = False
        if until is not None:
            try:
                await self.wait_for(
                    lambda: self._tally(needle).matching >= until,
                    timeout,
                    description=f"{until} calls containing {needle!r}",
                )
            except TimeoutError:
                timed_out = True
        tally = self._tally(needle)
        body: dict[str, Any] = {
            "calls": dict(tally.by_method),
            "requests": dict(tally.requests),
            "errors": {str(code): n for code, n in tally.errors.items()},
            "faults": dict(self.fault_counts),
            "sent": len(self.sent),
            "event_answers": len(self.event_answers),
            "updates": len(self._updates),
            "polls": len(self.poll_requests),
            "timed_out": timed_out,
        }
        if needle is not None:
            body["matching"] = tally.matching
        return self._json_response(body)

    def _tally(self, needle: str | None) -> _CallTally:
        """The counts over ``calls`` for ``needle``, brought up to date by looking at new calls."""
        tally = self._tallies.get(needle)
        if tally is None or tally.seen > len(self.calls):  # new, or `calls` was cleared
            tally = self._tallies[needle] = _CallTally()
        for call in itertools.islice(self.calls, tally.seen, None):
            tally.add(call, needle)
        tally.seen = len(self.calls)
        return tally

    # --------------------------------------------------------------------------- methods

    def _group_object(self) -> dict[str, Any]:
        return {
            "id": self.group_id,
            "name": self.group_name,
            "screen_name": f"club{self.group_id}",
            "is_closed": 0,
            "type": "group",
        }

    def _groups_get_by_id(self, params: dict[str, str]) -> Json:
        # 5.199 answers {"groups": [...], "profiles": [...]}; vkbottle's BotPolling reads
        # response["groups"][0]["id"] when it has no group_id.
        requested = params.get("group_ids") or params.get("group_id")
        if requested:
            ids = {part.strip() for part in requested.split(",") if part.strip()}
            own = {str(self.group_id), f"club{self.group_id}"}
            if not ids <= own:
                raise _param_error("group_ids is undefined")
        return {"groups": [self._group_object()], "profiles": []}

    def _groups_get_long_poll_server(self, params: dict[str, str]) -> Json:
        group_id = _parse_int(params, "group_id", required=True)
        if group_id != self.group_id:
            raise _param_error("group_id is invalid")
        key = secrets.token_hex(20)
        self._keys.add(key)
        return {"key": key, "server": self.long_poll_server, "ts": str(self.ts)}

    def _check_text(self, params: dict[str, str]) -> tuple[str, str | None]:
        text = params.get("message", "")
        attachment = params.get("attachment") or None
        if len(text) > self.max_message_length:
            raise VKError(914)
        problem = None if attachment is None else self.upload_server.attachment_problem(attachment)
        if problem is not None:
            raise _param_error(problem)
        return text, attachment

    @staticmethod
    def _check_keyboard(params: dict[str, str]) -> dict[str, Any] | None:
        raw = params.get("keyboard")
        if not raw:
            return None
        try:
            return parse_keyboard(raw)
        except KeyboardFormatError as error:
            raise VKError(911, f"{ERROR_MESSAGES[911]}: {error}") from None

    def _send_target_error(self, peer_id: int) -> VKError | None:
        if peer_id == 0:
            return _param_error("peer_id is invalid")
        if 0 < peer_id < CHAT_PEER_OFFSET:
            refusal = self._user(peer_id).refusal()
            return None if refusal is None else VKError(refusal)
        chat = self._chats.get(peer_id)
        if chat is not None and chat.community_removed:
            return VKError(7)
        return None

    def _messages_send(self, params: dict[str, str]) -> Json:
        # random_id is mandatory since API 5.90 ("random_id is a required parameter",
        # python273/vk_api#200); 0 turns deduplication off.
        random_id = _parse_int(params, "random_id", required=True) or 0
        text, attachment = self._check_text(params)
        if not text and not attachment:
            raise _param_error("message is empty or invalid")
        keyboard = self._check_keyboard(params)

        if params.get("peer_ids"):
            try:
                peer_ids = [int(p) for p in params["peer_ids"].split(",") if p.strip()]
            except ValueError:
                raise _param_error("peer_ids is invalid") from None
            if not peer_ids or len(peer_ids) > MAX_PEER_IDS:
                raise _param_error(f"peer_ids should contain 1..{MAX_PEER_IDS} ids")
            items: list[dict[str, Any]] = []
            for peer in peer_ids:
                error = self._send_target_error(peer)
                if error is not None:
                    # No message_id on a failed item (VKCOM/vk-api-schema#208; samples.json).
                    items.append(
                        {
                            "peer_id": peer,
                            "error": {"code": error.code, "description": error.message},
                        }
                    )
                    continue
                sent = self._store_sent(peer, text, keyboard, random_id, attachment, params)
                items.append(
                    {
                        "peer_id": peer,
                        "message_id": self._visible_message_id(sent),
                        "conversation_message_id": sent.conversation_message_id,
                    }
                )
            return items

        peer_id = _parse_int(params, "peer_id") or _parse_int(params, "user_id")
        chat_id = _parse_int(params, "chat_id")
        if peer_id is None and chat_id is not None:
            peer_id = CHAT_PEER_OFFSET + chat_id
        if peer_id is None:
            raise _param_error("you should specify peer_id, user_id, domain, chat_id or user_ids")
        error = self._send_target_error(peer_id)
        if error is not None:
            raise error
        sent = self._store_sent(peer_id, text, keyboard, random_id, attachment, params)
        return self._visible_message_id(sent)

    @staticmethod
    def _visible_message_id(message: SentMessage) -> int:
        # In chats a community gets message id 0 (vk-wire README).
        return 0 if message.peer_id >= CHAT_PEER_OFFSET else message.message_id

    def _store_sent(
        self,
        peer_id: int,
        text: str,
        keyboard: dict[str, Any] | None,
        random_id: int,
        attachment: str | None,
        params: dict[str, str],
    ) -> SentMessage:
        if random_id:
            earlier = self._by_random_id.get((peer_id, random_id))
            if earlier is not None:
                logger.debug("random_id %s to %s seen before: not sent again", random_id, peer_id)
                return earlier
        message = SentMessage(
            message_id=0 if peer_id >= CHAT_PEER_OFFSET else next(self._message_ids),
            conversation_message_id=self._next_cmid(peer_id),
            peer_id=peer_id,
            text=text,
            keyboard=keyboard,
            random_id=random_id,
            attachment=attachment,
            payload=params.get("payload"),
            date=int(self.wall()),
            pings=[] if params.get("disable_mentions") == "1" else mentions_in(text),
            sent_at=time.monotonic(),
        )
        self.sent.append(message)
        if random_id:
            self._by_random_id[(peer_id, random_id)] = message
        return message

    def _messages_edit(self, params: dict[str, str]) -> Json:
        peer_id = _parse_int(params, "peer_id", required=True)
        assert peer_id is not None  # noqa: S101  (required=True)
        # `cmid` is 5.199's name for `conversation_message_id`; VK takes either.
        cmid = _parse_int(params, "conversation_message_id")
        if cmid is None:
            cmid = _parse_int(params, "cmid")
        message_id = _parse_int(params, "message_id")
        if cmid is None and not message_id:
            raise _param_error("message_id or conversation_message_id is required")
        if cmid is not None:
            target = self._find_sent(peer_id, cmid)
            incoming = (peer_id, cmid) in self._incoming
        else:
            target = next(
                (m for m in self.sent if m.peer_id == peer_id and m.message_id == message_id),
                None,
            )
            incoming = False
        if target is None:
            # VK refuses to edit someone else's message (920); for an id it does not know the
            # exact code is undocumented, 100 is what the emulator answers.
            if incoming:
                raise VKError(920)
            raise _param_error("message not found")
        chat = self._chats.get(peer_id)
        if chat is not None and chat.community_removed:
            raise VKError(7)
        if self.wall() - target.date > EDIT_WINDOW_SECONDS:
            raise VKError(909)
        text, attachment = self._check_text(params)
        keyboard = self._check_keyboard(params)
        if not text and not attachment and keyboard is None:
            raise _param_error("message is empty or invalid")
        # messages.edit replaces the message as a whole (hence its keep_forward_messages and
        # keep_snippets flags): text, attachments and keyboard not passed again are gone.
        target.history.append(MessageVersion(target.text, target.keyboard, target.attachment))
        target.text = text
        target.keyboard = keyboard
        target.attachment = attachment
        target.edited = True
        return 1

    def _messages_send_message_event_answer(self, params: dict[str, str]) -> Json:
        event_id = params.get("event_id")
        if not event_id:
            raise _param_error("event_id is a required parameter")
        user_id = _parse_int(params, "user_id", required=True)
        peer_id = _parse_int(params, "peer_id", required=True)
        event_data: Json = None
        if params.get("event_data"):
            try:
                event_data = json.loads(params["event_data"])
            except ValueError:
                raise _param_error("event_data is invalid") from None
            if not isinstance(event_data, dict) or event_data.get("type") not in (
                "show_snackbar",
                "open_link",
                "open_app",
            ):
                raise _param_error("event_data is invalid")
        # VK does not document an error for an unknown or already answered event_id (the event
        # just expires after a minute), so the emulator answers 1 and records the facts.
        self.event_answers.append(
            {
                "event_id": event_id,
                "user_id": user_id,
                "peer_id": peer_id,
                "event_data": event_data,
                "known": event_id in self._open_events,
                "repeated": event_id in self._answered_events,
            }
        )
        self._answered_events.add(event_id)
        return 1

    def _profile(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        return {
            "id": user.id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "can_access_closed": True,
            "is_closed": False,
        }

    def _users_get(self, params: dict[str, str]) -> Json:
        raw = params.get("user_ids") or params.get("user_id") or ""
        profiles = []
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            if part.startswith("id") and part[2:].isdigit():
                part = part[2:]
            if not part.isdigit():
                raise VKError(113)
            profiles.append(self._profile(int(part)))
        return profiles

    def _messages_get_conversation_members(self, params: dict[str, str]) -> Json:
        peer_id = _parse_int(params, "peer_id", required=True)
        offset = _parse_int(params, "offset") or 0
        count = _parse_int(params, "count")
        count = MEMBERS_DEFAULT_COUNT if count is None else count
        if offset < 0:
            raise _param_error("offset should be positive")
        if not 0 <= count <= MEMBERS_MAX_COUNT:
            raise _param_error(f"count should be less or equal to {MEMBERS_MAX_COUNT}")
        chat = self._chats.get(peer_id) if peer_id is not None else None
        if chat is None or not chat.bot_is_admin or chat.community_removed:
            raise VKError(917)
        items: list[dict[str, Any]] = []
        for index, member_id in enumerate([*chat.member_ids, -self.group_id]):
            item: dict[str, Any] = {
                "member_id": member_id,
                "invited_by": chat.owner_id,
                "join_date": 1_697_000_000 + index * 100_000,
            }
            if member_id == chat.owner_id:
                item["is_admin"] = True
                item["is_owner"] = True
            elif member_id == -self.group_id:
                item["is_admin"] = True
            items.append(item)
        page = items[offset : offset + count]
        return {
            "count": len(items),
            "items": page,
            "profiles": [self._profile(i["member_id"]) for i in page if i["member_id"] > 0],
            "groups": [self._group_object()],
        }


# The most updates POST /_emulator/updates takes at once.
MAX_CONTROL_BATCH: Final = 50_000


@dataclass
class _CallTally:
    """Counts over ``VKEmulator.calls`` kept by GET /_emulator/stats, one per ``contains``.

    ``by_method`` counts every call, those made inside an ``execute`` included; ``requests``
    only the calls that were HTTP requests of their own (``execute`` once, not what it ran).
    """

    seen: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    matching: int = 0

    def add(self, call: Call, needle: str | None) -> None:
        self.by_method[call.method] = self.by_method.get(call.method, 0) + 1
        if not call.via_execute:
            self.requests[call.method] = self.requests.get(call.method, 0) + 1
        code = call.error_code
        if code is not None:
            self.errors[code] = self.errors.get(code, 0) + 1
        elif needle is not None and (
            needle in call.params.get("message", "") or needle in _snackbar_text(call)
        ):
            self.matching += 1


def _snackbar_text(call: Call) -> str:
    """The text of a ``sendMessageEventAnswer``'s ``event_data`` (JSON escapes undone)."""
    raw = call.params.get("event_data")
    if not raw:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    return str(data.get("text", "")) if isinstance(data, dict) else raw


# ------------------------------------------------------------------------------------ CLI


def _error_rates(raw: str) -> dict[str, float]:
    """``0.05`` for every method, or ``messages.send=0.2,*=0.01`` per method."""
    rates: dict[str, float] = {}
    for part in raw.split(","):
        method, sep, rate = part.strip().rpartition("=")
        try:
            rates[method.strip() if sep else "*"] = float(rate)
        except ValueError:
            msg = f"not a rate or method=rate list: {raw!r}"
            raise argparse.ArgumentTypeError(msg) from None
    return rates


def _int_list(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        msg = f"not a comma-separated list of integers: {raw!r}"
        raise argparse.ArgumentTypeError(msg) from None


# CLI flag -> Faults field, for the flags that map one to one.
_FAULT_FLAGS: Final = (
    (
        "error_rate",
        _error_rates,
        "share of API calls answered with a VK error: 0.05, or messages.send=0.2,*=0.01",
    ),
    ("error_codes", _int_list, "VK error codes to answer with, e.g. 6,9,10 (default 10)"),
    ("latency", float, "seconds added to every API call"),
    ("jitter", float, "up to this many seconds more, at random"),
    ("http_5xx_rate", float, "share of API calls answered with an HTML 500/502/503 page"),
    ("drop_rate", float, "share of API calls whose connection is closed before the method runs"),
    (
        "drop_after_rate",
        float,
        "share of API calls whose connection is closed after the method ran",
    ),
    ("rate_limit", int, "VK's limit: at most N calls a second, error 6 above it (VK: 20)"),
    ("failed_rate", float, 'share of long polls answered {"failed": 1|2|3}'),
    ("failed_codes", _int_list, "failed codes to answer with (default 1,2,3)"),
    ("poll_latency", float, "seconds added to every long-poll answer"),
    ("poll_5xx_rate", float, "share of long polls answered with an HTML 5xx page"),
    ("poll_drop_rate", float, "share of long polls whose connection is closed"),
    ("seed", int, "seed of the random faults (default 0): the same seed, the same faults"),
)


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The Faults the command line asks for; raise pydantic's ValidationError if they are wrong."""
    given = {name: getattr(args, name) for name, _, _ in _FAULT_FLAGS}
    return Faults.model_validate({k: v for k, v in given.items() if v is not None})


async def _serve(args: argparse.Namespace, faults: Faults) -> None:
    emulator = VKEmulator(
        args.token, args.group_id, args.group_name, host=args.host, port=args.port, faults=faults
    )
    async with emulator:
        print(f"api_url: {emulator.api_url}", flush=True)
        print(f"long poll: {emulator.long_poll_server}", flush=True)
        print(f"faults: {faults.describe()}", flush=True)
        print(
            f"push: POST {emulator.base_url}/_emulator/message_new?access_token=<token> "
            '{"from_id": 501234, "text": "hi"}',
            flush=True,
        )
        # Handle SIGINT and SIGTERM ourselves: a launcher may start us with SIGINT ignored, and
        # SIGTERM would otherwise kill the process without closing the server.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.vk_emulator", description="Emulate the VK API for a community bot."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default="emulator-token")
    parser.add_argument("--group-id", type=int, default=1)
    parser.add_argument("--group-name", default="Управление образования")
    parser.add_argument("--verbose", "-v", action="store_true")
    misbehave = parser.add_argument_group("faults", "misbehave on purpose (default: never)")
    for name, kind, text in _FAULT_FLAGS:
        misbehave.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=text
        )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = faults_from_args(args)
    except ValidationError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, faults))


if __name__ == "__main__":
    main()
