"""The VK adapter: product keyboards and messages onto VK's wire format, via vkbottle's API."""

from __future__ import annotations

import contextvars
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from aiohttp import ClientError, ClientTimeout
from vkbottle import API, VKAPIError

from bot import mentions
from bot.actions import FileKind, Incoming
from bot.messages import Address, AddressKind, Button, Outcome, Outgoing, OutKind, Result
from bot.outbox import UploadFailed
from bot.vk_api import TransientError

log = logging.getLogger(__name__)

# The raw VK update being handled, set by the runner for the handler's task: vkbottle's models
# drop what they do not know (the update's `event_id`, a vk.me link's `ref`).
CURRENT_UPDATE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "confirmbot_update", default=None
)


def _update_event_id() -> str | None:
    update = CURRENT_UPDATE.get()
    event_id = None if update is None else update.get("event_id")
    return event_id if isinstance(event_id, str) else None


def _update_message() -> dict[str, Any]:
    """The raw message of the `message_new` being handled, or the object of another update."""
    update = CURRENT_UPDATE.get() or {}
    obj = update.get("object")
    if not isinstance(obj, dict):
        return {}
    message = obj.get("message")
    return message if isinstance(message, dict) else obj


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def update_ref() -> str | None:
    ref = _update_message().get("ref")
    return ref[:32] if isinstance(ref, str) and ref else None


# Snackbar texts are limited to 90 characters by VK.
SNACKBAR_LIMIT = 90
# Posting a file to an upload server: a report of a large district is some megabytes.
UPLOAD_TIMEOUT = 120.0
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def keyboard_json(buttons: tuple[tuple[Button, ...], ...] | None, *, callback: bool = True) -> str:
    """An inline VK keyboard; `text` buttons for clients without callback support."""
    kind = "callback" if callback else "text"
    rows = [
        [
            {
                "action": {"type": kind, "label": b.label[:40], "payload": b.payload},
                "color": b.color,
            }
            for b in row
        ]
        for row in buttons or ()
    ]
    return json.dumps({"inline": True, "buttons": rows}, ensure_ascii=False)


# VK refuses private messages to someone who has not allowed them (901), whose privacy
# settings forbid them (902), or who blacklisted the community (900).
NOT_ALLOWED = frozenset({900, 901, 902})
# The community is not in the chat any more: 7 ("kicked out of the conversation"), 917 (no
# access to the chat), 945 (chat disabled), 946 (chat not supported), 983 (not in the chat).
CHAT_LOST = frozenset({7, 917, 945, 946, 983})
# Passing failures: too many requests, flood control, internal server error.
RETRYABLE = frozenset({6, 9, 10})
# VK's execute runs at most 25 API calls (dev.vk.com/method/execute).
EXECUTE_LIMIT = 25
# Members of a chat asked for at once: VK's default is 20, its schema allows up to 1000; 200
# keeps a district's heads chat to a call or two.
MEMBERS_PAGE = 200
# An edit with this keyboard takes the old buttons away (dev.vk.com/api/bots/development/
# keyboard: "to hide the keyboard, send an empty one").
NO_KEYBOARD = json.dumps({"buttons": []})
# 12/13: VK could not compile or run the code: our bug, and no retry will help.
EXECUTE_BROKEN = frozenset({12, 13})


def _vkscript(method: str, params: dict[str, Any]) -> str:
    # VKScript takes JSON literals (the vk_api library's VkRequestsPool builds calls the same way).
    return f"API.{method}({json.dumps(params, ensure_ascii=False, separators=(',', ':'))})"


class VKTransport:
    """The outbox's messages as VK calls, up to 25 in one `execute` request."""

    platform = "vk"
    batch_size = EXECUTE_LIMIT

    def __init__(self, api: API) -> None:
        self.api = api

    async def send_batch(self, messages: Sequence[Outgoing]) -> list[Result]:
        if not messages:
            return []
        calls = [_call(message) for message in messages]
        code = "return [" + ",".join(_vkscript(m, p) for m, p in calls) + "];"
        try:
            body = await self.api.request("execute", {"code": code})
        except VKAPIError as error:
            outcome = Outcome.FAILED if error.code in EXECUTE_BROKEN else Outcome.RETRY
            log.warning("execute of %d calls refused: VK error %s", len(calls), error.code)
            return [Result(outcome, error=f"VK error {error.code}")] * len(messages)
        except (TransientError, ClientError, TimeoutError, OSError) as error:
            return [Result(Outcome.RETRY, error=type(error).__name__)] * len(messages)
        values = body.get("response")
        if not isinstance(values, list) or len(values) != len(messages):
            return [Result(Outcome.RETRY, error="execute answered no list")] * len(messages)
        errors = iter(body.get("execute_errors") or [])
        results = []
        for message, value in zip(messages, values, strict=True):
            if value is False:
                failure: Any = next(errors, {})
                number: Any = failure.get("error_code") if isinstance(failure, dict) else None
                results.append(_refusal(message, number if isinstance(number, int) else 0))
            else:
                results.append(_success(message, value))
        return results


