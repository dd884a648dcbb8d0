"""The MAX Bot API on the wire: its JSON as pydantic models, and a thin client with no retries.

What each shape and code rests on is in docs/MAX.md (the official OpenAPI schema
max-messenger/api-schema 0.0.33 and the official TypeScript client). In short: the token goes
in the `Authorization` header as it is (no `Bearer`, never in a query); a refusal is an HTTP
status with `{"code", "message"}`; a message has a string id `body.mid` and a number `body.seq`.

The client never retries: MAX has no `random_id`, so a POST /messages sent twice is two
messages. Whether to try again is the outbox's decision (bot/max.py maps every failure to a
`Result`); maxapi and the official TypeScript client both retry on their own, which is one
reason this client is ours (docs/MAX.md, "Library").
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Final

import aiohttp
from aiohttp import ClientError, ClientTimeout
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# The host moved twice in a year (platform-api.max.ru -> platform-api2.max.ru), so it is
# configurable; this is the one the official clients use today.
DEFAULT_API_URL: Final = "https://platform-api2.max.ru"
# 30 requests per second per bot (MAX's FAQ as quoted by GREEN-API); we stay under it.
DEFAULT_RATE: Final = 25.0
# 2 messages per second to one chat: see docs/MAX.md (not in the official schema).
CHAT_RATE: Final = 2.0
DEFAULT_TIMEOUT: Final = 30.0
# NewMessageBody.text maxLength (schema 0.0.33).
TEXT_LIMIT: Final = 4000
# Button.text maxLength and CallbackButton.payload maxLength (schema 0.0.33).
BUTTON_TEXT_LIMIT: Final = 128
CALLBACK_PAYLOAD_LIMIT: Final = 1024
# GET /updates: timeout 0..90 s (default 30), limit 1..1000 (default 100).
POLL_TIMEOUT_MAX: Final = 90
# SubscriptionRequestBody.secret: 5-256 characters of A-Z, a-z, 0-9, _ and -.
SECRET_PATTERN: Final = r"^[A-Za-z0-9_-]{5,256}$"  # noqa: S105  (a shape, not a secret)
SECRET_HEADER: Final = "X-Max-Bot-Api-Secret"  # noqa: S105  (a header name)


class MaxConfig(BaseModel):
    """`[max]` in the config: the lead wires it into bot/config.py."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr  # from CONFIRMBOT_MAX_TOKEN, never from the file
    api_url: str = DEFAULT_API_URL
    # Staff by their MAX user ids (each gets a person id of the product's own at start).
    admins: tuple[Annotated[int, Field(gt=0)], ...] = ()
    # The controller by MAX user id: escalations go there (instead of [bot] controller's).
    controller: Annotated[int, Field(gt=0)] | None = None
    # Group chats have negative ids on MAX.
    admin_chats: tuple[Annotated[int, Field(lt=0)], ...] = ()
    heads_chats: tuple[Annotated[int, Field(lt=0)], ...] = ()
    # The bot's @name, so that «@name статус» in a chat is addressed to it.
    username: str | None = None
    # Production: MAX posts updates to this public HTTPS address (port 443), with the secret.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Where `confirmbot run` serves the webhook, behind the reverse proxy that holds the HTTPS
    # address above: "host:port" and the path.
    webhook_listen: str = "127.0.0.1:8090"
    webhook_path: str = "/max/webhook"
    rate: Annotated[float, Field(gt=0, le=30)] = DEFAULT_RATE
    chat_rate: Annotated[float, Field(gt=0, le=2)] = CHAT_RATE
    timeout: Annotated[float, Field(gt=0)] = DEFAULT_TIMEOUT

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(
                'не адрес http(s); ожидается, например, "https://platform-api2.max.ru"'
            )
        return url.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _https_only(cls, url: str | None) -> str | None:
        # Since 25 May 2026 MAX delivers webhooks over HTTPS only (api-schema README).
        if url is not None and not url.startswith("https://"):
            raise ValueError("MAX доставляет обновления только на адреса https://")
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and not re.fullmatch(SECRET_PATTERN, secret.get_secret_value()):
            raise ValueError("секрет — от 5 до 256 символов A-Z, a-z, 0-9, _ и -")
        return secret

    @field_validator("webhook_listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError('ожидается "адрес:порт", например "127.0.0.1:8090"')
        return listen

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError('путь начинается с /, например "/max/webhook"')
        return path

    @property
    def listen(self) -> tuple[str, int]:
        host, _, port = self.webhook_listen.rpartition(":")
        return host, int(port)


# ------------------------------------------------------------------------------ wire models


class _Wire(BaseModel):
    # MAX adds fields over time; what we do not read we do not reject.
    model_config = ConfigDict(frozen=True, extra="ignore")


class MaxUser(_Wire):
    user_id: int
    first_name: str = ""
    last_name: str | None = None
    name: str | None = None  # deprecated by MAX, still sent
    username: str | None = None
    is_bot: bool = False

    @property
    def full_name(self) -> str:
        full = f"{self.first_name} {self.last_name or ''}".strip()
        return full or (self.name or "")


class Recipient(_Wire):
    chat_id: int | None = None
    chat_type: str = "dialog"  # dialog, chat or channel
    user_id: int | None = None


class MessageBody(_Wire):
    mid: str
    seq: int = 0
    text: str | None = None
    attachments: list[dict[str, Any]] | None = None


class MaxMessage(_Wire):
    sender: MaxUser | None = None
    recipient: Recipient
    timestamp: int = 0
    body: MessageBody


class Callback(_Wire):
    timestamp: int = 0
    callback_id: str
    payload: str | None = None
    user: MaxUser


class Update(_Wire):
    """One update; which fields are set depends on `update_type` (schema `Update` mapping)."""

    update_type: str
    timestamp: int = 0
    message: MaxMessage | None = None  # message_created, message_callback, message_edited
    callback: Callback | None = None  # message_callback
    chat_id: int | None = None  # bot_started, bot_added, bot_removed, user_added, ...
    user: MaxUser | None = None
    payload: str | None = None  # bot_started: the deep link's start code
    is_channel: bool | None = None
    inviter_id: int | None = None  # user_added
    admin_id: int | None = None  # user_removed
    user_locale: str | None = None


class UpdateList(_Wire):
    updates: list[Update]
    marker: int | None = None


class ErrorBody(_Wire):
    code: str = ""
    message: str = ""


class SendMessageResult(_Wire):
    message: MaxMessage


class MessageList(_Wire):
    messages: list[MaxMessage]


class SimpleResult(_Wire):
    success: bool
    message: str | None = None


class ChatMember(MaxUser):
    is_owner: bool = False
    is_admin: bool = False


class ChatMembersList(_Wire):
    members: list[ChatMember]
    marker: int | None = None


class UploadEndpoint(_Wire):
    url: str
    token: str | None = None  # video and audio: the token comes here, not from the upload


# ---------------------------------------------------------------------------------- errors


class MaxAPIError(Exception):
    """MAX answered with a status other than 200 (and, as a rule, `{"code", "message"}`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"HTTP {status} {code}: {message}")

    @property
    def token_rejected(self) -> bool:
        """401: MAX does not take the token; nothing goes until a new one is configured."""
        return self.status == 401

    @property
    def transient(self) -> bool:
        """Too many requests, or MAX's side failed: the same call may work later."""
        return self.status == 429 or self.status >= 500

    def says(self, needle: str) -> bool:
        return needle in self.code or needle in self.message


class MaxUnreachable(Exception):
    """No answer: a time-out or a dropped connection. The call may or may not have run."""


# ---------------------------------------------------------------------------------- client

Query = Mapping[str, str | int | bool | None]


class MaxClient:
    """One method per call the bot makes; each call once, rate-limited, never retried."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        session: aiohttp.ClientSession,
        rate: float = DEFAULT_RATE,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.session = session
        self.timeout = timeout
        self.limiter = RateLimiter(rate) if sleep is None else RateLimiter(rate, sleep=sleep)
        self.requests = 0  # how many requests this client made, for logs and tests
        # Set by the first 401: the token was revoked or never right, and no retry mends it.
        self.token_rejected = asyncio.Event()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109  (the request's own, for long polls)
        limited: bool = True,
    ) -> Any:
        """The JSON MAX answered with 200; MaxAPIError for any other status, MaxUnreachable
        when no answer came."""
        if limited:
            await self.limiter.acquire()
        params = {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in (query or {}).items()
            if v is not None
        }
        headers = {"Authorization": self._token}
        self.requests += 1
        try:
            async with self.session.request(
                method,
                self.api_url + path,
                params=params,
                json=body,
                headers=headers,
                timeout=ClientTimeout(total=timeout or self.timeout),
            ) as response:
                text = await response.text(encoding="utf-8")
                status = response.status
        except (ClientError, TimeoutError) as error:
            # Only the type: aiohttp's messages carry the URL.
            raise MaxUnreachable(f"{method} {path}: {type(error).__name__}") from None
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            answer = None
        if status != 200:
            try:
                refusal = ErrorBody.model_validate(answer)
            except ValidationError:
                refusal = ErrorBody(code=f"http.{status}", message="the answer is not MAX's JSON")
            if status == 401:
                self.token_rejected.set()
            raise MaxAPIError(status, refusal.code, refusal.message)
        if answer is None:
            raise MaxAPIError(status, "unexpected.response", "the answer is not JSON")
        return answer

    # -- messages ----------------------------------------------------------------------------

    async def send_message(
        self, body: dict[str, Any], *, user_id: int | None = None, chat_id: int | None = None
    ) -> MaxMessage:
        if (user_id is None) == (chat_id is None):
            raise ValueError("a message goes to a user_id or a chat_id")
        answer = await self.request(
            "POST", "/messages", query={"user_id": user_id, "chat_id": chat_id}, body=body
        )
        return SendMessageResult.model_validate(answer).message

    async def edit_message(self, message_id: str, body: dict[str, Any]) -> SimpleResult:
        answer = await self.request(
            "PUT", "/messages", query={"message_id": message_id}, body=body
        )
        return SimpleResult.model_validate(answer)

    async def answer_callback(
        self, callback_id: str, *, notification: str | None = None
    ) -> SimpleResult:
        body = {"notification": notification} if notification else {}
        answer = await self.request(
            "POST", "/answers", query={"callback_id": callback_id}, body=body
        )
        return SimpleResult.model_validate(answer)

    async def messages(self, chat_id: int, *, count: int = 50) -> list[MaxMessage]:
        """The chat's latest messages, the newest first (GET /messages, count 1..100)."""
        answer = await self.request(
            "GET", "/messages", query={"chat_id": chat_id, "count": max(1, min(count, 100))}
        )
        return MessageList.model_validate(answer).messages

    # -- updates -----------------------------------------------------------------------------

    async def updates(
        self,
        marker: int | None,
        *,
        timeout: int = 30,  # noqa: ASYNC109  (MAX's long-poll parameter, passed on)
        limit: int = 100,
        types: tuple[str, ...] = (),
    ) -> UpdateList:
        """A long poll; the request waits up to `timeout` seconds, so its own time-out is
        longer. Long polls are not counted against the rate limit's burst."""
        wait = max(0, min(timeout, POLL_TIMEOUT_MAX))
        answer = await self.request(
            "GET",
            "/updates",
            query={
                "marker": marker,
                "timeout": wait,
                "limit": limit,
                "types": ",".join(types) or None,
            },
            timeout=wait + 15,
        )
        return UpdateList.model_validate(answer)

    async def subscribe(self, url: str, secret: str, types: tuple[str, ...] = ()) -> SimpleResult:
        body: dict[str, Any] = {"url": url, "secret": secret}
        if types:
            body["update_types"] = list(types)
        return SimpleResult.model_validate(await self.request("POST", "/subscriptions", body=body))

    async def unsubscribe(self, url: str) -> SimpleResult:
        return SimpleResult.model_validate(
            await self.request("DELETE", "/subscriptions", query={"url": url})
        )

    # -- chats and files ---------------------------------------------------------------------

    async def chat_members(self, chat_id: int) -> list[ChatMember]:
        """Every member, page by page (the bot must be an admin of the chat)."""
        members: list[ChatMember] = []
        marker: int | None = None
        while True:
            answer = await self.request(
                "GET", f"/chats/{chat_id}/members", query={"count": 100, "marker": marker}
            )
            page = ChatMembersList.model_validate(answer)
            members.extend(page.members)
            if page.marker is None or not page.members:
                return members
            marker = page.marker

    async def upload_url(self, kind: str) -> UploadEndpoint:
        answer = await self.request("POST", "/uploads", query={"type": kind})
        return UploadEndpoint.model_validate(answer)

    async def post_file(self, url: str, filename: str, data: bytes) -> dict[str, Any]:
        """POST the file to the upload URL as multipart field `data`; its JSON answer. The
        upload URL is signed by MAX: the token does not go there."""
        # The name as UTF-8, not percent-encoded: people see it in the chat (maxapi does the same).
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("data", data, filename=filename)
        try:
            async with self.session.post(
                url, data=form, timeout=ClientTimeout(total=max(self.timeout, 120.0))
            ) as response:
                text = await response.text(encoding="utf-8")
                status = response.status
        except (ClientError, TimeoutError) as error:
            raise MaxUnreachable(f"upload: {type(error).__name__}") from None
        if status != 200:
            raise MaxAPIError(status, f"http.{status}", "the upload was not taken")
        try:
            answer = json.loads(text)
        except ValueError:
            raise MaxAPIError(
                status, "unexpected.response", "the upload answer is not JSON"
            ) from None
        if not isinstance(answer, dict):
            raise MaxAPIError(status, "unexpected.response", "the upload answer is no object")
        return answer
