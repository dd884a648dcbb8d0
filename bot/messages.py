"""Outgoing messages as the core writes them to the outbox, and what a messenger made of them.

Messenger-neutral: an address is (platform, kind, id), a keyboard is labels, payloads and
colours; the VK adapter turns them into `peer_ids`, `random_id` and VK keyboard JSON.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot import payloads
from bot.keyboards import Keyboard


class AddressKind(StrEnum):
    PERSON = "person"  # a private conversation with one person
    CHAT = "chat"  # a group chat


class Address(BaseModel):
    """Where a message goes: the messenger, a person or a chat, and the messenger's own id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str
    kind: AddressKind
    id: int

    @property
    def lane(self) -> str:
        return f"{self.platform}:{self.kind.value}:{self.id}"


class OutKind(StrEnum):
    SEND = "send"  # a new message to every address in `to`
    EDIT = "edit"  # replace message `edit` in conversation `to[0]`
    ANSWER = "answer"  # answer button press `event` of person `to[0]` in `where`


class Button(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    payload: str  # already encoded JSON, under the messenger's payload limit
    color: str


class Outgoing(BaseModel):
    """One message the rules want sent, with the key that makes sending it idempotent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, max_length=400)
    kind: OutKind = OutKind.SEND
    to: tuple[Address, ...] = Field(min_length=1)
    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] | None = None
    callback: bool = True  # callback buttons; text buttons for clients without them
    # A person who refuses private messages is mentioned in these chats instead.
    fallback: tuple[Address, ...] = ()
    edit: int | None = None  # the conversation's own message id, for EDIT
    event: str | None = None  # the button press's id, for ANSWER
    where: Address | None = None  # the conversation of the press, for ANSWER
    attachment: str | None = None  # an uploaded file, in the messenger's own notation

    @property
    def lane(self) -> str:
        """Messages of one lane leave in order; a message to many has a lane of its own."""
        if self.kind is OutKind.ANSWER:
            return f"answer:{self.key}"
        if len(self.to) == 1:
            return self.to[0].lane
        return f"many:{self.key}"

    def dedupe_id(self) -> int:
        """A stable non-zero 31-bit number from the key (VK's `random_id`)."""
        digest = hashlib.sha256(self.key.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def buttons_of(keyboard: Keyboard | None) -> tuple[tuple[Button, ...], ...] | None:
    if keyboard is None:
        return None
    return tuple(
        tuple(
            Button(label=b.label, payload=payloads.encode(b.payload), color=b.color.value)
            for b in row
        )
        for row in keyboard.rows
    )


class Outcome(StrEnum):
    SENT = "sent"  # done (for a message to many: for everyone not listed below)
    RETRY = "retry"  # a passing failure (rate limit, 5xx, time-out): try again later
    # The messenger cannot be used yet (MAX not reached since start-up, or its token refused):
    # try again later without using up the message's attempts, so nothing is given up meanwhile.
    WAIT = "wait"
    FAILED = "failed"  # the messenger refused this message for good
    SKIPPED = "skipped"  # the bot is no longer in the chat
    EDIT_IMPOSSIBLE = "edit_impossible"  # too old or gone: send it as a new message


@dataclass(frozen=True)
class Result:
    """What the messenger made of one outgoing message."""

    outcome: Outcome
    refused: tuple[int, ...] = ()  # people who do not accept private messages (VK 901/902/900)
    lost: tuple[int, ...] = ()  # chats the bot is no longer in (VK 7/917/945/946/983)
    error: str = ""
