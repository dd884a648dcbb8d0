"""The VK adapter: product keyboards and messages onto VK's wire format, via vkbottle's API."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import secrets
from pathlib import PurePosixPath
from typing import Any

from aiohttp import ClientError, ClientTimeout
from vkbottle import API, VKAPIError

from bot import payloads, texts
from bot.actions import CHAT_PEER_START, Incoming
from bot.delivery import NotAllowed, Sent, UploadFailed
from bot.keyboards import Keyboard
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


def update_ref() -> str | None:
    update = CURRENT_UPDATE.get() or {}
    message = (update.get("object") or {}).get("message") or {}
    ref = message.get("ref") if isinstance(message, dict) else None
    return ref[:32] if isinstance(ref, str) and ref else None


# VK refuses private messages to a user who has not allowed them (error 901).
ERROR_NOT_ALLOWED = 901
# VK: "You don't have access to this chat" — the community was removed from it.
ERROR_NO_CHAT_ACCESS = 917
# messages.send takes at most 100 peer_ids (dev.vk.com/method/messages.send).
MAX_PEER_IDS = 100
# Snackbar texts are limited to 90 characters by VK.
SNACKBAR_LIMIT = 90
# Posting a file to an upload server: a report of a large district is some megabytes.
UPLOAD_TIMEOUT = 120.0
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def keyboard_json(keyboard: Keyboard, *, callback: bool = True) -> str:
    """An inline VK keyboard; `text` buttons for clients without callback support."""
    kind = "callback" if callback else "text"
    rows = [
        [
            {
                "action": {
                    "type": kind,
                    "label": button.label[:40],
                    "payload": payloads.encode(button.payload),
                },
                "color": button.color.value,
            }
            for button in row
        ]
        for row in keyboard.rows
    ]
    return json.dumps({"inline": True, "buttons": rows}, ensure_ascii=False)


def random_id() -> int:
    """A non-zero random_id: VK deduplicates messages by it."""
    return secrets.randbelow(2**31 - 1) + 1


class VKMessenger:
    """`bot.delivery.Messenger` over VK's API."""

    def __init__(self, api: API) -> None:
        self.api = api
        # Chats VK says we cannot reach (917): logged once, skipped until we are invited back.
        self.unreachable_chats: set[int] = set()

    def mark_chat_reachable(self, peer_id: int) -> None:
        self.unreachable_chats.discard(peer_id)

    async def send(
        self,
        peer_id: int,
        text: str,
        keyboard: Keyboard | None,
        *,
        callback: bool = True,
        dedup: int | None = None,
    ) -> Sent:
        return await self._send(peer_id, text, keyboard, callback=callback, dedup=dedup)

    async def _send(
        self,
        peer_id: int,
        text: str,
        keyboard: Keyboard | None,
        *,
        callback: bool = True,
        dedup: int | None = None,
        attachment: str | None = None,
    ) -> Sent:
        """`send`, with an attachment (`doc-1_2`, `photo-1_3`) on the last part if given."""
        sent = Sent(peer_id, 0, 0)
        if peer_id in self.unreachable_chats:
            return sent
        parts = texts.split_message(text)
        for index, part in enumerate(parts):
            params: dict[str, Any] = {
                "peer_ids": str(peer_id),
                "message": part,
                "random_id": random_id() if dedup is None else (dedup + index) % 2**31 or 1,
            }
            last = index == len(parts) - 1
            if keyboard is not None and last:
                params["keyboard"] = keyboard_json(keyboard, callback=callback)
            if attachment is not None and last:
                params["attachment"] = attachment
            try:
                response = await self.api.request("messages.send", params)
            except VKAPIError as error:
                if error.code == ERROR_NOT_ALLOWED:
                    raise NotAllowed(peer_id) from error
                if error.code == ERROR_NO_CHAT_ACCESS and peer_id >= CHAT_PEER_START:
                    log.warning(
                        "no access to chat %s (VK error 917); is the community still in it? "
                        "Messages to it are skipped until it is added again",
                        peer_id,
                    )
                    self.unreachable_chats.add(peer_id)
                    return sent
                raise
            item = response["response"][0]
            refusal = item.get("error")
            if refusal:
                if refusal.get("code") == ERROR_NOT_ALLOWED:
                    raise NotAllowed(peer_id)
                if refusal.get("code") == ERROR_NO_CHAT_ACCESS and peer_id >= CHAT_PEER_START:
                    log.warning("no access to chat %s (VK error 917); skipping it", peer_id)
                    self.unreachable_chats.add(peer_id)
                    return sent
                raise RuntimeError(f"messages.send to {peer_id}: {refusal}")
            sent = Sent(
                peer_id,
                int(item.get("message_id", 0)),
                int(item.get("conversation_message_id", 0)),
            )
        return sent

    async def send_many(
        self, peer_ids: list[int], text: str, keyboard: Keyboard | None, *, dedup: int | None
    ) -> dict[int, bool]:
        """One `messages.send` with `peer_ids` (VK takes up to 100): one request, not 100."""
        if len(peer_ids) > MAX_PEER_IDS:
            raise ValueError(f"at most {MAX_PEER_IDS} peers per call")
        if len(text) > texts.MESSAGE_LIMIT:
            raise ValueError("a batched text must fit one message")
        params: dict[str, Any] = {
            "peer_ids": ",".join(str(p) for p in peer_ids),
            "message": text,
            "random_id": random_id() if dedup is None else dedup,
        }
        if keyboard is not None:
            params["keyboard"] = keyboard_json(keyboard)
        response = await self.api.request("messages.send", params)
        results: dict[int, bool] = {}
        for item in response["response"]:
            refusal = item.get("error")
            if refusal and refusal.get("code") != ERROR_NOT_ALLOWED:
                log.warning("messages.send to %s refused: %s", item.get("peer_id"), refusal)
            results[int(item["peer_id"])] = not refusal
        return results

    async def edit(
        self, peer_id: int, conversation_message_id: int, text: str, keyboard: Keyboard | None
    ) -> bool:
        if len(text) > texts.MESSAGE_LIMIT:
            return False
        params: dict[str, Any] = {
            "peer_id": peer_id,
            "conversation_message_id": conversation_message_id,
            "message": text,
            # An empty keyboard removes the old buttons from the edited message.
            "keyboard": (
                keyboard_json(keyboard)
                if keyboard is not None
                else json.dumps({"inline": True, "buttons": []})
            ),
        }
        try:
            await self.api.request("messages.edit", params)
        except VKAPIError as error:
            log.info("messages.edit refused (%s): sending a new message", error.code)
            return False
        return True

    async def snackbar(self, incoming: Incoming, text: str) -> None:
        if incoming.callback_id is None:
            return
        params: dict[str, Any] = {
            "event_id": incoming.callback_id,
            "user_id": incoming.user_id,
            "peer_id": incoming.peer_id,
        }
        if text:
            params["event_data"] = json.dumps(
                {"type": "show_snackbar", "text": text[:SNACKBAR_LIMIT]}, ensure_ascii=False
            )
        try:
            await self.api.request("messages.sendMessageEventAnswer", params)
        except VKAPIError as error:
            # The press was handled; a missed pop-up is not worth failing the update for.
            log.info("sendMessageEventAnswer refused (%s)", error.code)

    async def user_name(self, user_id: int) -> str | None:
        try:
            response = await self.api.request("users.get", {"user_ids": str(user_id)})
        except VKAPIError as error:
            log.info("users.get refused (%s)", error.code)
            return None
        users = response.get("response") or []
        if not users:
            return None
        return f"{users[0].get('first_name', '')} {users[0].get('last_name', '')}".strip() or None

    async def chat_members(self, peer_id: int) -> list[int] | None:
        """messages.getConversationMembers; VK shows them only to a community that is an admin
        of the chat (error 917 otherwise)."""
        try:
            response = await self.api.request(
                "messages.getConversationMembers", {"peer_id": peer_id}
            )
        except VKAPIError as error:
            log.info("cannot read the members of chat %s (VK error %s)", peer_id, error.code)
            return None
        items = response.get("response", {}).get("items", [])
        return [int(item["member_id"]) for item in items if int(item["member_id"]) > 0]

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
        return int(found["object_id"])

    # -- files: upload server, upload, save, then messages.send with the attachment ----------
    #
    # The shapes of every step, with where they come from, are in bot/vk_emulator_uploads.py:
    # docs.getMessagesUploadServer(type=doc, peer_id) -> {"upload_url"}; POST field `file` ->
    # {"file"}; docs.save(file, title) -> {"type": "doc", "doc": {"id", "owner_id", ...}};
    # photos.getMessagesUploadServer(peer_id) -> {"upload_url", "album_id", "group_id"}; POST
    # field `photo` -> {"server", "photo", "hash"}; photos.saveMessagesPhoto(server, photo,
    # hash) -> [{"id", "owner_id", "sizes", ...}]. The upload URL carries its own signature,
    # so the token is not sent there; neither it nor the URL is logged.

    async def send_file(
        self, peer_id: int, filename: str, data: bytes, text: str, *, dedup: int | None = None
    ) -> None:
        if peer_id in self.unreachable_chats:
            return
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
        attachment = _attachment("doc", doc)
        await self._send(peer_id, text, None, dedup=dedup, attachment=attachment)

    async def send_photo(
        self, peer_id: int, filename: str, data: bytes, text: str, *, dedup: int | None = None
    ) -> None:
        if peer_id in self.unreachable_chats:
            return
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
        attachment = _attachment("photo", saved[0])
        await self._send(peer_id, text, None, dedup=dedup, attachment=attachment)

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


def incoming_message(message: Any, group_id: int) -> Incoming:
    """A vkbottle `Message` as the flow sees it."""
    text = message.text or ""
    return Incoming(
        user_id=message.from_id,
        peer_id=message.peer_id,
        text=text,
        payload=message.payload,
        event_id=_update_event_id(),
        conversation_message_id=message.conversation_message_id,
        supports_callback=supports_callback(message.client_info),
        addressed=message.payload is not None or is_addressed(text, message.peer_id, group_id),
        ref=update_ref(),
    )


def incoming_event(event: Any) -> Incoming:
    """A vkbottle `MessageEvent` (a callback button press) as the flow sees it."""
    obj = event.object
    return Incoming(
        user_id=obj.user_id,
        peer_id=obj.peer_id,
        payload=obj.payload,
        event_id=_update_event_id(),
        callback_id=obj.event_id,
        is_callback=True,
        conversation_message_id=obj.conversation_message_id,
    )