# VK's mention markup (dev.vk.com/ru/api/bots/development/messages): `[id1|Имя]`, `[club1|..]`,
# `[public1|..]`, and `@` or `*` before a name: `@id1`, `*durov`, `@all`, `@online`.
_AT_SIGN = re.compile(r"(?<![\w@*＠∗])[@*](?=\w)")
_AT_SIGNS = str.maketrans({"@": "＠", "*": "∗"})
_BRACKETS = str.maketrans({"[": "(", "]": ")", "|": "/"})
_BRACKET_MARKUP = re.compile(r"\[[^\[\]\n]*\|[^\[\]\n]*\]")


def neutral(text: str) -> str:
    """Text shown as written, never as VK markup: `@all` pings nobody, `[id1|x]` links nowhere.

    For whatever came from a person or a file (a reason, a school's or a person's name): a
    mention's `@` or `*` becomes its full-width look-alike, and a `[target|text]` its round
    brackets, `(target/text)`. The bot's own mentions are not text but `bot.mentions` tokens.
    """
    text = _BRACKET_MARKUP.sub(lambda m: m.group().translate(_BRACKETS), text)
    return _AT_SIGN.sub(lambda m: m.group().translate(_AT_SIGNS), text)


def vk_mention(person_id: int, name: str) -> str:
    """VK's mention markup; a name may not close it early nor mention anyone else."""
    return f"[id{vk_user_of(person_id)}|{neutral(name).translate(_BRACKETS)}]"


def vk_text(text: str) -> str:
    """The text VK gets: the bot's mentions as VK markup, every other character as written."""
    return mentions.render(text, vk_mention, neutral)


def vk_peer(address: Address) -> int:
    """The VK peer id of an address: a chat's own, a person's VK user id."""
    return vk_user_of(address.id) if address.kind is AddressKind.PERSON else address.id


def _call(message: Outgoing) -> tuple[str, dict[str, Any]]:
    if message.kind is OutKind.ANSWER:
        params: dict[str, Any] = {
            "event_id": message.event or "",
            "user_id": vk_peer(message.to[0]),
            "peer_id": vk_peer(message.where if message.where is not None else message.to[0]),
        }
        if message.text:
            params["event_data"] = json.dumps(
                {"type": "show_snackbar", "text": message.text[:SNACKBAR_LIMIT]},
                ensure_ascii=False,
            )
        return "messages.sendMessageEventAnswer", params
    if message.kind is OutKind.EDIT:
        return "messages.edit", {
            "peer_id": vk_peer(message.to[0]),
            "conversation_message_id": message.edit or 0,
            "message": vk_text(message.text),
            # messages.edit replaces the whole message: the old buttons go unless sent again.
            "keyboard": keyboard_json(message.buttons, callback=True)
            if message.buttons
            else NO_KEYBOARD,
        }
    params = {
        "peer_ids": ",".join(str(vk_peer(a)) for a in message.to),
        "message": vk_text(message.text),
        "random_id": message.dedupe_id(),
    }
    if not mentions.has_mention(message.text):
        # Nobody is meant to be notified: whatever slipped past `neutral` pings no one.
        params["disable_mentions"] = 1
    if message.buttons is not None:
        params["keyboard"] = keyboard_json(message.buttons, callback=message.callback)
    if message.attachment:
        params["attachment"] = message.attachment
    return "messages.send", params


def _refusal(message: Outgoing, code: int) -> Result:
    """A call VK refused as a whole (`false` in execute's response, its code in
    execute_errors)."""
    error = f"VK error {code}"
    if code in RETRYABLE:
        return Result(Outcome.RETRY, error=error)
    if message.kind is OutKind.EDIT:
        return Result(Outcome.EDIT_IMPOSSIBLE, error=error)
    if message.kind is OutKind.SEND:
        people = tuple(a.id for a in message.to if a.kind is AddressKind.PERSON)
        chats = tuple(a.id for a in message.to if a.kind is AddressKind.CHAT)
        if code in NOT_ALLOWED and people:
            return Result(Outcome.SENT, refused=people, error=error)
        if code in CHAT_LOST and chats:
            return Result(Outcome.SKIPPED, lost=chats, error=error)
    return Result(Outcome.FAILED, error=error)


