"""Automatic and on-demand messages: reminders, summaries, escalations, problem notices."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import texts
from bot.actions import Private
from bot.delivery import Delivery
from bot.keyboards import card_keyboard
from bot.schedule import slot_random_id
from bot.service import CampaignService
from bot.status import PendingSchool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Audience:
    admin_chats: tuple[int, ...]
    heads_chats: tuple[int, ...]
    controller: int | None


@dataclass(frozen=True)
class ReminderReport:
    schools: int
    private: int
    mentioned: int


class Notifier:
    def __init__(self, service: CampaignService, delivery: Delivery, audience: Audience) -> None:
        self.service = service
        self.delivery = delivery
        self.audience = audience
        self.campaign = service.campaign

    async def remind(self, slot_key: str | None = None) -> ReminderReport:
        """Remind every person of every school that still owes something.

        Privately where the messenger allows it; everyone else is mentioned in one message per
        heads chat. With a `slot_key`, who was already reminded for it is skipped and who gets
        it now is recorded, so a restart mid-slot neither repeats nor loses anybody.
        """
        schedule = self.service.repos.schedule
        pending, _ = await self.service.pending_schools()
        done = set() if slot_key is None else await schedule.recipients(self.campaign.id, slot_key)
        now = self.service.now()
        private = 0
        unreached: list[tuple[PendingSchool, list[int]]] = []
        for school in pending:
            text = texts.reminder(self.campaign, school, now)
            keyboard = card_keyboard(self.campaign, school.school.id)
            missed: list[int] = []
            for person in school.people:
                if person.vk_id in done:
                    continue
                dedup = (
                    None
                    if slot_key is None
                    else slot_random_id(self.campaign.id, slot_key, person.vk_id)
                )
                if await self.delivery.private(Private(person.vk_id, text, keyboard), dedup=dedup):
                    private += 1
                    if slot_key is not None:
                        await schedule.mark_sent(self.campaign.id, slot_key, person.vk_id, now)
                else:
                    missed.append(person.vk_id)
            if missed:
                unreached.append((school, missed))
        mentioned = sum(len(people) for _, people in unreached)
        if unreached:
            text = texts.reminder_in_chat(self.campaign, unreached, now)
            for chat in self.audience.heads_chats:
                if slot_key is not None and chat in done:
                    continue
                dedup = (
                    None if slot_key is None else slot_random_id(self.campaign.id, slot_key, chat)
                )
                await self.delivery.messenger.send(chat, text, None, dedup=dedup)
                if slot_key is not None:
                    await schedule.mark_sent(self.campaign.id, slot_key, chat, now)
        log.info(
            "reminders sent: slot=%s schools=%d private=%d mentioned=%d",
            slot_key or "manual",
            len(pending),
            private,
            mentioned,
        )
        return ReminderReport(schools=len(pending), private=private, mentioned=mentioned)

    async def summary(self, slot_key: str, *, final: bool = False) -> None:
        """The daily (or final) summary to every admin chat."""
        status = await self.service.district_status()
        text = texts.district_status(status)
        if final:
            pending, total = await self.service.pending_schools()
            overdue = texts.pending(self.campaign, pending, total)
            text = f"{texts.FINAL_SUMMARY_HEAD}\n{text}\n\n{overdue}"
        else:
            text = f"{texts.DAILY_SUMMARY_HEAD}\n{text}"
        await self._to_admin_chats(slot_key, text)
        log.info("summary sent: slot=%s final=%s", slot_key, final)

    async def escalate(self, slot_key: str) -> bool:
        """Tell the controller which schools are overdue; nothing once every school is done."""
        pending, total = await self.service.pending_schools()
        if not pending:
            return False
        text = texts.escalation(self.campaign, pending, total, self.service.now())
        controller = self.audience.controller
        privately = controller is not None and await self.delivery.private(
            Private(controller, text),
            dedup=slot_random_id(self.campaign.id, slot_key, controller),
        )
        if not privately:
            await self._to_admin_chats(slot_key, text)
        log.info("escalation sent: slot=%s overdue=%d", slot_key, len(pending))
        return True

    async def _to_admin_chats(self, slot_key: str, text: str) -> None:
        for chat in self.audience.admin_chats:
            dedup = slot_random_id(self.campaign.id, slot_key, chat)
            await self.delivery.messenger.send(chat, text, None, dedup=dedup)
