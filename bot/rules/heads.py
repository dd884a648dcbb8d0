"""Heads and deputies: the school's card, answers by button and by text, problem notices.

The head's conversation is a small table of states:

    (nothing awaited) --«Проблема»-----------> awaiting reason  --text--> reason recorded
    (nothing awaited) --count step opened----> awaiting counts  --text--> numbers recorded
    awaiting anything --a command or answer--> (nothing awaited)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot import texts
from bot.actions import Action, Incoming, Private, Reply, SendTo, Snackbar
from bot.domain import AnswerSource, School, Step, StepKind, StepState
from bot.keyboards import Keyboard, card_keyboard, school_choice_keyboard, step_keyboard
from bot.parsing import (
    MAX_REASON_LENGTH,
    AnswerProblem,
    ParsedAnswer,
    clean,
    parse_answer,
    parse_counts,
)
from bot.payloads import (
    AcknowledgePayload,
    AnswerPayload,
    OpenCardPayload,
    OpenStepPayload,
    Payload,
    RolePayload,
)
from bot.rules.base import Rules, school_of
from storage.repositories import Membership, PendingInput

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    actions: list[Action] = field(default_factory=list)

    def add(self, *actions: Action) -> list[Action]:
        self.actions.extend(actions)
        return self.actions


class HeadRules(Rules):
    async def on_payload(self, msg: Incoming, payload: Payload) -> list[Action]:
        """A button of a school's card (the order's own and onboarding's are the router's)."""
        memberships = await self.service.memberships(msg.user_id)
        if not memberships:
            return [self._notice(msg, self._not_a_head(msg))]
        if isinstance(payload, OpenCardPayload):
            return await self.show_card(msg, memberships, payload.sc or None)
        if isinstance(payload, (RolePayload, AcknowledgePayload)):  # the router's
            return [self._notice(msg, texts.BAD_BUTTON)]
        school = school_of(memberships, payload.sc)
        step = self.campaign.step(payload.s)
        if school is None:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        if step is None:
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, OpenStepPayload):
            if step.kind is StepKind.COUNT:
                await self._expect(msg, school, step, "counts")
            keyboard = step_keyboard(self.campaign, school.id, step.id)
            return self._show(msg, texts.step_prompt(self.campaign, school, step), keyboard)
        if not isinstance(payload, AnswerPayload):
            return [self._notice(msg, texts.BAD_BUTTON)]
        if step.kind is StepKind.COUNT and payload.st is not StepState.PROBLEM:
            return [self._notice(msg, texts.BAD_BUTTON)]
        recorded = await self.service.record(
            by=msg.user_id,
            school=school,
            step_id=step.id,
            state=payload.st,
            source=AnswerSource.BUTTON,
            origin=msg.origin,
            written_at=msg.sent_at,
        )
        out = _Outcome()
        if msg.is_callback:
            out.add(
                Snackbar(
                    texts.SNACK_SAVED.format(step=step.id, state=texts.STATE_NAME[payload.st])
                )
            )
        card_text = texts.card(recorded.status, self.service.now())
        if recorded.answer.late:
            card_text += "\n" + texts.LATE_NOTE
        out.add(*self._show(msg, card_text, self.card_keyboard(recorded.status.finished, school)))
        if payload.st is StepState.PROBLEM:
            await self._expect(msg, school, step, "reason")
            out.add(Reply(texts.ASK_REASON.format(step=step.id)))
            out.add(*await self._problem_notices(school, step, "", memberships, msg.user_id))
        elif recorded.status.finished:
            out.add(Reply(texts.ALL_DONE.format(school=school.name, number=self.campaign.number)))
        return out.actions

    async def _expect(self, msg: Incoming, school: School, step: Step, kind: str) -> None:
        """Remember that this person's next text here is a step's numbers or a reason."""
        await self.service.repos.conversations.expect_input(
            msg.user_id,
            msg.peer_id,
            PendingInput(
                campaign_id=self.campaign.id,
                school_id=school.id,
                step_id=step.id,
                kind=kind,
                created_at=self.service.now(),
            ),
        )

    async def acknowledge(self, msg: Incoming) -> list[Action]:
        memberships = await self.service.memberships(msg.user_id)
        if not memberships and not self.is_staff(msg.user_id):
            return [self._notice(msg, self._not_a_head(msg))]
        fresh = await self.service.acknowledge(msg.user_id)
        if fresh:
            log.info("acknowledged: user=%s", msg.user_id)
        text = texts.ACK_THANKS.format(number=self.campaign.number) if fresh else texts.ACK_ALREADY
        return [self._notice(msg, text)]

    async def show_card(
        self, msg: Incoming, memberships: list[Membership], school_id: str | None
    ) -> list[Action]:
        if school_id is None and len(memberships) > 1:
            choice = school_choice_keyboard(
                self.campaign, [(m.school.id, m.school.name) for m in memberships]
            )
            return self.deliver_card(msg, texts.CHOOSE_SCHOOL, choice)
        school = memberships[0].school if school_id is None else school_of(memberships, school_id)
        if school is None:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        status = await self.service.school_status(school)
        return self.deliver_card(
            msg,
            texts.card(status, self.service.now()),
            self.card_keyboard(status.finished, school),
        )

    def deliver_card(self, msg: Incoming, text: str, keyboard: Keyboard | None) -> list[Action]:
        """In private the card replaces the pressed message; from a chat it goes privately."""
        if not msg.in_chat:
            return self._show(msg, text, keyboard)
        actions: list[Action] = [
            Private(msg.user_id, text, keyboard, fallback_peer=msg.peer_id),
        ]
        if msg.is_callback:
            actions.append(Snackbar(texts.CARD_SENT_PRIVATELY))
        return actions

    def card_keyboard(self, finished: bool, school: School) -> Keyboard | None:
        return None if finished else card_keyboard(self.campaign, school.id)

    async def typed_answer(self, msg: Incoming, memberships: list[Membership]) -> list[Action]:
        parsed = parse_answer(msg.text, self.campaign)
        if isinstance(parsed, AnswerProblem):
            return [Reply(texts.answer_error(parsed, self.campaign))]
        if len(memberships) > 1:
            return await self.show_card(msg, memberships, None)
        step = self.campaign.step(parsed.step_id)
        if step is None:  # parse_answer only returns the campaign's steps
            return [Reply(texts.BAD_BUTTON)]
        return await self._store_typed(msg, memberships, memberships[0].school, step, parsed)

    async def awaited_input(
        self, msg: Incoming, memberships: list[Membership], pending: PendingInput
    ) -> list[Action]:
        conversations = self.service.repos.conversations
        school = school_of(memberships, pending.school_id)
        step = self.campaign.step(pending.step_id)
        if school is None or step is None or pending.campaign_id != self.campaign.id:
            await conversations.clear_input(msg.user_id, msg.peer_id)
            return [Reply(texts.BAD_BUTTON)]
        text = clean(msg.text)
        if pending.kind == "reason":
            answer = ParsedAnswer(step.id, StepState.PROBLEM, reason=text[:MAX_REASON_LENGTH])
        else:
            parsed = parse_counts(text, step)
            if isinstance(parsed, AnswerProblem):
                return [Reply(texts.answer_error(parsed, self.campaign))]
            answer = parsed
        await conversations.clear_input(msg.user_id, msg.peer_id)
        return await self._store_typed(msg, memberships, school, step, answer)

    async def _store_typed(
        self,
        msg: Incoming,
        memberships: list[Membership],
        school: School,
        step: Step,
        answer: ParsedAnswer,
    ) -> list[Action]:
        """Record a typed answer; reply with what is left, and pass a problem on to staff."""
        recorded = await self.service.record(
            by=msg.user_id,
            school=school,
            step_id=step.id,
            state=answer.state,
            counts=answer.counts,
            reason=answer.reason,
            source=AnswerSource.TEXT,
            origin=msg.origin,
            written_at=msg.sent_at,
        )
        receipt = texts.receipt(recorded.status, step, recorded.answer, self.service.now())
        actions: list[Action] = [
            Reply(receipt, self.card_keyboard(recorded.status.finished, school))
        ]
        if answer.state is StepState.PROBLEM:
            actions += await self._problem_notices(
                school, step, answer.reason, memberships, msg.user_id
            )
        return actions

    async def _problem_notices(
        self,
        school: School,
        step: Step,
        reason: str,
        memberships: list[Membership],
        user_id: int,
    ) -> list[Action]:
        """A «Проблема» goes to the admin chats at once."""
        who = next((m.full_name for m in memberships if m.school.id == school.id), f"id{user_id}")
        text = texts.problem_notice(school, step, reason, texts.mention(user_id, who))
        return [SendTo(chat, text) for chat in await self.settings.chats.admin_chats()]
