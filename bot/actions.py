"""What the flow asks for: an incoming message as the product sees it, and outgoing actions.

Messenger-neutral: the VK adapter turns updates into `Incoming` and carries out the actions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.keyboards import Keyboard


@dataclass(frozen=True)
class Incoming:
    """One message or button press, whatever the messenger.

    `user_id` is the person's id (the product's own, see storage/migrations/0008); `peer_id` the
    conversation as the messenger names it, and the adapter says whether it is a chat.
    """

    user_id: int
    peer_id: int
    in_chat: bool = False
    text: str = ""
    payload: Any = None
    event_id: str | None = None  # the update's id, to count a replayed update once
    callback_id: str | None = None  # a button press's own id, to answer it
    is_callback: bool = False
    conversation_message_id: int | None = None
    supports_callback: bool = True
    addressed: bool = True  # in a chat: mentions the bot or starts with "/"
    ref: str | None = None  # a vk.me link's `ref` on the first message (a registration code)
    # The messenger it came on ("vk", "max"): replies go back there, whatever other messenger
    # the person is known on too. None: by the peer's number (bot/app.py both_address).
    platform: str | None = None
    attachments: bool = False  # a sticker, voice message, photo, file or forwarded message
    # When the person wrote it, by the messenger's clock (VK's `date`); None for a button
    # press, which VK does not date.
    sent_at: dt.datetime | None = None

    @property
    def origin(self) -> str:
        return f"{self.peer_id}:{self.conversation_message_id or 0}"


@dataclass(frozen=True)
class Reply:
    """A new message in the conversation the update came from."""

    text: str
    keyboard: Keyboard | None = None


@dataclass(frozen=True)
class SendTo:
    peer_id: int
    text: str
    keyboard: Keyboard | None = None


@dataclass(frozen=True)
class Private:
    """A private message; if the messenger refuses it, a mention in `fallback_peer` instead."""

    user_id: int
    text: str
    keyboard: Keyboard | None = None
    fallback_peer: int | None = None


@dataclass(frozen=True)
class Edit:
    """Replace the message whose button was pressed (a callback); else send a new one."""

    text: str
    keyboard: Keyboard | None = None


@dataclass(frozen=True)
class Snackbar:
    text: str


class FileKind(StrEnum):
    DOCUMENT = "document"  # a file to download (the Excel report)
    PHOTO = "photo"  # a picture shown in the conversation


@dataclass(frozen=True)
class SendFile:
    """A file with a caption to a conversation; if the messenger refuses the file,
    `on_failure` is said there instead (nothing if it is empty)."""

    peer_id: int
    filename: str
    data: bytes = field(repr=False)
    text: str
    kind: FileKind = FileKind.DOCUMENT
    on_failure: str = ""


Action = Reply | SendTo | Private | Edit | Snackbar | SendFile
