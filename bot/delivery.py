"""Carry out the flow's actions through a messenger, with the private-message fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

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
from bot.clock import Clock
from bot.keyboards import Keyboard
from storage.repositories import ConversationRepository, RosterRepository

log = logging.getLogger(__name__)


class NotAllowed(Exception):
    """The messenger refused a private message: the person has not allowed it (VK 901)."""


class UploadFailed(Exception):
    """The messenger did not take a file: its upload server or its API refused, or failed."""


@dataclass(frozen=True)
class Sent:
    peer_id: int
    message_id: int
    conversation_message_id: int


class Messenger(Protocol):
    """What the product needs from a messenger; VK is one implementation, MAX will be another."""

    async def send(
        self,
        peer_id: int,
        text: str,
        keyboard: Keyboard | None,
        *,
        callback: bool = True,
        dedup: int | None = None,
    ) -> Sent:
        """Send a message (split under the length limit); raise NotAllowed if refused.

        `dedup`, if given, makes a repeat of the same send a no-op on the messenger's side
        (VK's random_id); otherwise every send is new.
        """
        ...

    async def send_many(
        self, peer_ids: list[int], text: str, keyboard: Keyboard | None, *, dedup: int | None
    ) -> dict[int, bool]:
        """Send one text to many people at once; for each, True or False if refused (901).

        Private peers only; at most `BATCH` of them per call.
        """
        ...

    async def edit(
        self, peer_id: int, conversation_message_id: int, text: str, keyboard: Keyboard | None
    ) -> bool:
        """Replace a message's text and keyboard; False if it cannot be edited."""
        ...

    async def snackbar(self, incoming: Incoming, text: str) -> None:
        """Answer a button press with a short pop-up."""
        ...

    async def user_name(self, user_id: int) -> str | None:
        """The person's name as the messenger shows it ("Имя Фамилия")."""
        ...

    async def chat_members(self, peer_id: int) -> list[int] | None:
        """The people in a chat, or None if the messenger will not show them to the bot."""
        ...

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        """A person's id for a screen name (`ivanov_ii`), or None if it names nobody."""
        ...

    async def send_file(
        self, peer_id: int, filename: str, data: bytes, text: str, *, dedup: int | None = None
    ) -> None:
        """Send a document to download, with `text` as its caption.

        Raise UploadFailed if the file is not taken (nothing is sent then); NotAllowed as
        `send` does.
        """
        ...

    async def send_photo(
        self, peer_id: int, filename: str, data: bytes, text: str, *, dedup: int | None = None
    ) -> None:
        """Send a picture (PNG or JPEG) shown in the conversation, with `text` as its caption.

        Raise UploadFailed if the picture is not taken (nothing is sent then).
        """
        ...


class Delivery:
    def __init__(
        self,
        messenger: Messenger,
        conversations: ConversationRepository,
        roster: RosterRepository,
        clock: Clock,
    ) -> None:
        self.messenger = messenger
        self.conversations = conversations
        self.roster = roster
        self.clock = clock

    async def carry_out(self, incoming: Incoming, actions: list[Action]) -> None:
        answered_callback = False
        for action in actions:
            if isinstance(action, Snackbar):
                if incoming.is_callback and not answered_callback:
                    await self.messenger.snackbar(incoming, action.text)
                    answered_callback = True
                elif not incoming.is_callback:
                    await self._send(incoming.peer_id, action.text, None, incoming)
            elif isinstance(action, Reply):
                await self._send(incoming.peer_id, action.text, action.keyboard, incoming)
            elif isinstance(action, SendTo):
                await self._send(action.peer_id, action.text, action.keyboard, incoming)
            elif isinstance(action, SendFile):
                await self.send_file(action)
            elif isinstance(action, Edit):
                edited = (
                    incoming.is_callback
                    and incoming.conversation_message_id is not None
                    and await self.messenger.edit(
                        incoming.peer_id,
                        incoming.conversation_message_id,
                        action.text,
                        action.keyboard,
                    )
                )
                if not edited:
                    await self._send(incoming.peer_id, action.text, action.keyboard, incoming)
            else:
                await self.private(action, callback=incoming.supports_callback)
        if incoming.is_callback and not answered_callback:
            # VK shows a spinner on the button until the event is answered.
            await self.messenger.snackbar(incoming, "")

    async def send_file(self, action: SendFile, *, dedup: int | None = None) -> bool:
        """Send the file; if the messenger refuses it, say `on_failure` instead.

        Returns True if the file went through.
        """
        send = (
            self.messenger.send_photo
            if action.kind is FileKind.PHOTO
            else self.messenger.send_file
        )
        try:
            await send(action.peer_id, action.filename, action.data, action.text, dedup=dedup)
        except UploadFailed as error:
            log.warning(
                "%s %s (%d bytes) to %s not taken: %s",
                action.kind.value,
                action.filename,
                len(action.data),
                action.peer_id,
                error,
            )
            if action.on_failure:
                await self.messenger.send(action.peer_id, action.on_failure, None)
            return False
        log.info(
            "%s %s (%d bytes) sent to %s",
            action.kind.value,
            action.filename,
            len(action.data),
            action.peer_id,
        )
        return True

    async def _send(
        self, peer_id: int, text: str, keyboard: Keyboard | None, incoming: Incoming
    ) -> None:
        await self.messenger.send(peer_id, text, keyboard, callback=incoming.supports_callback)

    async def private(
        self, action: Private, *, callback: bool = True, dedup: int | None = None
    ) -> bool:
        """Try the person's private chat; on refusal mention them in the fallback chat.

        Returns True if the private message went through.
        """
        if not await self.conversations.is_unreachable(action.user_id):
            try:
                await self.messenger.send(
                    action.user_id, action.text, action.keyboard, callback=callback, dedup=dedup
                )
                return True
            except NotAllowed:
                log.info("private message refused: user=%s, falling back to chat", action.user_id)
                await self.conversations.mark_unreachable(action.user_id, self.clock.now())
        if action.fallback_peer is None:
            return False
        person_name = await self._name(action.user_id)
        ask = texts.ask_to_write(person_name, action.user_id)
        await self.messenger.send(
            action.fallback_peer, f"{ask}\n\n{action.text}", action.keyboard, callback=callback
        )
        return False

    async def _name(self, vk_id: int) -> str | None:
        memberships = await self.roster.memberships(vk_id)
        return memberships[0].full_name if memberships else None
