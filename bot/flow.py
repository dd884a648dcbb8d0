"""What the bot does with each incoming message or button press, as a list of outgoing actions.

Messenger-neutral: an adapter turns a VK (or MAX) update into `Incoming`; the actions go to the
outbox. This module routes each message to its part of the rules (`bot/rules/`): heads'
answers, staff commands, onboarding, chat events.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import texts
from bot.actions import Action, Incoming, Reply, Snackbar
from bot.config import RemindersConfig
from bot.notify import Notifier
from bot.onboarding import Onboarding, bare_code, registration_code, wants_max_link
from bot.parsing import STAFF_ONLY, ParsedAdminCommand, clean, parse_admin_command
from bot.payloads import AcknowledgePayload, Payload, RolePayload, decode
from bot.ports import Messenger
from bot.rules.base import Context, Rules, Settings, valid_unicode
from bot.rules.chats import ChatRules
from bot.rules.heads import HeadRules
from bot.rules.onboarding import OnboardingRules
from bot.rules.staff import StaffRules
from bot.service import CampaignService

log = logging.getLogger(__name__)

__all__ = ["Flow", "Settings"]


class Flow(Rules):
    def __init__(
        self,
        service: CampaignService,
        settings: Settings,
        notifier: Notifier,
        reminders: RemindersConfig,
        onboarding: Onboarding,
        messenger: Messenger,
    ) -> None:
        super().__init__(Context(service, settings, notifier, reminders, onboarding, messenger))
        self.heads = HeadRules(self.ctx)
        self.staff = StaffRules(self.ctx, self.heads)
        self.joining = OnboardingRules(self.ctx, self.heads)
        self.chats = ChatRules(self.ctx)

    async def on_message(self, msg: Incoming) -> list[Action]:
        """A text message (or a text button, whose payload rides along)."""
        msg = replace(
            msg, text=valid_unicode(msg.text), ref=valid_unicode(msg.ref) if msg.ref else None
        )
        conversations = self.service.repos.conversations
        if not msg.in_chat:
            # Writing to the community is what lets it write back (VK error 901 otherwise).
            await conversations.mark_reachable(msg.user_id)
        if msg.payload is not None:
            payload = decode(msg.payload)
            if payload is not None:
                return await self.on_payload(msg, payload)
            # A text button press of an old keyboard: treat its label as text below.
        # A vk.me link's `ref` rides on the first message, whatever its text («Начать»).
        cleaned = clean(msg.text)
        code = registration_code(cleaned) or msg.ref
        if code:
            return await self.joining.register(msg, code)
        if (
            not msg.in_chat
            and msg.platform != "max"
            and self.settings.max_bot
            and wants_max_link(cleaned)
        ):
            return await self.joining.max_link(msg)
        command = parse_admin_command(msg.text)
        if command is not None and (
            command.command not in STAFF_ONLY or self.is_staff(msg.user_id)
        ):
            return await self.on_command(msg, command)
        # Who writes and what the bot waits for from them here: one query.
        speaker = await self.service.speaker(msg.user_id, msg.peer_id)
        if speaker.memberships:
            return await self.heads.on_text(msg, speaker)
        if not msg.addressed:
            return []
        bare = None if msg.in_chat else bare_code(cleaned)
        if bare is not None:
            return await self.joining.register(msg, bare)
        if self.is_staff(msg.user_id):
            return [Reply(texts.help_admin(self.settings.department))]
        return await self._stranger(msg)

    async def on_callback(self, msg: Incoming) -> list[Action]:
        payload = decode(msg.payload)
        if payload is None:
            log.info("rejected payload from %s", msg.user_id)
            return [Snackbar(texts.BAD_BUTTON)]
        return await self.on_payload(msg, payload)

    async def on_payload(self, msg: Incoming, payload: Payload) -> list[Action]:
        if payload.c != self.campaign.id:
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, AcknowledgePayload):
            ended = await self.heads.end_prompt(msg)
            return ended + await self.heads.acknowledge(msg)
        if isinstance(payload, RolePayload):
            ended = await self.heads.end_prompt(msg)
            return ended + await self.joining.choose_role(msg, payload.r)
        return await self.heads.on_payload(msg, payload)

    async def on_command(self, msg: Incoming, parsed: ParsedAdminCommand) -> list[Action]:
        """A command; it ends a prompt waiting for its writer here."""
        ended = await self.heads.end_prompt(msg) if msg.addressed else []
        return ended + await self.staff.on_command(msg, parsed)

    async def announce(self, *, reply: bool = False) -> list[Action]:
        return await self.staff.announce(reply=reply)

    async def on_chat_action(self, peer_id: int, kind: str, member_id: int) -> None:
        await self.chats.on_chat_action(peer_id, kind, member_id)

    def on_bot_added(self) -> list[Action]:
        return self.chats.on_bot_added()
