"""Chat service events: the community added to a chat introduces itself."""

from __future__ import annotations

import logging

from vkbottle.bot import BotLabeler, Message
from vkbottle.dispatch.rules import ABCRule

from bot.flow import Flow
from bot.pipeline import Pipeline
from bot.vk import incoming_message

log = logging.getLogger(__name__)


class BotInvitedRule(ABCRule[Message]):
    def __init__(self, group_id: int) -> None:
        self.group_id = group_id

    async def check(self, event: Message) -> bool:
        action = event.action
        if action is None:
            return False
        kind = getattr(action.type, "value", action.type)
        return kind == "chat_invite_user" and action.member_id == -self.group_id


class MembersChangedRule(ABCRule[Message]):
    """Someone else joined or left a chat (the evidence for step 3.3)."""

    def __init__(self, group_id: int) -> None:
        self.group_id = group_id

    async def check(self, event: Message) -> bool:
        action = event.action
        if action is None:
            return False
        kind = getattr(action.type, "value", action.type)
        return kind in MEMBER_ACTIONS and action.member_id != -self.group_id


MEMBER_ACTIONS = ("chat_invite_user", "chat_invite_user_by_link", "chat_kick_user")


def chat_events_labeler(flow: Flow, pipeline: Pipeline, group_id: int) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.chat_message(BotInvitedRule(group_id))
    async def on_invited(message: Message) -> None:
        await pipeline.outbox.chat_regained(message.peer_id)
        # The peer id is what [bot] admin_chats / heads_chats need; say it where IT looks.
        log.info("added to chat %s by %s", message.peer_id, message.from_id)
        await pipeline.respond(incoming_message(message, group_id), flow.on_bot_added())

    @labeler.chat_message(MembersChangedRule(group_id))
    async def on_members_changed(message: Message) -> None:
        action = message.action
        if action is None:
            return
        kind = str(getattr(action.type, "value", action.type))
        # Joining by link names nobody else: the one who joined is the sender.
        member = action.member_id if kind != "chat_invite_user_by_link" else message.from_id
        await flow.on_chat_action(message.peer_id, kind, member or message.from_id)

    return labeler
