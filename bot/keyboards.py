"""Buttons as the product sees them; adapters turn them into VK (or MAX) keyboards.

Payloads are small JSON objects (VK allows 255 characters); every one is validated with
`bot.payloads` before use, because a payload is client input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import Campaign, Role, School, StepKind, StepState
from bot.payloads import (
    AcknowledgePayload,
    AnswerPayload,
    KeptAnswerPayload,
    KeptOrderPayload,
    MyAnswerPayload,
    MyCardPayload,
    MyStepPayload,
    OpenCardPayload,
    OpenStepPayload,
    Payload,
    RolePayload,
)
from bot.texts import (
    BUTTON_ACKNOWLEDGE,
    BUTTON_BACK,
    BUTTON_MY_ITEMS,
    BUTTON_REPORT,
    BUTTON_ROLE,
    STATE_BUTTON,
    order_button,
    step_button_label,
)

# VK: an inline keyboard holds at most 10 buttons (6 rows), a label 40 characters.
MAX_INLINE_BUTTONS = 10
MAX_ROWS = 6
MAX_LABEL = 40


class Color(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class Button:
    label: str
    payload: Payload
    color: Color = Color.SECONDARY


@dataclass(frozen=True)
class Keyboard:
    rows: tuple[tuple[Button, ...], ...]

    def buttons(self) -> list[Button]:
        return [button for row in self.rows for button in row]


_STATE_COLORS = {
    StepState.DONE: Color.POSITIVE,
    StepState.IN_PROGRESS: Color.SECONDARY,
    StepState.PROBLEM: Color.NEGATIVE,
}


def announcement_keyboard(campaign: Campaign) -> Keyboard:
    return Keyboard(
        (
            (Button(BUTTON_REPORT, OpenCardPayload(c=campaign.id), Color.PRIMARY),),
            (Button(BUTTON_ACKNOWLEDGE, AcknowledgePayload(c=campaign.id), Color.POSITIVE),),
        )
    )


def role_keyboard(campaign: Campaign) -> Keyboard:
    return Keyboard(
        (
            tuple(
                Button(BUTTON_ROLE[role], RolePayload(c=campaign.id, r=role), Color.PRIMARY)
                for role in (Role.HEAD, Role.DEPUTY)
            ),
        )
    )


def reminder_keyboard(campaign: Campaign) -> Keyboard:
    """«Отчитаться» opening the card of the person's school (the same for everybody)."""
    return Keyboard(((Button(BUTTON_REPORT, OpenCardPayload(c=campaign.id), Color.PRIMARY),),))


def staff_card_keyboard(campaign: Campaign) -> Keyboard:
    """A staff member's own items: one button each, opening its answers."""
    return _column(
        [
            Button(step_button_label(step), MyStepPayload(c=campaign.id, s=step.id), Color.PRIMARY)
            for step in campaign.staff_steps[:MAX_INLINE_BUTTONS]
        ]
    )


def staff_step_keyboard(campaign: Campaign, step_id: str) -> Keyboard:
    answers = tuple(
        Button(
            STATE_BUTTON[state],
            MyAnswerPayload(c=campaign.id, s=step_id, st=state),
            _STATE_COLORS[state],
        )
        for state in (StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM)
    )
    return Keyboard((answers, (Button(BUTTON_BACK, MyCardPayload(c=campaign.id)),)))


def own_reminder_keyboard(campaign: Campaign) -> Keyboard:
    """«Отчитаться» in a staff member's reminder: their own items of the order."""
    return Keyboard(((Button(BUTTON_REPORT, MyCardPayload(c=campaign.id), Color.PRIMARY),),))


def reminders_keyboard(campaigns: Sequence[Campaign], *, own: Sequence[Campaign] = ()) -> Keyboard:
    """A reminder of several orders: «Отчитаться» for each, opening its card (the school's, or
    the staff member's own items)."""
    buttons = [
        Button(f"{BUTTON_REPORT}: № {c.number}"[:MAX_LABEL], OpenCardPayload(c=c.id))
        for c in campaigns
    ] + [
        Button(f"{BUTTON_MY_ITEMS}: № {c.number}"[:MAX_LABEL], MyCardPayload(c=c.id)) for c in own
    ]
    return _column(buttons[:MAX_INLINE_BUTTONS])


def order_choice_keyboard(campaigns: Sequence[Campaign]) -> Keyboard:
    """Which order a kept typed answer is for (its step is in each of these)."""
    return _column(
        [
            Button(order_button(c), KeptOrderPayload(c=c.id), Color.PRIMARY)
            for c in campaigns[:MAX_INLINE_BUTTONS]
        ]
    )


def orders_card_keyboard(
    items: Sequence[tuple[Campaign, School]], *, name_school: bool
) -> Keyboard:
    """The card of several open orders: one button per order (and school) opening its card."""
    return _column(
        [
            Button(
                order_button(c, school if name_school else None),
                OpenCardPayload(c=c.id, sc=school.id),
                Color.PRIMARY,
            )
            for c, school in items[:MAX_INLINE_BUTTONS]
        ]
    )


def _column(buttons: list[Button]) -> Keyboard:
    per_row = 1 if len(buttons) <= MAX_ROWS else 2
    return Keyboard(
        tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
    )


def card_keyboard(campaign: Campaign, school_id: str) -> Keyboard:
    """One button per step (two per row) that opens the step's answers."""
    buttons = [
        Button(
            step_button_label(step),
            OpenStepPayload(c=campaign.id, sc=school_id, s=step.id),
            Color.PRIMARY,
        )
        for step in campaign.steps[:MAX_INLINE_BUTTONS]
    ]
    per_row = 1 if len(buttons) <= MAX_ROWS else 2
    rows = tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
    return Keyboard(rows)


def step_keyboard(campaign: Campaign, school_id: str, step_id: str) -> Keyboard:
    """The three answers of a step (a count step takes numbers as text, so only «Проблема»)."""
    step = campaign.step(step_id)
    states = (
        [StepState.PROBLEM]
        if step is not None and step.kind is StepKind.COUNT
        else [StepState.DONE, StepState.IN_PROGRESS, StepState.PROBLEM]
    )
    answers = tuple(
        Button(
            STATE_BUTTON[state],
            AnswerPayload(c=campaign.id, sc=school_id, s=step_id, st=state),
            _STATE_COLORS[state],
        )
        for state in states
    )
    back = Button(BUTTON_BACK, OpenCardPayload(c=campaign.id, sc=school_id))
    return Keyboard((answers, (back,)))


def school_choice_keyboard(campaign: Campaign, schools: list[tuple[str, str]]) -> Keyboard:
    """When a person answers for several schools: which card to open."""
    return Keyboard(
        tuple(
            (Button(name[:MAX_LABEL], OpenCardPayload(c=campaign.id, sc=school_id)),)
            for school_id, name in schools[:MAX_ROWS]
        )
    )


def kept_answer_keyboard(campaign: Campaign, schools: list[tuple[str, str]]) -> Keyboard:
    """Which school a typed answer is for, when its writer answers for several."""
    return Keyboard(
        tuple(
            (Button(name[:MAX_LABEL], KeptAnswerPayload(c=campaign.id, sc=school_id)),)
            for school_id, name in schools[:MAX_ROWS]
        )
    )
