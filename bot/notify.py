"""Automatic and on-demand messages: reminders, summaries, escalations, problem notices."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from bot import texts
from bot.actions import FileKind, Private, SendFile
from bot.chart import render_progress
from bot.chats import ChatDirectory
from bot.delivery import Delivery
from bot.domain import StepState
from bot.keyboards import reminder_keyboard
from bot.schedule import slot_random_id
from bot.service import CampaignService
from bot.status import DistrictStatus, PendingSchool, owed_steps

log = logging.getLogger(__name__)

# VK's messages.send takes up to 100 peer_ids (dev.vk.com/method/messages.send).
BATCH = 100


@dataclass(frozen=True)
class Audience:
    chats: ChatDirectory
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

        People whose schools owe the same steps get one text, sent with `peer_ids` in batches
        of up to 100 (one request instead of 100, under VK's per-second limit). Whoever VK
        refuses (901) is mentioned in one message per heads chat. With a `slot_key`, who was
        already reminded for it is skipped and who gets it now is recorded, so a restart
        mid-slot neither repeats nor loses anybody.
        """
        schedule = self.service.repos.schedule
        conversations = self.service.repos.conversations
        pending = (await self.service.pending_schools()).schools
        done = set() if slot_key is None else await schedule.recipients(self.campaign.id, slot_key)
        unreachable = await conversations.unreachable()
        now = self.service.now()
        groups: dict[tuple[tuple[str, StepState], ...], set[int]] = defaultdict(set)
        missed: dict[int, list[int]] = defaultdict(list)  # school index -> people
        for index, school in enumerate(pending):
            owed = tuple(
                (step.id, school.states.get(step.id, StepState.NONE))
                for step in owed_steps(self.campaign, school.states)
            )
            for person in school.people:
                if person.vk_id in done:
                    continue
                if person.vk_id in unreachable:
                    missed[index].append(person.vk_id)
                else:
                    groups[owed].add(person.vk_id)
        private = 0
        refused: set[int] = set()
        keyboard = reminder_keyboard(self.campaign)
        for owed, people in groups.items():
            text = texts.reminder(self.campaign, list(owed), now)
            ordered = sorted(people)
            for start in range(0, len(ordered), BATCH):
                chunk = ordered[start : start + BATCH]
                dedup = (
                    None
                    if slot_key is None
                    else slot_random_id(self.campaign.id, slot_key, chunk[0])
                )
                results = await self.delivery.messenger.send_many(
                    chunk, text, keyboard, dedup=dedup
                )
                delivered = [p for p, ok in results.items() if ok]
                refused.update(p for p, ok in results.items() if not ok)
                private += len(delivered)
                if slot_key is not None:
                    await schedule.mark_sent_many(self.campaign.id, slot_key, delivered, now)
        for vk_id in refused:
            await conversations.mark_unreachable(vk_id, now)
        for index, school in enumerate(pending):
            missed[index] += [p.vk_id for p in school.people if p.vk_id in refused]
        unreached = [(pending[i], people) for i, people in sorted(missed.items()) if people]
        mentioned = sum(len(people) for _, people in unreached)
        if unreached:
            await self._remind_in_chats(slot_key, unreached, done, now)
        log.info(
            "reminders sent: slot=%s schools=%d private=%d mentioned=%d",
            slot_key or "manual",
            len(pending),
            private,
            mentioned,
        )
        return ReminderReport(schools=len(pending), private=private, mentioned=mentioned)

    async def _remind_in_chats(
        self,
        slot_key: str | None,
        unreached: list[tuple[PendingSchool, list[int]]],
        done: set[int],
        now: dt.datetime,
    ) -> None:
        text = texts.reminder_in_chat(self.campaign, unreached, now)
        for chat in await self.audience.chats.heads_chats():
            if chat in done:
                continue
            dedup = None if slot_key is None else slot_random_id(self.campaign.id, slot_key, chat)
            await self.delivery.messenger.send(chat, text, None, dedup=dedup)
            if slot_key is not None:
                await self.service.repos.schedule.mark_sent(self.campaign.id, slot_key, chat, now)

    async def summary(self, slot_key: str, *, final: bool = False) -> None:
        """The daily (or final) summary to every admin chat."""
        status = await self.service.district_status()
        text = texts.district_status(status)
        if final:
            listed = await self.service.pending_schools(texts.PENDING_LIST_LIMIT)
            overdue = texts.pending(self.campaign, listed.schools, listed.total, listed.owing)
            text = f"{texts.FINAL_SUMMARY_HEAD}\n{text}\n\n{overdue}"
        else:
            text = f"{texts.DAILY_SUMMARY_HEAD}\n{text}"
        await self._to_admin_chats(slot_key, text)
        await self._picture_to_admin_chats(slot_key, status)
        log.info("summary sent: slot=%s final=%s", slot_key, final)

    async def _picture_to_admin_chats(self, slot_key: str, status: DistrictStatus) -> None:
        """The progress picture after a summary's text.

        Whatever goes wrong with it is logged and the summary stands: the text went first,
        and the slot must not fail (and be tried again) over a picture.
        """
        chats = await self.audience.chats.admin_chats()
        if not chats:
            return
        try:
            png = await asyncio.to_thread(render_progress, status)
        except Exception:
            log.exception(
                "progress picture not drawn: slot=%s; the summary goes without it", slot_key
            )
            return
        filename = texts.chart_filename(self.campaign, status.now)
        caption = texts.chart_caption(self.campaign, status.now)
        for chat in chats:
            picture = SendFile(chat, filename, png, caption, kind=FileKind.PHOTO)
            # Its own random_id: a repeat of the slot after a restart does not post it twice.
            dedup = slot_random_id(self.campaign.id, f"{slot_key}:picture", chat)
            try:
                await self.delivery.send_file(picture, dedup=dedup)
            except Exception:
                log.exception("progress picture not sent to %s: slot=%s", chat, slot_key)

    async def escalate(self, slot_key: str) -> bool:
        """Tell the controller which schools are overdue; nothing once every school is done."""
        listed = await self.service.pending_schools(texts.PENDING_LIST_LIMIT)
        if not listed.owing:
            return False
        text = texts.escalation(
            self.campaign, listed.schools, listed.total, self.service.now(), listed.owing
        )
        controller = self.audience.controller
        privately = controller is not None and await self.delivery.private(
            Private(controller, text),
            dedup=slot_random_id(self.campaign.id, slot_key, controller),
        )
        if not privately:
            await self._to_admin_chats(slot_key, text)
        log.info("escalation sent: slot=%s overdue=%d", slot_key, listed.owing)
        return True

    async def _to_admin_chats(self, slot_key: str, text: str) -> None:
        for chat in await self.audience.chats.admin_chats():
            dedup = slot_random_id(self.campaign.id, slot_key, chat)
            await self.delivery.messenger.send(chat, text, None, dedup=dedup)
