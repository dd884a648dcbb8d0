"""The administration's own staff confirm their items of an order (issue 14), each for
themselves, in private, with the same buttons and words heads use: item 2 of order No. 47
(«Сотрудникам Управления образования») beside the schools' item 3."""

from __future__ import annotations

import logging

from bot import texts
from bot.actions import Action, Incoming, Reply
from bot.domain import AnswerSource, Campaign, StepState
from bot.keyboards import staff_card_keyboard, staff_step_keyboard
from bot.parsing import MAX_REASON_LENGTH, AnswerError, read
from bot.payloads import MyAnswerPayload, MyCardPayload, MyStepPayload
from bot.rules.base import Rules

log = logging.getLogger(__name__)

StaffPayload = MyCardPayload | MyStepPayload | MyAnswerPayload


class StaffStepRules(Rules):
    @property
    def order(self) -> Campaign:
        return self.service.order

    def owes_here(self, user_id: int) -> bool:
        """The order has items for staff and this person is one of its staff."""
        return bool(self.order.staff_steps) and user_id in self.service.staff

    def reads(self, msg: Incoming) -> bool:
        """The message names one of the staff's items of this order."""
        return read(msg.text, self.order.for_staff()).names_known_steps

    async def on_text(self, msg: Incoming) -> list[Action]:
        """«2.1 выполнено» from a staff member in private: stored as their own answer."""
        staff = self.order.for_staff()
        reading = read(msg.text, staff)
        out: list[Action] = []
        stored = []
        name = await self._name(msg.user_id) if reading.answers else ""
        for answer in reading.answers:
            step = staff.step(answer.step_id)
            if step is None:
                continue
            recorded = await self.service.record_staff(
                by=msg.user_id,
                name=name,
                step_id=step.id,
                state=answer.state,
                reason=answer.reason[:MAX_REASON_LENGTH],
                source=AnswerSource.TEXT,
            )
            stored.append((step, recorded))
        if stored:
            late = any(a.late for _, a in stored)
            receipt = texts.staff_receipt(self.order, [(s, a.state) for s, a in stored], late)
            out.append(Reply(receipt))
        for problem in reading.problems:
            if problem.error is not AnswerError.UNKNOWN_STEP:
                out.append(Reply(texts.answer_error(problem, staff)))
        for step_id in reading.questions:
            step = staff.step(step_id)
            if step is not None:
                out.append(
                    Reply(texts.about_step(staff, step), staff_step_keyboard(staff, step.id))
                )
        if stored:
            out += await self.card(msg)
        return out

    async def card(self, msg: Incoming) -> list[Action]:
        states = await self._states(msg.user_id)
        text = texts.staff_card(self.order, states, self.service.now())
        return self._show(msg, text, staff_card_keyboard(self.order))

    async def on_payload(self, msg: Incoming, payload: StaffPayload) -> list[Action]:
        if not self.owes_here(msg.user_id):
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, MyCardPayload):
            return await self.card(msg)
        step = self.order.step(payload.s)
        if step is None or step.audience != "staff":
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, MyStepPayload):
            prompt = texts.staff_step_prompt(self.order, step)
            return self._show(msg, prompt, staff_step_keyboard(self.order, step.id))
        name = await self._name(msg.user_id)
        await self.service.record_staff(
            by=msg.user_id,
            name=name,
            step_id=step.id,
            state=payload.st,
            reason="",
            source=AnswerSource.BUTTON,
        )
        return await self.card(msg)

    async def _name(self, person_id: int) -> str:
        """How `статус` names the staff member: kept from their first answer, asked of the
        messenger once. A name is not worth an answer: if the messenger cannot say, the
        answer is stored without one (shown as id…)."""
        known = await self.service.repos.staff_answers.name_of(person_id)
        if known:
            return known
        try:
            return await self.messenger.user_name(person_id) or ""
        except Exception:
            log.warning("staff member %s: name not available now", person_id)
            return ""

    async def _states(self, person_id: int) -> dict[str, StepState]:
        current = await self.service.repos.staff_answers.current(self.order.id)
        return {step_id: a.state for step_id, a in current.get(person_id, {}).items()}