def _success(message: Outgoing, value: Any) -> Result:
    """A call that ran; `messages.send` with peer_ids still answers per peer."""
    if message.kind is not OutKind.SEND or not isinstance(value, list):
        return Result(Outcome.SENT)
    refused: list[int] = []
    lost: list[int] = []
    retry = failed = ""
    for item in value:
        refusal = item.get("error") if isinstance(item, dict) else None
        if not refusal:
            continue
        peer = int(item.get("peer_id", 0))
        code = refusal.get("code") if isinstance(refusal, dict) else None
        if code in NOT_ALLOWED and peer < CHAT_PEER_START:
            refused.append(person_of(peer))
        elif code in CHAT_LOST and peer >= CHAT_PEER_START:
            lost.append(peer)
        elif code in RETRYABLE:
            retry = f"VK error {code}"
        else:
            failed = f"VK error {code} for {peer}"
    if retry:
        # Again for everyone: random_id keeps those who got it from getting it twice.
        return Result(Outcome.RETRY, error=retry)
    if failed and len(message.to) == 1:
        return Result(Outcome.FAILED, error=failed)
    if failed:
        log.warning("messages.send to %d peers: %s", len(message.to), failed)
    if lost and len(lost) == len(message.to):
        return Result(Outcome.SKIPPED, lost=tuple(lost), error="chat lost")
    return Result(Outcome.SENT, refused=tuple(refused), lost=tuple(lost))


