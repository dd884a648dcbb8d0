"""Automatic and on-demand messages: reminders, summaries, escalations.

Each writes its messages to the outbox in the caller's transaction (the scheduler's slot, or
the update of `напомнить`); nothing here sends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot import texts
from bot.actions import FileKind
from bot.chart import render_progress
from bot.chats import ChatDirectory
from bot.domain import Campaign, StepState
from bot.keyboards import Keyboard, own_reminder_keyboard, reminder_keyboard, reminders_keyboard
from bot.messages import Address, Outgoing, buttons_of
from bot.outbox import FileJob, Outbox
from bot.service import CampaignService
from bot.status import DistrictStatus, PendingSchool, owed_steps

log = logging.getLogger(__name__)

# VK's messages.send takes up to 100 peer_ids (dev.vk.com/method/messages.send).
BATCH = 100
# A notice of registrations lists at most this many people; the rest go in the next tick's.
REGISTRATIONS_PER_NOTICE = 50


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
    def __init__(self, service: CampaignService, outbox: Outbox, audience: Audience) -> None:
        self.service = service
        self.outbox = outbox
        self.audience = audience
        self.campaign = service.campaign

    def key(self, slot_key: str | None, *parts: object) -> str:
        """Keys of a slot are stable, so writing the slot again adds nothing; manual ones are
        new every time."""
        slot = slot_key or f"manual-{uuid.uuid4().hex}"
        return ":".join(str(p) for p in (self.campaign.id, slot, *parts))

    async def remind(
        self,
        slot_key: str | None = None,
        *,
        skip: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
        campaign: Campaign | None = None,
    ) -> ReminderReport:
        """Remind every person of every school that still owes something.

        People whose schools owe the same steps get one text, addressed to up to 100 of them
        at once (VK's `peer_ids`: one call instead of 100). Whoever is known to refuse private
        messages is mentioned in the heads chats instead; whoever refuses them now is mentioned
        there by the sender.

        `skip`: schools not to remind (their deadline was extended past this slot's); `only`:
        remind just these (a slot of an extended school's own deadline, which `campaign`
        carries so that the text says how long is left).
        """
        plan = await self.plan(slot_key, skip=skip, only=only, campaign=campaign)
        return await write_reminders(self.outbox, [plan], self.service.now())

    async def plan(
        self,
        slot_key: str | None,
        *,
        skip: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
        campaign: Campaign | None = None,
    ) -> ReminderPlan:
        """Who owes what in this order, and who can only be mentioned in the heads chats."""
        pending = [
            school
            for school in (await self.service.pending_schools()).schools
            if school.school.id not in skip and (only is None or school.school.id in only)
        ]
        unreachable = await self.service.repos.conversations.unreachable()
        owed: dict[int, Owed] = {}
        missed: dict[int, list[int]] = defaultdict(list)  # school index -> people
        for index, school in enumerate(pending):
            steps = tuple(
                (step.id, school.states.get(step.id, StepState.NONE))
                for step in owed_steps(self.campaign, school.states)
            )
            for person in school.people:
                if person.person_id in unreachable:
                    missed[index].append(person.person_id)
                else:
                    owed[person.person_id] = steps
        return ReminderPlan(
            notifier=self,
            slot_key=slot_key,
            campaign=campaign or self.campaign,
            owed=owed,
            unreached=[(pending[i], people) for i, people in sorted(missed.items()) if people],
            schools=len(pending),
        )

    async def slot_plans(self, slot_key: str) -> list[ReminderPlan]:
        """A reminder slot of the order: the schools that owe (those given more time than the
        order wait for their own deadline) and the staff who owe their own items."""
        waiting = await self.service.waiting(self.campaign.deadline)
        plans = [await self.plan(slot_key, skip=frozenset(waiting))]
        staff = await self.staff_plan(slot_key)
        return plans if staff is None else [*plans, staff]

    async def staff_plan(self, slot_key: str | None) -> ReminderPlan | None:
        """The staff who still owe their own items of the order; None when it has none."""
        progress = await self.service.staff_progress()
        if progress is None:
            return None
        owed: dict[int, Owed] = {}
        for member in progress.members:
            if member.person_id not in self.service.staff:
                continue
            steps = tuple(
                (step.id, member.states.get(step.id, StepState.NONE))
                for step in progress.steps
                if member.states.get(step.id) is not StepState.DONE
            )
            if steps:
                owed[member.person_id] = steps
        order = self.service.order
        return ReminderPlan(self, slot_key, order.for_staff(), owed, [], 0, staff=True)

    def _person(self, person_id: int) -> Address:
        # A person's id names their private conversation, on whichever messenger they are.
        return self.outbox.address(person_id)

    async def summary(self, slot_key: str, *, final: bool = False) -> list[FileJob]:
        """The daily (or final) summary to every admin chat; the picture comes back as jobs
        to upload after the slot commits."""
        text, status = await self.summary_text(final=final)
        await self._to_admin_chats(slot_key, text)
        log.info("summary written: slot=%s final=%s", slot_key, final)
        return await self.pictures(slot_key, status)

    async def summary_text(self, *, final: bool = False) -> tuple[str, DistrictStatus]:
        """The summary's text (today's snapshot recorded for the trend) and its status."""
        status = await self.service.record_progress(await self.service.district_status())
        text = texts.district_status(status)
        if final:
            listed = await self.service.pending_schools(texts.PENDING_LIST_LIMIT)
            overdue = texts.pending(self.campaign, listed.schools, listed.total, listed.owing)
            return f"{texts.FINAL_SUMMARY_HEAD}\n{text}\n\n{overdue}", status
        text = f"{texts.DAILY_SUMMARY_HEAD}\n{text}"
        changed = await self.service.progress_changes(texts.CHANGES_LIMIT)
        if changed is not None:
            since, changes = changed
            text += "\n\n" + texts.changes_since(since, self.campaign.timezone, changes)
        return text, status

    async def pictures(self, slot_key: str, status: DistrictStatus) -> list[FileJob]:
        """The progress picture after a summary's text.

        Whatever goes wrong with it is logged and the summary stands: the text went first,
        and the slot must not fail (and be tried again) over a picture.
        """
        chats = await self.audience.chats.admin_chats()
        if not chats:
            return []
        try:
            png = await asyncio.to_thread(render_progress, status)
        except Exception:
            log.exception(
                "progress picture not drawn: slot=%s; the summary goes without it", slot_key
            )
            return []
        filename = texts.chart_filename(self.campaign, status.now)
        caption = texts.chart_caption(self.campaign, status.now)
        return [
            FileJob(
                self.key(slot_key, "picture", chat),
                self.outbox.address(chat),
                filename,
                png,
                caption,
                FileKind.PHOTO,
                "",
            )
            for chat in chats
        ]

    async def escalate(self, slot_key: str) -> bool:
        """Tell the controller which schools are overdue; nothing once every school is done.
        A school whose every owed step was extended past now waits for its own deadline."""
        listed = await self.service.pending_schools(texts.PENDING_LIST_LIMIT)
        waiting = await self.service.waiting(self.service.now())
        overdue = [s for s in listed.schools if s.school.id not in waiting]
        owing = listed.owing - len(waiting)
        if owing <= 0:
            return False
        text = texts.escalation(self.campaign, overdue, listed.total, self.service.now(), owing)
        controller = self.audience.controller
        if controller is None:
            await self._to_admin_chats(slot_key, text)
        else:
            chats = await self.audience.chats.admin_chats()
            message = await self.outbox.private(
                self.key(slot_key, "controller", controller),
                controller,
                text,
                None,
                fallback=chats,
            )
            await self.outbox.add([message])
        log.info("escalation written: slot=%s overdue=%d", slot_key, owing)
        return True

    async def unanswered_problems(self, before: dt.datetime) -> int:
        """End the prompts asked before `before`; tell staff of each «Проблема» whose reason
        never came (still a problem), without it. Stable keys: once, whatever happens."""
        expired = await self.service.repos.conversations.expire_prompts(self.campaign.id, before)
        chats = await self.audience.chats.admin_chats()
        messages = []
        for item in expired:
            step = self.campaign.step(item.step_id)
            if step is None:
                continue
            text = texts.problem_notice(
                item.school,
                step,
                texts.NO_REASON_AFTER_ASKING,
                texts.mention(item.person_id, item.full_name),
            )
            asked = f"{item.asked_at:%Y%m%dT%H%M%S}"
            messages += [
                Outgoing(
                    key=self.key("problem", item.person_id, item.school.id, step.id, asked, chat),
                    to=(self.outbox.address(chat),),
                    text=text,
                )
                for chat in chats
            ]
        await self.outbox.add(messages)
        if expired:
            log.info("problems without a reason passed on: %d", len(expired))
        return len(expired)

    async def removals(self) -> int:
        """Tell the admin chats who was taken off a school's list since the last tick (a
        re-import, `roster remove-person`, `отвязать`), in one notice; each told once."""
        items = await self.service.repos.registrations.removed_unnoticed(REGISTRATIONS_PER_NOTICE)
        if not items:
            return 0
        chats = await self.audience.chats.admin_chats()
        people = []
        for r in items:
            who = texts.mention(r.person.person_id, r.person.full_name)
            people.append((who, r.person.role, r.school_name))
        text = texts.removed_notice(people)
        await self.outbox.add(
            [
                Outgoing(
                    key=f"{self.campaign.id}:removed:{items[0].id}:{items[-1].id}:{chat}",
                    to=(self.outbox.address(chat),),
                    text=text,
                )
                for chat in chats
            ]
        )
        await self.service.repos.registrations.mark_removed_noticed(items, self.service.now())
        log.info("removals told: %d", len(items))
        return len(items)

    async def registrations(self) -> int:
        """Tell the admin chats who registered by code since the last tick, in one notice
        (issue 17): registrations that come together are read together. Each is told once;
        without an admin chat they are only logged."""
        items = await self.service.repos.registrations.unnoticed(REGISTRATIONS_PER_NOTICE)
        if not items:
            return 0
        chats = await self.audience.chats.admin_chats()
        first = items[0]
        stamp = f"{first.registered_at:%Y%m%dT%H%M%S}"
        text = texts.registered_notice(
            [
                (
                    texts.mention(r.person.person_id, r.person.full_name),
                    r.person.role,
                    r.school_name,
                )
                for r in items
            ]
        )
        await self.outbox.add(
            [
                Outgoing(
                    key=self.key(
                        "registered", first.person.person_id, first.person.school_id, stamp, chat
                    ),
                    to=(self.outbox.address(chat),),
                    text=text,
                )
                for chat in chats
            ]
        )
        await self.service.repos.registrations.mark_noticed(items, self.service.now())
        log.info("registrations told to staff: %d (admin chats: %d)", len(items), len(chats))
        return len(items)

    async def _to_admin_chats(self, slot_key: str, text: str) -> None:
        await self.outbox.add(
            [
                Outgoing(
                    key=self.key(slot_key, "chat", chat),
                    to=(self.outbox.address(chat),),
                    text=text,
                )
                for chat in await self.audience.chats.admin_chats()
            ]
        )


# What one person owes in one order: (step id, its state) for each step not done.
Owed = tuple[tuple[str, StepState], ...]


@dataclass(frozen=True)
class ReminderPlan:
    notifier: Notifier
    slot_key: str | None
    campaign: Campaign  # whose deadline the text names (an extension's own, or the order's)
    owed: dict[int, Owed]  # person -> what they owe
    unreached: list[tuple[PendingSchool, list[int]]]  # mentioned in the heads chats instead
    schools: int
    # The staff's own items (issue 14): their buttons open the staff member's own card.
    staff: bool = False

    def keyboard(self) -> Keyboard:
        if self.staff:
            return own_reminder_keyboard(self.notifier.service.order)
        return reminder_keyboard(self.notifier.campaign)


async def write_reminders(
    outbox: Outbox, plans: Sequence[ReminderPlan], now: dt.datetime
) -> ReminderReport:
    """The reminders of one slot time: a person owing in several orders gets one message
    listing each (issue 14), people owing the same get it together (up to 100 a message)."""
    per_person: dict[int, list[tuple[int, Owed]]] = defaultdict(list)
    for index, plan in enumerate(plans):
        for person, owed in plan.owed.items():
            per_person[person].append((index, owed))
    groups: dict[tuple[tuple[int, Owed], ...], list[int]] = defaultdict(list)
    for person, owing in per_person.items():
        groups[tuple(owing)].append(person)
    first = plans[0]
    notifier = first.notifier
    heads_chats = tuple(outbox.address(c) for c in await notifier.audience.chats.heads_chats())
    messages: list[Outgoing] = []
    private = 0
    for items, people in groups.items():
        if len(items) == 1:
            plan = plans[items[0][0]]
            text = texts.reminder(plan.campaign, list(items[0][1]), now)
            buttons = buttons_of(plan.keyboard())
            key_of = plan.notifier.key
            slot_key = plan.slot_key
        else:
            orders = [(plans[i].campaign, list(owed)) for i, owed in items]
            text = texts.reminder_of_orders(orders, now)
            campaigns = [plans[i].notifier.campaign for i, _ in items if not plans[i].staff]
            own = [plans[i] for i, _ in items if plans[i].staff]
            keyboard = reminders_keyboard(campaigns, own=[p.notifier.service.order for p in own])
            buttons = buttons_of(keyboard)
            key_of = _joint_key([plans[i] for i, _ in items])
            slot_key = first.slot_key
        ordered = sorted(people)
        for start in range(0, len(ordered), BATCH):
            chunk = ordered[start : start + BATCH]
            messages.append(
                Outgoing(
                    key=key_of(slot_key, "private", chunk[0]),
                    to=tuple(outbox.address(p) for p in chunk),
                    text=text,
                    buttons=buttons,
                    fallback=heads_chats,
                )
            )
            private += len(chunk)
    mentioned = 0
    for plan in plans:
        if not plan.unreached:
            continue
        mentioned += sum(len(people) for _, people in plan.unreached)
        text = texts.reminder_in_chat(plan.campaign, plan.unreached, now)
        messages += [
            Outgoing(key=plan.notifier.key(plan.slot_key, "chat", chat.id), to=(chat,), text=text)
            for chat in heads_chats
        ]
    await outbox.add(messages)
    schools = sum(plan.schools for plan in plans)
    log.info(
        "reminders written: slot=%s orders=%d schools=%d private=%d mentioned=%d",
        first.slot_key or "manual",
        len(plans),
        schools,
        private,
        mentioned,
    )
    return ReminderReport(schools=schools, private=private, mentioned=mentioned)


def _joint_key(plans: Sequence[ReminderPlan]) -> Callable[..., str]:
    """A merged reminder's key names every order and slot in it: stable, so the slot written
    again after a crash adds nothing."""
    joint = "+".join(f"{p.campaign.id}@{p.slot_key or 'manual'}" for p in plans)

    def key(slot_key: str | None, *parts: object) -> str:
        if any(p.slot_key is None for p in plans):
            return ":".join(str(p) for p in (joint, f"manual-{uuid.uuid4().hex}", *parts))
        return ":".join(str(p) for p in (joint, *parts))

    return key


async def write_summaries(items: Sequence[tuple[Notifier, str, bool]]) -> list[FileJob]:
    """The summaries of several open orders due at the same time: one message to each admin
    chat listing every order (issue 14), then each order's picture."""
    parts = []
    statuses = []
    for notifier, _, final in items:
        text, status = await notifier.summary_text(final=final)
        parts.append(text)
        statuses.append(status)
    first = items[0][0]
    joint = "+".join(f"{n.campaign.id}@{slot}" for n, slot, _ in items)
    text = texts.summaries_of_orders(parts)
    await first.outbox.add(
        [
            Outgoing(key=f"{joint}:chat:{chat}", to=(first.outbox.address(chat),), text=text)
            for chat in await first.audience.chats.admin_chats()
        ]
    )
    log.info("summaries written together: %s", joint)
    jobs: list[FileJob] = []
    for (notifier, slot, _), status in zip(items, statuses, strict=True):
        jobs += await notifier.pictures(slot, status)
    return jobs
