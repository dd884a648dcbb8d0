"""Heads and deputies: text answers, button presses, the card. Parse, hand over, reply."""

from __future__ import annotations

from vkbottle import GroupEventType
from vkbottle.bot import BotLabeler, Message, MessageEvent

from bot.delivery import Delivery
from bot.flow import Flow
from bot.vk import incoming_event, incoming_message


def heads_labeler(flow: Flow, delivery: Delivery, group_id: int) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message()
    async def on_message(message: Message) -> None:
        incoming = incoming_message(message, group_id)
        await delivery.carry_out(incoming, await flow.on_message(incoming))

    @labeler.raw_event(GroupEventType.MESSAGE_EVENT, dataclass=MessageEvent)
    async def on_button(event: MessageEvent) -> None:
        incoming = incoming_event(event)
        await delivery.carry_out(incoming, await flow.on_callback(incoming))

    return labeler
