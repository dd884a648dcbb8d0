"""Heads and deputies: the school's card, answers by button and by text, problem notices.

Every message of a known person gets an answer: what was recorded, what was not understood
with an example, a step's text for a question, or the card. The conversation holds at most
one prompt per person and conversation, a small table of states:

    (nothing awaited) --«Проблема» without a reason--> awaiting reason --text--> recorded;
                                                       staff told, with the reason
    (nothing awaited) --a count step opened, or «3.2 выполнено»--> awaiting counts --numbers-->
                                                       recorded
    (nothing awaited) --an answer typed by a person of several schools--> awaiting school
                                                       --the school's button--> recorded
    awaiting anything --any button, command or answer--> (nothing awaited); a reason never
                                                       given: staff told without it, once
    awaiting reason or counts --expired (an hour)--> (nothing awaited); the scheduler tells
                                                       staff of a reason never given
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot import texts
from bot.actions import Action, Edit, Incoming, Private, Reply, SendTo, Snackbar
from bot.domain import Answer, AnswerSource, School, Step, StepKind, StepState
from bot.keyboards import (
    Keyboard,
    card_keyboard,
    kept_answer_keyboard,
    school_choice_keyboard,
    step_keyboard,
)
from bot.parsing import (
    MAX_INPUT_LENGTH,
    MAX_REASON_LENGTH,
    AnswerError,
    AnswerProblem,
    ParsedAnswer,
    Reading,
    clean,
    drop_leading_step,
    looks_like_answer,
    parse_counts,
    read,
)
from bot.payloads import (
    AnswerPayload,
    KeptAnswerPayload,
    OpenCardPayload,
    OpenStepPayload,
    Payload,
)
from bot.rules.base import Rules, as_message, school_of
from storage.repositories import Membership, PendingInput, Speaker

log = logging.getLogger(__name__)

REASON = "reason"
COUNTS = "counts"
SCHOOL = "school"


@dataclass
class _Outcome:
    actions: list[Action] = field(default_factory=list)

    def add(self, *actions: Action) -> list[Action]:
        self.actions.extend(actions)
        return self.actions


class HeadRules(Rules):
    # --- buttons -------------------------------------------------------------------------

    async def on_payload(self, msg: Incoming, payload: Payload) -> list[Action]:
        """A button of a school's card (the order's own and onboarding's are the router's)."""
        speaker = await self.service.speaker(msg.user_id, msg.peer_id)
        memberships = speaker.memberships
        if not memberships:
            return [self._notice(msg, await self._not_a_head(msg))]
        if isinstance(payload, KeptAnswerPayload):
            return await self.kept_answer(msg, speaker, payload.sc)
        out = _Outcome()
        # Any other button ends a prompt; an answer to the prompt's own step replaces it.
        answering = (payload.sc, payload.s) if isinstance(payload, AnswerPayload) else None
        out.add(*await self.cancel_prompt(msg, speaker, answering))
        if isinstance(payload, OpenCardPayload):
            # This order's card (a button of its announcement, reminder or of the orders' list).
            return out.add(
                *await self.show_card(msg, memberships, payload.sc or None, overview=False)
            )
        if not isinstance(payload, (OpenStepPayload, AnswerPayload)):  # the router's
            return out.add(self._notice(msg, texts.BAD_BUTTON))
        school = school_of(memberships, payload.sc)
        step = self.campaign.step(payload.s)
        if school is None:
            return out.add(self._notice(msg, texts.NOT_YOUR_SCHOOL))
        if step is None:
            return out.add(self._notice(msg, texts.BAD_BUTTON))
        if step.id in await self._not_required(school):
            return out.add(self._notice(msg, texts.not_required_for_school(step.id)))
        if isinstance(payload, OpenStepPayload):
            if step.kind is StepKind.COUNT:
                await self._expect(msg, school, step, COUNTS)
            keyboard = step_keyboard(self.campaign, school.id, step.id)
            return out.add(
                *self._show(msg, texts.step_prompt(self.campaign, school, step), keyboard)
            )
        if step.kind is StepKind.COUNT and payload.st is not StepState.PROBLEM:
            return out.add(self._notice(msg, texts.BAD_BUTTON))
        recorded = await self.service.record(
            by=msg.user_id,
            school=school,
            step_id=step.id,
            state=payload.st,
            source=AnswerSource.BUTTON,
            origin=msg.origin,
            written_at=msg.sent_at,
        )
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
            # Staff hear of it once: with the reason, or without it when the prompt ends.
            await self._expect(msg, school, step, REASON)
            out.add(Reply(texts.ASK_REASON.format(step=step.id)))
        elif recorded.status.finished:
            out.add(Reply(texts.ALL_DONE.format(school=school.name, number=self.campaign.number)))
        return out.actions

    async def kept_answer(self, msg: Incoming, speaker: Speaker, school_id: str) -> list[Action]:
        """The school for a typed answer kept until its writer chose one."""
        memberships, pending = speaker.memberships, speaker.pending
        school = school_of(memberships, school_id)
        if school is None:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        if pending is None or pending.kind != SCHOOL or pending.campaign_id != self.campaign.id:
            # Nothing kept any more (chosen already, or replaced): the school's card; like any
            # other button, it ends a prompt waiting here.
            ended = await self.cancel_prompt(msg, speaker, None)
            return ended + await self.show_card(msg, memberships, school.id, overview=False)
        await self.service.repos.conversations.clear_input(msg.user_id, msg.peer_id)
        out = _Outcome()
        out.add(Edit(texts.answer_for_school(pending.text, school)))
        reading = read(pending.text, self.campaign)
        return out.add(*await self.answer(as_message(msg), memberships, school, reading))

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

    # --- prompts -------------------------------------------------------------------------

    def prompt_expired(self, pending: PendingInput) -> bool:
        return pending.created_at + self.settings.prompt_expires_after <= self.service.now()

    async def cancel_prompt(
        self, msg: Incoming, speaker: Speaker, answering: tuple[str, str] | None
    ) -> list[Action]:
        """End the prompt waiting here. A reason never given: staff hear of the problem now,
        unless the new answer is for the same step (it replaces the problem)."""
        pending = speaker.pending
        if pending is None:
            return []
        await self.service.repos.conversations.clear_input(msg.user_id, msg.peer_id)
        if pending.kind != REASON or answering == (pending.school_id, pending.step_id):
            return []
        return await self.unanswered(speaker.memberships, pending, msg.user_id)

    async def end_prompt(self, msg: Incoming) -> list[Action]:
        """A command ends the prompt waiting here (a statement only when there is one)."""
        pending = await self.service.repos.conversations.take_input(msg.user_id, msg.peer_id)
        if pending is None or pending.kind != REASON:
            return []
        memberships = await self.service.memberships(msg.user_id)
        return await self.unanswered(memberships, pending, msg.user_id)

    async def unanswered(
        self, memberships: list[Membership], pending: PendingInput, user_id: int
    ) -> list[Action]:
        school = school_of(memberships, pending.school_id)
        step = self.campaign.step(pending.step_id)
        # A prompt of another order is ended by that order's rules (the router sees to it).
        if school is None or step is None or pending.campaign_id != self.campaign.id:
            return []
        return await self._problem_notices(
            school, step, texts.NO_REASON_AFTER_ASKING, memberships, user_id
        )

    # --- text ----------------------------------------------------------------------------

    async def on_text(self, msg: Incoming, speaker: Speaker) -> list[Action]:
        """A message (not a command, not a button) from a person of the roster."""
        memberships, pending = speaker.memberships, speaker.pending
        text = clean(msg.text)
        if msg.in_chat and not msg.addressed:
            # Where the bot reads every chat message, only an answer that starts with its
            # step is taken there; talk and prompts wait for a message addressed to the bot.
            if not looks_like_answer(text, self.campaign):
                return []
            reading = read(msg.text, self.campaign)
            if not reading.answers:
                return []
            return await self._typed(msg, speaker, reading, msg.text)
        if not text:
            intro: list[Action] = []
            if msg.attachments:
                intro.append(Reply(texts.attachments_only(self.campaign)))
            return intro + await self.show_card(msg, memberships, None)
        # Read from the message itself: its line breaks separate what it says of each step.
        reading = read(msg.text, self.campaign)
        live = pending is not None and not self.prompt_expired(pending)
        if pending is not None and live and _answers_prompt(reading, pending):
            return await self.awaited_input(msg, speaker, pending, text)
        if reading.names_steps:
            return await self._typed(msg, speaker, reading, msg.text)
        out = _Outcome()
        if pending is not None and pending.kind != SCHOOL:
            if live:
                return await self.awaited_input(msg, speaker, pending, text)
            # Expired: the message is read afresh; a reason never given goes to staff now.
            out.add(*await self.cancel_prompt(msg, speaker, None))
        if reading.state_alone is not None:
            return out.add(*await self._which_step(msg, memberships, reading))
        if reading.asks:
            out.add(Reply(texts.question_without_step(self.campaign)))
        elif msg.in_chat:
            names = [m.school.name for m in memberships]
            return out.add(Reply(texts.head_help(names, self.campaign)))
        return out.add(*await self.show_card(msg, memberships, None))

    async def _typed(
        self, msg: Incoming, speaker: Speaker, reading: Reading, text: str
    ) -> list[Action]:
        """A message that names steps: store, explain, or ask for what is missing."""
        memberships, pending = speaker.memberships, speaker.pending
        out = _Outcome()
        if reading.answers or reading.problems:
            touched = {a.step_id for a in reading.answers} | {p.step_id for p in reading.problems}
            answering = None
            if pending is not None and pending.step_id in touched:
                answering = (pending.school_id, pending.step_id)
            out.add(*await self.cancel_prompt(msg, speaker, answering))
        if len(memberships) > 1 and reading.needs_school:
            # Which school? The answer waits in storage until a button says.
            await self.service.repos.conversations.expect_input(
                msg.user_id,
                msg.peer_id,
                PendingInput(
                    campaign_id=self.campaign.id,
                    school_id="",
                    step_id="",
                    kind=SCHOOL,
                    created_at=self.service.now(),
                    text=text.strip()[:MAX_INPUT_LENGTH],
                ),
            )
            schools = [(m.school.id, m.school.name) for m in memberships]
            return out.add(
                Reply(
                    texts.choose_school_for_answer(text),
                    kept_answer_keyboard(self.campaign, schools),
                )
            )
        school = memberships[0].school if len(memberships) == 1 else None
        return out.add(*await self.answer(msg, memberships, school, reading))

    async def answer(
        self,
        msg: Incoming,
        memberships: list[Membership],
        school: School | None,
        reading: Reading,
    ) -> list[Action]:
        """Store what the reading says for `school` and say what was stored, what was not
        understood and what was asked; without a school, only what needs none."""
        out = _Outcome()
        prompt_taken = False
        if school is not None and reading.answers:
            # Staff marked these «не требуется» for the school: its answers do not undo that.
            exempt = await self._not_required(school)
            out.add(
                *(
                    Reply(texts.not_required_for_school(a.step_id))
                    for a in reading.answers
                    if a.step_id in exempt
                )
            )
            reading = replace(
                reading, answers=tuple(a for a in reading.answers if a.step_id not in exempt)
            )
        if school is not None and reading.answers:
            stored, status = await self.service.record_all(
                by=msg.user_id,
                school=school,
                answers=reading.answers,
                source=AnswerSource.TEXT,
                origin=msg.origin,
                written_at=msg.sent_at,
            )
            pairs = [(self._step(a.step_id), a) for a in stored]
            now = self.service.now()
            if len(pairs) == 1:
                receipt = texts.receipt(status, pairs[0][0], pairs[0][1], now)
            else:
                receipt = texts.received_many(status, pairs, now)
            out.add(Reply(receipt, self.card_keyboard(status.finished, school)))
            prompt_taken = await self._after_problems(msg, memberships, school, pairs, out)
        for problem in reading.problems:
            step = self.campaign.step(problem.step_id)
            if step is None:
                keyboard = None if school is None else card_keyboard(self.campaign, school.id)
                out.add(Reply(texts.answer_error(problem, self.campaign), keyboard))
                continue
            answers_here = (
                None if school is None else step_keyboard(self.campaign, school.id, step.id)
            )
            if problem.error is AnswerError.COUNT_FORMAT and school is not None:
                if not prompt_taken:
                    await self._expect(msg, school, step, COUNTS)
                    prompt_taken = True
                    prompt = texts.step_prompt(self.campaign, school, step)
                    out.add(Reply(prompt, answers_here))
                else:
                    out.add(Reply(texts.answer_error(problem, self.campaign), answers_here))
            elif problem.error is AnswerError.NOT_DONE:
                out.add(Reply(texts.not_done(step), answers_here))
            elif problem.error is AnswerError.NO_STATE:
                out.add(Reply(texts.no_state_for_step(step.id, problem.said), answers_here))
            else:
                out.add(Reply(texts.answer_error(problem, self.campaign), answers_here))
        for step_id in reading.questions:
            step = self._step(step_id)
            keyboard = None
            if school is not None and len(reading.questions) == 1:
                keyboard = step_keyboard(self.campaign, school.id, step.id)
            out.add(Reply(texts.about_step(self.campaign, step), keyboard))
        return out.actions

    async def _after_problems(
        self,
        msg: Incoming,
        memberships: list[Membership],
        school: School,
        pairs: Sequence[tuple[Step, Answer]],
        out: _Outcome,
    ) -> bool:
        """A problem with its reason goes to staff now; the first without one is asked about
        (staff hear of it once the reason comes or the prompt ends). True if it asked."""
        asked = False
        for step, answer in pairs:
            if answer.state is not StepState.PROBLEM:
                continue
            if answer.reason:
                out.add(
                    *await self._problem_notices(
                        school, step, answer.reason, memberships, msg.user_id
                    )
                )
            elif not asked:
                await self._expect(msg, school, step, REASON)
                out.add(Reply(texts.ASK_REASON.format(step=step.id)))
                asked = True
            else:
                out.add(
                    *await self._problem_notices(
                        school, step, texts.NO_REASON, memberships, msg.user_id
                    )
                )
        return asked

    async def _which_step(
        self, msg: Incoming, memberships: list[Membership], reading: Reading
    ) -> list[Action]:
        """«Выполнено» with no step: an example with their own word, and the card."""
        said = reading.said or texts.STATE_NAME[reading.state_alone or StepState.DONE]
        example = self.campaign.steps[0]
        if len(memberships) == 1:
            status = await self.service.school_status(memberships[0].school)
            owed = status.owed()
            example = owed[0] if owed else example
        hint = Reply(texts.state_without_step(said, example))
        return [hint, *await self.show_card(msg, memberships, None)]

    async def awaited_input(
        self, msg: Incoming, speaker: Speaker, pending: PendingInput, text: str
    ) -> list[Action]:
        """The reason or the numbers the bot asked for."""
        memberships = speaker.memberships
        conversations = self.service.repos.conversations
        school = school_of(memberships, pending.school_id)
        step = self.campaign.step(pending.step_id)
        if school is None or step is None or pending.campaign_id != self.campaign.id:
            await conversations.clear_input(msg.user_id, msg.peer_id)
            return await self.show_card(msg, memberships, None)
        if pending.kind == REASON:
            reason = drop_leading_step(text, self.campaign) or text
            answer = ParsedAnswer(step.id, StepState.PROBLEM, reason=reason[:MAX_REASON_LENGTH])
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
            reason = answer.reason or texts.NO_REASON
            actions += await self._problem_notices(school, step, reason, memberships, msg.user_id)
        return actions

    async def _not_required(self, school: School) -> set[str]:
        """The school's steps staff marked «не требуется» (issue 17)."""
        current = await self.service.repos.answers.current_for_school(self.campaign.id, school.id)
        return {sid for sid, a in current.items() if a.state is StepState.NOT_REQUIRED}

    def _step(self, step_id: str) -> Step:
        step = self.campaign.step(step_id)
        if step is None:  # the reading only names the campaign's steps
            raise ValueError(f"unknown step {step_id}")
        return step

    # --- the card ------------------------------------------------------------------------

    async def acknowledge(self, msg: Incoming) -> list[Action]:
        memberships = await self.service.memberships(msg.user_id)
        if not memberships and not self.is_staff(msg.user_id):
            return [self._notice(msg, await self._not_a_head(msg))]
        fresh = await self.service.acknowledge(msg.user_id)
        if fresh:
            log.info("acknowledged: user=%s", msg.user_id)
        text = texts.ACK_THANKS.format(number=self.campaign.number) if fresh else texts.ACK_ALREADY
        return [self._notice(msg, text)]

    async def show_card(
        self,
        msg: Incoming,
        memberships: list[Membership],
        school_id: str | None,
        *,
        overview: bool = True,
    ) -> list[Action]:
        """The school's card of this order; with `overview` and several open orders, the list
        of the orders with what each still needs, a button for each order's card."""
        if overview and self.ctx.orders_card is not None:
            several = await self.ctx.orders_card(msg, memberships, school_id)
            if several is not None:
                return several
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

    async def _problem_notices(
        self,
        school: School,
        step: Step,
        reason: str,
        memberships: list[Membership],
        user_id: int,
    ) -> list[Action]:
        """A «Проблема» to the admin chats, once: `reason` is what the head wrote, or says
        why there is none."""
        who = next((m.full_name for m in memberships if m.school.id == school.id), f"id{user_id}")
        text = texts.problem_notice(school, step, reason, texts.mention(user_id, who))
        return [SendTo(chat, text) for chat in await self.settings.chats.admin_chats()]


def _answers_prompt(reading: Reading, pending: PendingInput) -> bool:
    """«3.4 нет интернета» while the reason for 3.4 is awaited is that reason, not an answer."""
    if pending.kind != REASON or reading.answers or reading.questions or not reading.problems:
        return False
    return all(
        p.step_id == pending.step_id and p.error in (AnswerError.NO_STATE, AnswerError.NOT_DONE)
        for p in reading.problems
    )
