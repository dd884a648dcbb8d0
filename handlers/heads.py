"""Heads and deputies: text answers, button presses, the card. Parse, hand over, reply."""

from __future__ import annotations

from vkbottle import GroupEventType
from vkbottle.bot import BotLabeler, Message, MessageEvent

from bot.flow import Flow
from bot.pipeline import Pipeline
from bot.vk import incoming_event, incoming_message


def heads_labeler(flow: Flow, pipeline: Pipeline, group_id: int) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message()
    async def on_message(message: Message) -> None:
        incoming = incoming_message(message, group_id)
        await pipeline.respond(incoming, await flow.on_message(incoming))

    @labeler.raw_event(GroupEventType.MESSAGE_EVENT, dataclass=MessageEvent)
    async def on_button(event: MessageEvent) -> None:
        incoming = incoming_event(event)
        await pipeline.respond(incoming, await flow.on_callback(incoming))

    return labeler
