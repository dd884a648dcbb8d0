"""Administration staff: `статус`, `должники`, `помощь`... with or without "/" and mention."""

from __future__ import annotations

from vkbottle.bot import BotLabeler, Message
from vkbottle.dispatch.rules import ABCRule

from bot.flow import Flow
from bot.parsing import parse_admin_command
from bot.pipeline import Pipeline
from bot.vk import incoming_message, update_ref


class AdminCommandRule(ABCRule[Message]):
    """The message is one of the staff commands (who sent it is checked by the flow)."""

    async def check(self, event: Message) -> bool:
        # A first message from a vk.me link carries a registration code in `ref`, whatever
        # its text («Начать»): that is for the heads' flow.
        if event.payload is not None or update_ref() is not None:
            return False
        return parse_admin_command(event.text or "") is not None


def admins_labeler(flow: Flow, pipeline: Pipeline, group_id: int) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message(AdminCommandRule())
    async def on_command(message: Message) -> None:
        incoming = incoming_message(message, group_id)
        command = parse_admin_command(incoming.text)
        if command is None:  # the rule matched it, so only a changed text gets here
            return
        await pipeline.respond(incoming, await flow.on_command(incoming, command))

    return labeler