class VKMessenger:
    """What the bot reads from VK (names, chat members) and its file uploads."""

    def __init__(self, api: API) -> None:
        self.api = api

    async def user_name(self, person_id: int) -> str | None:
        try:
            response = await self.api.request(
                "users.get", {"user_ids": str(vk_user_of(person_id))}
            )
        except VKAPIError as error:
            log.info("users.get refused (%s)", error.code)
            return None
        users = response.get("response") or []
        if not users:
            return None
        return f"{users[0].get('first_name', '')} {users[0].get('last_name', '')}".strip() or None

    async def chat_members(self, peer_id: int) -> list[int] | None:
        """messages.getConversationMembers, page by page; VK shows them only to a community
        that is an admin of the chat (error 917 otherwise).

        VK answers 20 members unless asked for more, so a heads chat of 30 would otherwise
        show 10 heads as missing; `count` in the answer is the whole chat.
        """
        members: list[int] = []
        offset = 0
        while True:
            try:
                response = await self.api.request(
                    "messages.getConversationMembers",
                    {"peer_id": peer_id, "count": MEMBERS_PAGE, "offset": offset},
                )
            except VKAPIError as error:
                log.info("cannot read the members of chat %s (VK error %s)", peer_id, error.code)
                return None
            page = response.get("response") or {}
            items = page.get("items") or []
            members += [person_of(int(i["member_id"])) for i in items if int(i["member_id"]) > 0]
            offset += len(items)
            total = page.get("count")
            if not items or not isinstance(total, int) or offset >= total:
                return members

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        try:
            response = await self.api.request(
                "utils.resolveScreenName", {"screen_name": screen_name}
            )
        except VKAPIError as error:
            log.info("utils.resolveScreenName refused (%s)", error.code)
            return None
        found = response.get("response")
        # VK answers an empty list for a name that is nobody's
        # (dev.vk.com/method/utils.resolveScreenName).
        if not isinstance(found, dict) or found.get("type") != "user":
            return None
        return person_of(int(found["object_id"]))

    # -- files: upload server, upload, save, then messages.send with the attachment ----------
    #
    # The shapes of every step, with where they come from, are in bot/vk_emulator_uploads.py:
    # docs.getMessagesUploadServer(type=doc, peer_id) -> {"upload_url"}; POST field `file` ->
    # {"file"}; docs.save(file, title) -> {"type": "doc", "doc": {"id", "owner_id", ...}};
    # photos.getMessagesUploadServer(peer_id) -> {"upload_url", "album_id", "group_id"}; POST
    # field `photo` -> {"server", "photo", "hash"}; photos.saveMessagesPhoto(server, photo,
    # hash) -> [{"id", "owner_id", "sizes", ...}]. The upload URL carries its own signature,
    # so the token is not sent there; neither it nor the URL is logged.

    async def upload(self, to: Address, filename: str, data: bytes, kind: FileKind) -> str:
        """`bot.outbox.Uploader`: the attachment string (`doc-1_2`, `photo-1_3_key`)."""
        if kind is FileKind.PHOTO:
            return await self._upload_photo(vk_peer(to), filename, data)
        return await self._upload_doc(vk_peer(to), filename, data)

    async def _upload_doc(self, peer_id: int, filename: str, data: bytes) -> str:
        server = await self._upload_call(
            "docs.getMessagesUploadServer", {"type": "doc", "peer_id": peer_id}
        )
        uploaded = await self._post_file(server, "file", filename, data)
        file = uploaded.get("file")
        if not isinstance(file, str) or not file:
            raise UploadFailed("the upload server answered no `file`")
        # The title is the name people see and download; the upload only needs the suffix.
        saved = await self._upload_call("docs.save", {"file": file, "title": filename})
        kind = saved.get("type") if isinstance(saved, dict) else None
        doc = saved.get(kind) if isinstance(saved, dict) and isinstance(kind, str) else None
        if kind != "doc" or not isinstance(doc, dict):
            raise UploadFailed(f"docs.save answered type {kind!r}, not a doc")
        return _attachment("doc", doc)

    async def _upload_photo(self, peer_id: int, filename: str, data: bytes) -> str:
        server = await self._upload_call("photos.getMessagesUploadServer", {"peer_id": peer_id})
        uploaded = await self._post_file(server, "photo", filename, data)
        photo = uploaded.get("photo")
        # "[]": VK took the upload but found no picture in it (VKCOM/vk-java-sdk#42).
        if not isinstance(photo, str) or photo in ("", "[]"):
            raise UploadFailed("the upload server found no picture in the file")
        saved = await self._upload_call(
            "photos.saveMessagesPhoto",
            {
                "photo": photo,
                "server": uploaded.get("server", ""),
                "hash": uploaded.get("hash", ""),
            },
        )
        if not isinstance(saved, list) or not saved or not isinstance(saved[0], dict):
            raise UploadFailed("photos.saveMessagesPhoto answered no photo")
        return _attachment("photo", saved[0])

    async def _upload_call(self, method: str, params: dict[str, Any]) -> Any:
        """An API call of an upload; any failure is the upload's (UploadFailed)."""
        try:
            response = await self.api.request(method, params)
        except VKAPIError as error:
            raise UploadFailed(f"{method}: VK error {error.code}") from error
        except (TransientError, ClientError, TimeoutError) as error:
            raise UploadFailed(f"{method}: {type(error).__name__}") from error
        return response.get("response")

    async def _post_file(
        self, server: Any, field: str, filename: str, data: bytes
    ) -> dict[str, Any]:
        """POST the file to the upload server as multipart field `field`; its JSON answer."""
        url = server.get("upload_url") if isinstance(server, dict) else None
        if not isinstance(url, str) or not url:
            raise UploadFailed("no upload_url in the answer")
        body = io.BytesIO(data)
        # aiohttp would percent-encode a Cyrillic name in the multipart header; the server only
        # needs the suffix to know the type, and docs.save gets the real name as the title.
        body.name = upload_name(filename)
        try:
            response = await self.api.http_client.request_raw(
                url,
                method="POST",
                data={field: body},
                timeout=ClientTimeout(total=UPLOAD_TIMEOUT),
            )
            text = await response.text(encoding="utf-8")
        except (ClientError, TimeoutError) as error:
            # Only the type: aiohttp's messages carry the URL.
            raise UploadFailed(f"upload: {type(error).__name__}") from error
        if response.status != 200:
            raise UploadFailed(f"upload: HTTP {response.status}")
        try:
            answer = json.loads(text)
        except ValueError:
            raise UploadFailed("upload: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise UploadFailed("upload: the answer is not an object")
        if "error" in answer:
            # {"error": "unknown error"} is how VK's upload servers refuse (vk-android-sdk#350).
            raise UploadFailed(f"upload refused: {str(answer['error'])[:200]}")
        return answer


def upload_name(filename: str) -> str:
    """An ASCII name with the file's suffix: `Отчет_приказ_47.xlsx` -> `47.xlsx`."""
    path = PurePosixPath(filename)
    stem = _UNSAFE_IN_NAME.sub("_", path.stem).strip("_.") or "file"
    suffix = _UNSAFE_IN_NAME.sub("", path.suffix)
    return f"{stem}{suffix}"


def _attachment(kind: str, item: dict[str, Any]) -> str:
    """`doc-123_456`, `photo-123_789_<access_key>` (vkbottle's generate_attachment_string)."""
    try:
        owner_id, item_id = int(item["owner_id"]), int(item["id"])
    except (KeyError, TypeError, ValueError):
        raise UploadFailed(f"the saved {kind} has no owner_id and id") from None
    access_key = item.get("access_key")
    suffix = f"_{access_key}" if isinstance(access_key, str) and access_key else ""
    return f"{kind}{owner_id}_{item_id}{suffix}"


def is_addressed(text: str, peer_id: int, group_id: int) -> bool:
    """In a chat: does the message start with "/" or mention this community?"""
    if peer_id < CHAT_PEER_START:
        return True
    stripped = text.lstrip()
    return stripped.startswith("/") or stripped.startswith(
        (f"[club{group_id}|", f"[public{group_id}|")
    )


def supports_callback(client_info: Any) -> bool:
    actions = getattr(client_info, "button_actions", None)
    if actions is None:
        return True
    return "callback" in [getattr(a, "value", a) for a in actions]


# VK numbers chats as peers from 2,000,000,000 on; people keep their user ids as peers.
CHAT_PEER_START = 2_000_000_000


def vk_address(peer_id: int) -> Address:
    """A VK conversation's address in the product's terms: a chat or a person."""
    kind = AddressKind.CHAT if peer_id >= CHAT_PEER_START else AddressKind.PERSON
    own = person_of(peer_id) if kind is AddressKind.PERSON else peer_id
    return Address(platform=VKTransport.platform, kind=kind, id=own)


def person_of(user_id: int) -> int:
    """The person id of a VK account: a VK-born person's id is their VK user id
    (storage/migrations/0008_people_accounts.sql), so no lookup is needed on VK."""
    return user_id


def vk_user_of(person_id: int) -> int:
    """The VK user id of a person (the inverse of `person_of`)."""
    return person_id


def update_author(update: dict[str, Any]) -> int | None:
    """Who sent a raw long-poll update (a message or a button press), so one person's updates
    stay in order while different people's run side by side; None for anything else."""
    obj = update.get("object")
    if not isinstance(obj, dict):
        return None
    if update.get("type") == "message_new":
        message = obj.get("message")
        if not isinstance(message, dict) or message.get("action") is not None:
            return None  # a chat's service message (invited, joined, left) runs alone
        author = message.get("from_id")
    elif update.get("type") == "message_event":
        author = obj.get("user_id")
    else:
        return None
    # A community's own messages (negative ids) run alone.
    return author if isinstance(author, int) and author > 0 else None


def _update_cmid(default: int | None) -> int | None:
    """The message's id in its conversation: `conversation_message_id`, or `cmid` as 5.199
    also names it (vkbottle's models know only the first)."""
    message = _update_message()
    found = _positive_int(message.get("conversation_message_id"))
    return found or _positive_int(message.get("cmid")) or default


def _update_date() -> dt.datetime | None:
    """When the person wrote the message: its `date`, set by VK's servers (Unix time)."""
    date = _positive_int(_update_message().get("date"))
    try:
        return None if date is None else dt.datetime.fromtimestamp(date, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def incoming_message(message: Any, group_id: int) -> Incoming:
    """A vkbottle `Message` as the flow sees it."""
    text = message.text or ""
    return Incoming(
        user_id=person_of(message.from_id),
        peer_id=message.peer_id,
        in_chat=message.peer_id >= CHAT_PEER_START,
        text=text,
        payload=message.payload,
        event_id=_update_event_id(),
        conversation_message_id=_update_cmid(message.conversation_message_id),
        supports_callback=supports_callback(message.client_info),
        addressed=message.payload is not None or is_addressed(text, message.peer_id, group_id),
        ref=update_ref(),
        attachments=has_attachments(message),
        sent_at=_update_date(),
        platform="vk",
    )


def has_attachments(message: Any) -> bool:
    """A sticker, a voice message, a photo, a file, a place or forwarded messages."""
    return any(getattr(message, name, None) for name in ("attachments", "fwd_messages", "geo"))


def incoming_event(event: Any) -> Incoming:
    """A vkbottle `MessageEvent` (a callback button press) as the flow sees it."""
    obj = event.object
    return Incoming(
        user_id=person_of(obj.user_id),
        peer_id=obj.peer_id,
        in_chat=obj.peer_id >= CHAT_PEER_START,
        payload=obj.payload,
        event_id=_update_event_id(),
        callback_id=obj.event_id,
        is_callback=True,
        conversation_message_id=_update_cmid(obj.conversation_message_id),
        platform="vk",
    )
