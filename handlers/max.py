"""MAX updates through the same flow as VK's: parse, name the people, hand over, reply. Thin:
what a message means is decided in bot/flow.py, never here."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from bot.actions import Incoming
from bot.flow import Flow
from bot.max import ChatEvent, MaxAccounts, MaxDirectory, chat_event, event_id, incoming
from bot.max import update_author as max_author
from bot.max_api import Update
from bot.onboarding import bare_code, normalise_code, registration_code
from bot.parsing import clean
from bot.pipeline import Pipeline
from storage.accounts import Linked

log = logging.getLogger(__name__)

# MAX's membership updates in the words the core's chat rules use (VK's action types).
_MEMBER_ACTIONS = {"user_added": "chat_invite_user", "user_removed": "chat_kick_user"}


def wrap(update: Update) -> dict[str, Any]:
    """A MAX update as the pipeline carries it: its derived id, to count a duplicate once."""
    return {"event_id": event_id(update), "max": update}


def author(wrapped: dict[str, Any]) -> Hashable | None:
    """Whose update it is, so one person's stay in order (a MAX user id, kept apart from VK's)."""
    update = wrapped.get("max")
    found = max_author(update) if isinstance(update, Update) else None
    return None if found is None else ("max", found)


def _typed_code(update: Update) -> str | None:
    """A code typed into the dialog («регистрация КОД», or the code alone), read as the rules
    read one."""
    message = update.message
    if update.update_type != "message_created" or message is None:
        return None
    if message.recipient.chat_type != "dialog":
        return None
    cleaned = clean(message.body.text or "")
    return registration_code(cleaned) or bare_code(cleaned)


def users_of(update: Update) -> Iterator[int]:
    """The people an update names, whose accounts must exist before it is handled."""
    if update.user is not None and not update.user.is_bot:
        yield update.user.user_id
    if update.callback is not None:
        yield update.callback.user.user_id
    sender = update.message.sender if update.message is not None else None
    if sender is not None and not sender.is_bot and update.update_type == "message_created":
        yield sender.user_id


class MaxHandlers:
    def __init__(
        self,
        flow: Flow,
        pipeline: Pipeline,
        accounts: MaxAccounts,
        directory: MaxDirectory,
        *,
        bot_id: int = 0,  # set when MAX first answers (bot/app.py's MaxRunner)
        username: str | None = None,
    ) -> None:
        self.flow = flow
        self.pipeline = pipeline
        self.accounts = accounts
        self.directory = directory
        self.bot_id = bot_id
        self.username = username

    async def link_accounts(self, updates: Iterable[Update]) -> None:
        """A person's own link code (bot/onboarding.py new_link), by the deep link's start code
        or typed into the dialog, makes this MAX account theirs before the rules see the
        update; a code that is no such thing goes on to the rules as a school's registration
        code. Someone who used up their wrong codes for the hour is not tried (the rules say
        so). Runs in the accounts' transaction, before the batch's (bot/app.py MaxRunner)."""
        for update in updates:
            if update.update_type == "bot_started" and update.user and update.payload:
                await self._link(update.user.user_id, update.payload)
            elif (typed := _typed_code(update)) is not None and update.message is not None:
                sender = update.message.sender
                if sender is not None and not sender.is_bot:
                    await self._link(sender.user_id, typed)

    async def _link(self, user_id: int, typed: str) -> None:
        person = self.accounts.person(user_id)
        if person is None:
            return
        now = self.flow.service.now()
        if not await self.flow.onboarding.may_try_code(person, now):
            return
        outcome = await self.accounts.link(user_id, normalise_code(typed)[:16], now)
        if outcome is not Linked.UNKNOWN:
            log.info("MAX user %s and a link code: %s", user_id, outcome.value)

    async def dispatch(self, wrapped: dict[str, Any]) -> None:
        update = wrapped["max"]
        event = chat_event(update)
        if event is not None:
            await self._chat_event(event, wrapped["event_id"])
            return
        found = incoming(update, self.directory, bot_id=self.bot_id, bot_username=self.username)
        if found is None:
            return
        msg = self._as_people(found)
        if msg is None:
            log.warning("a MAX update of someone without an account: %s", update.update_type)
            return
        if msg.is_callback:
            actions = await self.flow.on_callback(msg)
        else:
            actions = await self.flow.on_message(msg)
        await self.pipeline.respond(msg, actions)

    def _as_people(self, msg: Incoming) -> Incoming | None:
        """MAX user ids become person ids; a group chat (negative id) stays the chat."""
        person = self.accounts.person(msg.user_id)
        peer = msg.peer_id if msg.peer_id < 0 else self.accounts.person(msg.peer_id)
        if person is None or peer is None:
            return None
        return dataclasses.replace(msg, user_id=person, peer_id=peer, in_chat=peer < 0)

    async def _chat_event(self, event: ChatEvent, key: str) -> None:
        person = self.accounts.person(event.user_id)
        if event.kind == "bot_added":
            await self.pipeline.outbox.chat_regained(event.chat_id)
            # The chat id is what [max] admin_chats / heads_chats need; say it where IT looks.
            log.info("added to MAX chat %s by %s", event.chat_id, event.user_id)
            where = Incoming(
                user_id=person or 0,
                peer_id=event.chat_id,
                in_chat=True,
                event_id=key,
                platform="max",
            )
            await self.pipeline.respond(where, self.flow.on_bot_added())
        elif event.kind in _MEMBER_ACTIONS and person is not None:
            await self.flow.on_chat_action(event.chat_id, _MEMBER_ACTIONS[event.kind], person)
